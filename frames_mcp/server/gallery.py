"""The gallery view: an MCP App (`io.modelcontextprotocol/ui`) that shows a Frames result in the chat.

Hosts that render MCP Apps (Claude, ChatGPT, VS Code, Goose) show `ui://frames/gallery.html` beside the
results of generate_frames and get_task: the set of images in a grid, the prompt and options, the state of a
running or failed task, and actions (open, download, copy the assetId, ask for variations or another style).
The view is one self-contained HTML file (`frames_mcp/ui/gallery.html`) that speaks the postMessage protocol
of MCP Apps 2026-01-26 itself, with no SDK.

The extension is purely additive. Tool results are the same for every client; a client that did not
negotiate the extension also never sees the app-only refresh tool in tools/list.

CSP: the view loads nothing but images, so `_meta.ui.csp.resourceDomains` lists exactly the origins the
artifact URLs use: Runway's CDN by default, plus `FRAMES_MCP_IMAGE_ORIGINS`, plus any new origin seen in a
result (logged once, so an operator can pin it); in demo mode the simulator's origin instead of the CDN.
"""

# No `from __future__ import annotations` here: the SDK reads the annotations of every tool at each start,
# and as strings they would be evaluated there again, twice per tool (startup, BENCHMARKS.md).
import functools
import importlib.resources
import ipaddress
import json
import logging
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from mcp.server.apps import APP_MIME_TYPE, Apps, ResourceCsp, ResourcePermissions, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import Resource
from mcp.types import CallToolRequestParams, CallToolResult

from frames_mcp import __version__
from frames_mcp.config import Settings
from frames_mcp.server import declare
from frames_mcp.server.progress import ignore
from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.server.state import AppState, require_token, state_of
from frames_mcp.useapi.errors import FramesError
from frames_mcp.useapi.ids import TaskId
from frames_mcp.useapi.models import STYLES

log = logging.getLogger(__name__)

GALLERY_URI = "ui://frames/gallery.html"
_UNSAFE = re.compile(r"[\s\x00-\x1f]")  # whitespace (str.isspace's set) or a control character
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
REFRESH_TOOL = "refresh_image_links"
# The host of the signed artifact URLs useapi returns for Runway tasks (see the useapi reference).
DEFAULT_IMAGE_ORIGINS = ("https://dnznrvs05pmza.cloudfront.net",)
_RENDERED_TOOLS = frozenset({"generate_frames", "get_task", REFRESH_TOOL})
_LEARNED_MAX = 16


def tool_meta() -> dict[str, Any]:
    """`_meta` binding a tool's results to the view; the flat key is the deprecated form older hosts read."""
    return {"ui": {"resourceUri": GALLERY_URI}, "ui/resourceUri": GALLERY_URI}


@functools.cache
def gallery_html() -> str:
    """The view, with its configuration (style presets, tool name, version) filled in from the server's own."""
    html = importlib.resources.files("frames_mcp.server").joinpath("ui/gallery.html").read_text(encoding="utf-8")
    start = html.index("/*CONFIG*/")
    end = html.index("};", start) + 1
    config = {"styles": list(STYLES), "refreshTool": REFRESH_TOOL, "version": __version__}
    return html[:start] + json.dumps(config) + html[end:]


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, validated piece by piece, or None: only such an origin may enter
    the view's CSP (an artifact URL such as `https://img.example;script-src * data:;/a.png` must not)."""
    if not url or _UNSAFE.search(url):
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of 0-65535
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        if not _is_ip(host):
            return None
        host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _GalleryResource(Resource):
    async def read(self) -> str:
        return gallery_html()


class Gallery(Apps):
    """The Apps extension of frames-mcp: the gallery resource, its CSP and the app-only refresh tool."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        # Demo images never come from Runway's CDN: the simulator's origin replaces it (see use_demo_origin).
        defaults = () if settings.demo else DEFAULT_IMAGE_ORIGINS
        self._configured = (*defaults, *settings.image_origins)
        self._demo_origin: str | None = None
        self._learned: list[str] = []
        self._resource = _GalleryResource(
            uri=GALLERY_URI,
            name="gallery",
            title="Frames gallery",
            description="Shows a Frames task: its images in a grid, the prompt and options, and what to do next.",
            mime_type=APP_MIME_TYPE,
        )
        self.add_resource(self._resource)
        self._update_meta()
        self.tool(
            resource_uri=GALLERY_URI,
            visibility=["app"],
            meta={"ui/resourceUri": GALLERY_URI},
            name=REFRESH_TOOL,
            title="Refresh Frames image links",
            description="Re-read a Frames task for freshly signed image links (used by the gallery view when a "
            "link has expired; models use get_task).",
            annotations=declare.READS_UPSTREAM,
        )(refresh_image_links)

    @property
    def image_origins(self) -> list[str]:
        """What `resourceDomains` declares now, in a stable order."""
        demo = [self._demo_origin] if self._demo_origin else []
        return list(dict.fromkeys([*demo, *self._configured, *self._learned]))

    def use_demo_origin(self, base_url: str) -> None:
        """Demo mode: the simulator's origin is known only once the lifespan has started it."""
        self._demo_origin = origin_of(base_url)
        self._update_meta()

    def observe(self, result: CallToolResult) -> None:
        """Declare artifact origins a result uses that nobody configured (https, or http on loopback)."""
        structured = result.structured_content or {}
        for artifact in structured.get("artifacts") or []:
            if not isinstance(artifact, dict):
                continue
            for url in (artifact.get("url"), artifact.get("previewUrl")):
                origin = origin_of(url if isinstance(url, str) else None)
                if origin is None or origin in self.image_origins or len(self._learned) >= _LEARNED_MAX:
                    continue
                from frames_mcp.media.guard import is_loopback  # at the first result, not at the start

                if not (origin.startswith("https://") or is_loopback(urlsplit(origin).hostname or "")):
                    continue
                log.warning(
                    "gallery: images come from %s, which FRAMES_MCP_IMAGE_ORIGINS does not name; declaring it in the "
                    "view's CSP from now on (hosts that cached the view need it configured)",
                    origin,
                )
                self._learned.append(origin)
                self._update_meta()

    def _update_meta(self) -> None:
        csp = ResourceCsp(resource_domains=self.image_origins)
        self._resource.meta = {
            "ui": {
                "csp": csp.model_dump(by_alias=True, exclude_none=True),
                "permissions": ResourcePermissions(clipboard_write={}).model_dump(by_alias=True, exclude_none=True),
                "prefersBorder": True,
            }
        }

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if params.name in _RENDERED_TOOLS and isinstance(result, CallToolResult):
            self.observe(result)
        return result

    async def hide_app_only_tools(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: a client without Apps support gets exactly the tools it had before the extension."""
        result = await call_next(ctx)
        if ctx.method == "tools/list" and isinstance(result, dict) and not client_supports_apps(ctx):
            tools = [t for t in result.get("tools", []) if not (isinstance(t, dict) and t.get("name") == REFRESH_TOOL)]
            return {**result, "tools": tools}
        return result


# Context[AppState], as the other tools say it: each distinct parametrisation is a model pydantic makes at import.
async def refresh_image_links(taskId: TaskId, ctx: Context[AppState]) -> Annotated[CallToolResult, TaskResult]:
    """Re-read a task (GET tasks/{taskId}) and return it with freshly signed image URLs. No wait, no credits."""
    state = state_of(ctx)
    require_token(state)
    try:
        # Through the jobs service, like get_task: a read that sees the task final updates the ledger and frees
        # its admission slot.
        run = await state.jobs.follow(taskId, 0, ignore)
    except FramesError as e:
        raise ToolError(f"{e.describe()} (taskId {taskId})") from None
    from frames_mcp.server.results.render import render_run  # at the first result, not at the start

    return await render_run(run, requested=None, simulated=state.settings.demo, how=None)

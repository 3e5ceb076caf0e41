"""The gallery view (MCP Apps) on the protocol side: tool binding, the ui:// resource, its CSP, the app-only
refresh tool, and results that stay exactly as they were for clients without Apps."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult

from frames_mcp.config import Settings
from frames_mcp.server.app import build_server
from frames_mcp.server.gallery import DEFAULT_IMAGE_ORIGINS, GALLERY_URI, REFRESH_TOOL, Gallery, gallery_html, origin_of
from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Simulator
from frames_mcp.useapi.errors import ConfigurationError
from frames_mcp.useapi.models import STYLES

from .conftest import QUICK_POLLS, settings_for, wire

pytestmark = pytest.mark.anyio

APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


def apps_client(settings: Settings, mode: str = "auto") -> Client:
    """A client that negotiates MCP Apps, as Claude, ChatGPT, VS Code and Goose do (of a server polling on the
    quick schedule: a finished task is seen within 0.1 s, not 1 s)."""
    return Client(build_server(settings, QUICK_POLLS), mode=mode, extensions=[APPS])  # type: ignore[arg-type]


async def read_gallery(c: Client) -> dict[str, Any]:
    read = await c.read_resource(GALLERY_URI)
    assert len(read.contents) == 1  # hosts expect exactly one content item
    return wire(read.contents[0])  # type: ignore[no-any-return]


def csp_domains(content: dict[str, Any]) -> list[str]:
    return content["_meta"]["ui"]["csp"]["resourceDomains"]  # type: ignore[no-any-return]


async def test_generate_frames_and_get_task_point_at_the_view(sim: Simulator, mode: str) -> None:
    async with apps_client(settings_for(sim), mode) as c:
        tools = {t.name: wire(t) for t in (await c.list_tools()).tools}
    for name in ("generate_frames", "get_task"):
        assert tools[name]["_meta"]["ui"] == {"resourceUri": GALLERY_URI}
        assert tools[name]["_meta"]["ui/resourceUri"] == GALLERY_URI  # the deprecated key older hosts read
    assert tools[REFRESH_TOOL]["_meta"]["ui"] == {"resourceUri": GALLERY_URI, "visibility": ["app"]}
    assert tools[REFRESH_TOOL]["annotations"]["readOnlyHint"] is True
    assert "_meta" not in tools["list_styles"]


async def test_the_view_is_an_mcp_app_resource_with_a_narrow_csp(sim: Simulator, mode: str) -> None:
    async with apps_client(settings_for(sim), mode) as c:
        listed = [wire(r) for r in (await c.list_resources()).resources if r.uri == GALLERY_URI]
        content = await read_gallery(c)
    assert len(listed) == 1 and listed[0]["mimeType"] == APP_MIME_TYPE
    assert content["mimeType"] == "text/html;profile=mcp-app"
    ui = content["_meta"]["ui"]
    assert ui["csp"] == {"resourceDomains": list(DEFAULT_IMAGE_ORIGINS)}  # images only: no connect, no frames
    assert ui["prefersBorder"] is True
    assert ui["permissions"] == {"clipboardWrite": {}}
    assert listed[0]["_meta"] == content["_meta"]  # list entry and read content agree
    html = content["text"]
    assert html.startswith("<!doctype html>")
    # Self-contained: nothing loads from the network but the images it is given.
    assert not re.search(r"https?://", html)
    assert not re.search(r"<link\b|<script[^>]+src=|@import|\bimport\s*\(", html)
    assert '"refreshTool": "refresh_image_links"' in html
    assert all(f'"{style}"' in html for style in STYLES)


async def test_configured_origins_are_added_exactly(sim: Simulator) -> None:
    settings = settings_for(sim, image_origins="https://img.example.com, https://*.cdn.example.net")
    async with apps_client(settings) as c:
        domains = csp_domains(await read_gallery(c))
    assert domains == [*DEFAULT_IMAGE_ORIGINS, "https://img.example.com", "https://*.cdn.example.net"]


@pytest.mark.parametrize(
    "value", ["*", "https://*", "https://*.com", "https://cdn.example.com/images", "ftp://cdn.example.com", "https:"]
)
def test_blanket_or_malformed_origins_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="FRAMES_MCP_IMAGE_ORIGINS"):
        Settings.from_env({"FRAMES_MCP_IMAGE_ORIGINS": value})


def test_origins_from_the_environment() -> None:
    settings = Settings.from_env({"FRAMES_MCP_IMAGE_ORIGINS": " https://A.example.com/ http://127.0.0.1:9000,"})
    assert settings.image_origins == ("https://a.example.com", "http://127.0.0.1:9000")


async def test_demo_mode_declares_the_simulator_origin_only() -> None:
    async with apps_client(Settings(demo=True, wait_seconds=20)) as c:
        domains = csp_domains(await read_gallery(c))
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "num_images": 1})
        after = csp_domains(await read_gallery(c))
    result = TaskResult.model_validate(r.structured_content)
    assert domains == [origin_of(result.artifacts[0].url)]
    assert domains[0] is not None and domains[0].startswith("http://127.0.0.1:")
    assert after == domains


async def test_an_unconfigured_artifact_origin_is_declared_once_seen(sim: Simulator, caplog: Any) -> None:
    async with apps_client(settings_for(sim)) as c:
        before = csp_domains(await read_gallery(c))
        r = await c.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1})
        after = csp_domains(await read_gallery(c))
    sim_origin = origin_of(sim.base_url)  # type: ignore[attr-defined]
    assert before == list(DEFAULT_IMAGE_ORIGINS)
    assert after == [*DEFAULT_IMAGE_ORIGINS, sim_origin]
    assert origin_of(TaskResult.model_validate(r.structured_content).artifacts[0].url) == sim_origin
    assert "FRAMES_MCP_IMAGE_ORIGINS" in caplog.text


def test_only_https_or_loopback_origins_are_learned() -> None:
    gallery = Gallery(Settings())

    def seen(*urls: str) -> None:
        artifacts = [{"index": i, "url": u} for i, u in enumerate(urls)]
        gallery.observe(CallToolResult(content=[], structured_content={"artifacts": artifacts}))

    seen("http://images.example.com/a.png", "javascript:alert(1)", "data:image/png;base64,AAAA")
    assert gallery.image_origins == list(DEFAULT_IMAGE_ORIGINS)
    seen("https://new-cdn.example.com/a.png?_jwt=x", "https://new-cdn.example.com/b.png", "http://localhost:8787/c.png")
    assert gallery.image_origins == [*DEFAULT_IMAGE_ORIGINS, "https://new-cdn.example.com", "http://localhost:8787"]


async def test_refresh_tool_re_reads_the_task_with_fresh_links(sim: Simulator) -> None:
    async with apps_client(settings_for(sim)) as c:
        first = TaskResult.model_validate(
            (await c.call_tool("generate_frames", {"text_prompt": "a quiet forest"})).structured_content
        )
        r = await c.call_tool(REFRESH_TOOL, {"taskId": first.taskId})
        bad = await c.call_tool(REFRESH_TOOL, {"taskId": "../accounts"})
    again = TaskResult.model_validate(r.structured_content)
    assert not r.is_error
    assert [a.url.split("?")[0] for a in again.artifacts] == [a.url.split("?")[0] for a in first.artifacts]
    assert all(a.url != b.url for a, b in zip(again.artifacts, first.artifacts, strict=True))
    assert bad.is_error


async def test_refresh_tool_without_a_token_says_how_to_set_it(sim: Simulator) -> None:
    async with apps_client(settings_for(sim, token=None)) as c:
        r = await c.call_tool(REFRESH_TOOL, {"taskId": f"user:1-runwayml:a@b.co-task:{uuid.uuid4()}"})
    assert r.is_error
    assert "USEAPI_TOKEN" in r.content[0].text  # type: ignore[union-attr]


def _normalised(result: CallToolResult) -> Any:
    """Wire JSON with the per-read URL signatures blanked (every read re-signs)."""
    return re.sub(r"_jwt=[\w.\-]+", "_jwt=SIG", str(wire(result)))


async def test_a_client_without_apps_sees_no_change(sim: Simulator, mode: str) -> None:
    async with Client(build_server(settings_for(sim), QUICK_POLLS), mode=mode) as plain:  # type: ignore[arg-type]
        names = [t.name for t in (await plain.list_tools()).tools]
        created = await plain.call_tool("generate_frames", {"text_prompt": "a red fox", "seed": 42})
        task_id = TaskResult.model_validate(created.structured_content).taskId
        without = await plain.call_tool("get_task", {"taskId": task_id})
    async with apps_client(settings_for(sim), mode) as apps:
        with_apps = await apps.call_tool("get_task", {"taskId": task_id})
    # The same tools as before the extension (the app-only helper is hidden), the same results for both.
    assert names == ["generate_frames", "get_task", "list_tasks", "list_styles", "upload_image", "describe_image"]
    assert _normalised(without) == _normalised(with_apps)
    shape = wire(without)
    assert [c["type"] for c in shape["content"]] == ["text", "image"]  # image: the contact sheet
    assert set(shape.get("_meta", {})) <= {"io.modelcontextprotocol/serverInfo"}
    assert set(shape["structuredContent"]) <= set(TaskResult.model_fields)


def test_the_view_is_package_data() -> None:
    html = gallery_html()
    assert "ui/initialize" in html and "ui/notifications/size-changed" in html
    assert "/*CONFIG*/" not in html

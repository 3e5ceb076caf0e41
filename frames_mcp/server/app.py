"""The MCP server: MCPServer with its lifespan, and the list of tool groups that register themselves on it.

The only package that imports mcp (with cli.py). Data flows one way: tool args -> server/tasks.py -> jobs/
(admission -> create -> polling -> ledger) -> a `Run` -> server/results/ (sheet and files from media/, size cap)
-> the client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from mcp import types
from mcp.server.mcpserver import MCPServer

from frames_mcp import __version__
from frames_mcp.config import Settings
from frames_mcp.jobs.ledger import Ledger
from frames_mcp.jobs.service import Jobs, Tuning
from frames_mcp.server import arguments, catalog, completions, declare, gallery, prompt, references, tasks
from frames_mcp.server.mcp_tasks import McpTasks, TaskTuning
from frames_mcp.server.state import AppState
from frames_mcp.server.task_handles import StoreHandles
from frames_mcp.session import open_session
from frames_mcp.store import Store

# Pillow (previews, uploads) is imported where it is first used, not at startup: clients list the tools of a
# freshly spawned server at once, and a start within 10% of a bare MCPServer's is a goal (BENCHMARKS.md).

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
frames-mcp generates images with Runway's Frames model through useapi.net.
- generate_frames creates a task (it spends credits unless exploreMode) and waits up to wait_seconds for it.
  A finished task returns its image URLs. If the wait ends first, the task keeps running: call get_task with
  the returned taskId (wait_seconds up to 50) until it is done. Never call generate_frames again just because
  a wait ended: that pays for a second task. A result that says "not created" created nothing and cost nothing.
- list_tasks lists the tasks this server created (newest first, with status), so a task whose call was
  cancelled or timed out can always be found again; account=true adds the account's own task list.
- list_styles lists the style presets, aspect ratios and ranges you may use.
- Image links are signed and expire within 24-48 h; when one has expired, call get_task: it returns fresh ones.
- A finished result shows all images as one small contact sheet (preview) and, when the server has an output
  directory, saves them there (save).
- Reference images: upload_image gives an assetId; pass it as imageAssetId1..3 to generate_frames and cite it
  in text_prompt as @IMG_1..@IMG_3. describe_image turns an uploaded image into a starting prompt.
- The prompt frames_prompt helps write a strong text_prompt; frames://tasks/{taskId} is a task's state as JSON.
"""


def build_server(
    settings: Settings,
    tuning: Tuning | None = None,
    *,
    store: Store | None = None,
    task_tuning: TaskTuning | None = None,
) -> MCPServer[AppState]:
    """An MCPServer wired to useapi at settings.base_url (or, with settings.demo, to a built-in simulator).

    `tuning` (poll schedule, timeouts, retry policy) is for tests and benchmarks; the defaults suit useapi.
    `store`: one opened already (an HTTP server's command line opens it before serving), or an OpeningStore (a
    stdio server's, which the lifespan opens beside the handshake); without it the lifespan opens
    settings.store_url, and closes it again at the end. MCP task handles live in it too.
    `task_tuning` (handle lifetime, heartbeat) is for tests.
    """
    tuning = tuning or Tuning()
    # FRAMES_MCP_TASKS=off leaves the extension out entirely: every call synchronous, discovery as before it.
    task_ext = McpTasks(tasks.resume, tuning=task_tuning) if settings.tasks else None
    ledger = Ledger(rest=tuning.store_rest)  # made here, not in the lifespan: completions get no lifespan context
    apps = gallery.Gallery(settings)  # the MCP Apps view of generate_frames and get_task results
    mcp: MCPServer[AppState] = declare.DeclaredServer(
        "frames-mcp",
        title="Runway Frames",
        version=__version__,
        description="Generate images with Runway's Frames model through useapi.net.",
        instructions=INSTRUCTIONS,
        website_url="https://useapi.net/docs/api-runwayml-v1/post-runwayml-frames-create",
        lifespan=_lifespan(settings, tuning, ledger, apps, store, task_ext),
        extensions=[apps] if task_ext is None else [task_ext, apps],  # tasks outermost: the gallery sees results
        middleware=[apps.hide_app_only_tools],
    )
    mcp.middleware.append(arguments.ArgumentCheck(mcp))  # refused arguments in our words, not pydantic's
    tasks.register(mcp, settings)
    catalog.register(mcp)
    references.register(mcp)
    prompt.register(mcp)
    completions.register(mcp, ledger)
    _answer_set_level(mcp)
    return mcp


def _lifespan(
    settings: Settings,
    tuning: Tuning,
    ledger: Ledger,
    apps: gallery.Gallery,
    given: Store | None,
    task_ext: McpTasks | None,
) -> Any:
    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            session = await stack.enter_async_context(open_session(settings, tuning, ledger, store=given))
            tg = await stack.enter_async_context(anyio.create_task_group())
            if settings.demo:
                apps.use_demo_origin(session.base_url)
            # Work the server owns beside its calls: resuming the creates an earlier run left unchecked.
            if session.client.has_token:
                tg.start_soon(_resume, session.jobs)
            if task_ext is not None:  # MCP tasks wait in its task group, which ends before the session closes
                handles = StoreHandles(session.store.records)
                jobs = session.jobs
                await stack.enter_async_context(task_ext.running(handles, jobs.tuning.schedule, jobs.durations))
            yield AppState(session.client, settings, session.downloads, session.jobs)
            tg.cancel_scope.cancel()  # nothing waits on it at the end

    return lifespan


async def _resume(jobs: Jobs) -> None:
    """The start's sweep of unchecked creates; a failure of it is logged, never the server's end."""
    try:
        found = await jobs.resume_pending()
    except Exception:
        log.exception("checking the creates an earlier run left unchecked failed")
        return
    if found:
        log.info("%d task(s) an earlier run created without knowing it are now recorded", found)


def _answer_set_level(mcp: MCPServer[AppState]) -> None:
    """Serve logging/setLevel, which 2025-era clients call without checking capabilities.

    frames-mcp sends no log notifications (progress notifications carry a task's state), so it only acknowledges.
    The 2026 revision dropped the method, so it goes to the lowlevel server, where the SDK re-adds legacy methods.
    """

    async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        log.debug("client asked for log level %s; frames-mcp sends no log notifications", params.level)
        return types.EmptyResult()

    mcp._lowlevel_server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)

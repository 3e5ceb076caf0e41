"""The MCP server: tools, resources and lifespan. Thin glue from the protocol to the modules beside it."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
from mcp import types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, SecretStr

from frames_mcp import __version__, catalog, gallery
from frames_mcp.config import Settings
from frames_mcp.errors import FramesError, InvalidResponseError, MissingTokenError, TransportError
from frames_mcp.models import ASPECT_RATIOS, STYLES, WAIT_MAX, FramesRequest, Task, TaskId, TaskResult
from frames_mcp.results import call_tool_result, error_result, task_result
from frames_mcp.useapi import UseapiClient
from frames_mcp.waiting import wait_for_task

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
frames-mcp generates images with Runway's Frames model through useapi.net.
- generate_frames creates a task (it spends credits unless exploreMode) and waits up to wait_seconds for it.
  A finished task returns its image URLs. If the wait ends first, the task keeps running: call get_task with
  the returned taskId (wait_seconds up to 50) until it is done. Never call generate_frames again just because
  a wait ended: that pays for a second task.
- list_styles lists the style presets, aspect ratios and ranges you may use.
- Image links are signed and expire within 24-48 h; get_task returns fresh ones.
"""

HTTP_TIMEOUT = httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


@dataclass
class AppState:
    client: UseapiClient
    settings: Settings


class _Progress:
    """Maps task states to MCP progress notifications; progress never goes backwards."""

    def __init__(self, ctx: Context[AppState]) -> None:
        self._ctx = ctx
        self._last = -1.0

    async def __call__(self, task: Task) -> None:
        if task.status in ("PENDING", "THROTTLED"):
            value, message = 0.0, f"{task.status}: queued at Runway"
            if task.estimatedTimeToStartSeconds:
                message += f", starting in about {task.estimatedTimeToStartSeconds:.0f} s"
        elif task.is_terminal:
            value, message = 1.0, f"{task.status}"
        else:
            ratio = task.progressRatio or 0.0
            value, message = min(0.99, max(0.01, ratio)), f"{task.status}: {ratio:.0%} generated"
        value = max(value, self._last + 1e-6) if value <= self._last else value
        self._last = value
        await self._ctx.report_progress(value, 1.0, message)


def _flat_tool(
    model: type[BaseModel], extra: list[inspect.Parameter]
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Expose a request model's fields as top-level tool parameters, so the schema is the model's own."""

    def wrap(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def tool(**kwargs: Any) -> Any:
            return await fn(**kwargs)

        params = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[field.annotation, field],
                default=inspect.Parameter.empty if field.is_required() else field.default,
            )
            for name, field in model.model_fields.items()
        ]
        returns = inspect.signature(fn, eval_str=True).return_annotation
        tool.__signature__ = inspect.Signature([*params, *extra], return_annotation=returns)  # type: ignore[attr-defined]
        # The SDK reads annotations (to find the Context parameter) as well as the signature.
        tool.__annotations__ = {p.name: p.annotation for p in [*params, *extra]} | {"return": returns}
        tool.__name__, tool.__doc__ = fn.__name__, fn.__doc__
        return tool

    return wrap


def _wait_param(default: int, description: str) -> inspect.Parameter:
    return inspect.Parameter(
        "wait_seconds",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[int, Field(ge=0, le=WAIT_MAX, description=description)],
        default=default,
    )


def _ctx_param() -> inspect.Parameter:
    return inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)


def _tool(mcp: MCPServer[AppState], **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """mcp.tool with the docstring, dedented, as the description the model reads."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        return mcp.tool(description=inspect.cleandoc(fn.__doc__ or ""), **kwargs)(fn)

    return register


def _state(ctx: Context[AppState]) -> AppState:
    return ctx.request_context.lifespan_context


def _require_token(state: AppState) -> None:
    if not state.client.has_token:
        raise ToolError(MissingTokenError().describe())


def build_server(settings: Settings) -> MCPServer[AppState]:
    """An MCPServer wired to useapi at settings.base_url (or, with settings.demo, to a built-in simulator)."""

    apps = gallery.Gallery(settings)  # the MCP Apps view of generate_frames and get_task results

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            base_url, token = settings.base_url, settings.token
            if settings.demo:
                from frames_mcp import simulator  # only demo mode pays for importing it

                sim = simulator.Simulator()
                base_url = await stack.enter_async_context(simulator.serve(sim))
                token = SecretStr(sim.config.token)
                apps.use_demo_origin(base_url)
                log.warning("demo mode: simulated useapi.net at %s; images are placeholders", base_url)
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    base_url=base_url, timeout=HTTP_TIMEOUT, headers={"User-Agent": f"frames-mcp/{__version__}"}
                )
            )
            yield AppState(client=UseapiClient(http, token), settings=settings)

    mcp: MCPServer[AppState] = MCPServer(
        "frames-mcp",
        title="Runway Frames",
        version=__version__,
        description="Generate images with Runway's Frames model through useapi.net.",
        instructions=INSTRUCTIONS,
        website_url="https://useapi.net/docs/api-runwayml-v1/post-runwayml-frames-create",
        lifespan=lifespan,
        extensions=[apps],
        middleware=[apps.hide_app_only_tools],
    )

    wait_doc = (
        "Seconds to wait for the task before returning (0-50). If the task is not done by then, the result "
        "carries its taskId and the task keeps running: call get_task to pick it up."
    )

    @_tool(
        mcp,
        title="Generate images with Runway Frames",
        meta=gallery.tool_meta(),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @_flat_tool(FramesRequest, [_wait_param(settings.wait_seconds, wait_doc), _ctx_param()])
    async def generate_frames(
        ctx: Context[AppState], wait_seconds: int, **fields: Any
    ) -> Annotated[CallToolResult, TaskResult]:
        """Generate 1 or 4 images with Runway Frames from a text prompt (POST /v1/runwayml/frames/create).

        Each call creates a paid task (unless exploreMode) and waits up to wait_seconds for it. The result
        gives every image URL (markdown links, resource links, structured content) with the seed and
        options, or, when the wait ends first, the taskId to pass to get_task. Do not call again to
        "retry" a running task. Image links expire within 24-48 h; get_task re-signs them.
        """
        state = _state(ctx)
        _require_token(state)
        request = FramesRequest.model_validate(fields)
        if request.email is None and state.settings.email:
            request = request.model_copy(update={"email": state.settings.email})
        deadline = time.monotonic() + wait_seconds
        try:
            task = await state.client.create_frames(request, deadline=deadline)
        except (InvalidResponseError, TransportError) as e:
            if isinstance(e, TransportError) and not e.sent:
                raise ToolError(f"{e.describe()} No task was created and nothing was charged.") from None
            raise ToolError(
                f"{e.describe()} useapi.net may have created the task anyway: do not call generate_frames again "
                "blindly; check the account's recent tasks first."
            ) from None
        except FramesError as e:
            raise ToolError(e.describe()) from None
        log.info("created task %s", task.taskId)
        return await _wait_and_render(ctx, state, task, deadline, request.body())

    @_tool(
        mcp,
        title="Get a Frames task",
        meta=gallery.tool_meta(),
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def get_task(
        taskId: TaskId,
        ctx: Context[AppState],
        wait_seconds: Annotated[
            int,
            Field(ge=0, le=WAIT_MAX, description="Seconds to wait for the task to finish (0-50). 0 returns at once."),
        ] = 0,
    ) -> Annotated[CallToolResult, TaskResult]:
        """Check a Frames task (GET /v1/runwayml/tasks/{taskId}) and return its images when done.

        Use it to pick up a task whose generate_frames wait ended, and to get freshly signed image URLs
        when earlier links have expired.
        """
        state = _state(ctx)
        _require_token(state)
        deadline = time.monotonic() + wait_seconds
        try:
            task = await state.client.get_task(taskId)
        except FramesError as e:
            raise ToolError(f"{e.describe()} (taskId {taskId})") from None
        return await _wait_and_render(ctx, state, task, deadline, None)

    @_tool(
        mcp,
        title="List Frames styles and options",
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )
    def list_styles() -> Annotated[CallToolResult, catalog.Catalog]:
        """List the 19 Frames style presets, the 6 aspect ratios (with pixel sizes where known) and the
        ranges of diversity, seed and num_images that generate_frames accepts."""
        cat = catalog.build()
        return CallToolResult(
            content=[TextContent(type="text", text=catalog.as_text(cat))],
            structured_content=cat.model_dump(mode="json"),
        )

    @mcp.resource(
        "frames://styles",
        name="styles",
        title="Frames styles and options",
        description="The style presets, aspect ratios and parameter ranges of Runway Frames, as JSON.",
        mime_type="application/json",
    )
    def styles_resource() -> str:
        return catalog.build().model_dump_json(indent=2)

    _answer_logging_and_completion(mcp)
    return mcp


# Argument values a client may complete (completion/complete), by argument name, for any prompt or template.
_COMPLETABLE: dict[str, tuple[str, ...]] = {"style": STYLES, "aspect_ratio": ASPECT_RATIOS}


def _answer_logging_and_completion(mcp: MCPServer[AppState]) -> None:
    """Serve logging/setLevel and completion/complete, which 2025-era clients call without checking capabilities.

    frames-mcp sends no log notifications (progress notifications carry a task's state), so setLevel only
    acknowledges. Completion offers the style presets and aspect ratios for arguments of those names.
    """

    async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        log.debug("client asked for log level %s; frames-mcp sends no log notifications", params.level)
        return types.EmptyResult()

    async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
        argument = params.argument
        values = [v for v in _COMPLETABLE.get(argument.name, ()) if v.startswith(argument.value)]
        return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))

    # The 2026 revision dropped logging/setLevel and MCPServer.completion() is untyped: both go to the lowlevel
    # server, which is where the SDK says legacy methods are re-added.
    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("completion/complete", types.CompleteRequestParams, complete)


async def _wait_and_render(
    ctx: Context[AppState], state: AppState, task: Task, deadline: float, requested: dict[str, Any] | None
) -> CallToolResult:
    progress = _Progress(ctx)
    await progress(task)
    try:
        task = await wait_for_task(state.client, task, deadline, on_update=progress)
    except FramesError as e:
        return error_result(task_result(task, requested=requested, simulated=state.settings.demo), e.describe())
    return call_tool_result(task_result(task, requested=requested, simulated=state.settings.demo))

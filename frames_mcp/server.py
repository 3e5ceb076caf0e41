"""The MCP server: tools, resources and lifespan. Thin glue from the protocol to the modules beside it."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, SecretStr

from frames_mcp import __version__, catalog
from frames_mcp.config import Settings
from frames_mcp.errors import FramesError, MissingTokenError
from frames_mcp.jobs import Estimate, Event, Jobs, LocalQueue, Run, Tuning, UpstreamBusy
from frames_mcp.models import (
    EMAIL_DOC,
    WAIT_MAX,
    Email,
    FramesRequest,
    ListedStatus,
    Task,
    TaskId,
    TaskListResult,
    TaskResult,
)
from frames_mcp.results import (
    account_task,
    call_tool_result,
    error_result,
    ledger_task,
    task_list_result,
    task_result,
)
from frames_mcp.useapi import UseapiClient

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
- Image links are signed and expire within 24-48 h; get_task returns fresh ones.
"""

HTTP_TIMEOUT = httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


@dataclass
class AppState:
    client: UseapiClient
    settings: Settings
    jobs: Jobs


class _Progress:
    """Maps what a call waits for to MCP progress notifications (total 1.0); progress never goes backwards."""

    def __init__(self, ctx: Context[AppState]) -> None:
        self._ctx = ctx
        self._last = -1.0

    async def __call__(self, event: Event) -> None:
        value, message = _progress_of(event)
        value = max(value, self._last + 1e-6) if value <= self._last else value
        self._last = value
        await self._ctx.report_progress(value, 1.0, message)


def _progress_of(event: Event) -> tuple[float, str]:
    if isinstance(event, LocalQueue):
        where = "" if event.account == "*" else f" on {event.account}"
        return 0.0, (
            f"Queued locally, {event.ahead} ahead: {event.in_use} of {event.limit} slots{where} in use"
            if event.ahead
            else f"Queued locally, next in line: waiting for one of {event.limit} running tasks{where} to finish"
        )
    if isinstance(event, UpstreamBusy):
        return 0.0, f"Account busy at useapi.net (429): retrying in {event.delay:.0f} s"
    if isinstance(event, Estimate):
        return min(0.99, max(0.01, event.ratio)), f"RUNNING: about {event.ratio:.0%} generated (estimated)"
    task: Task = event
    if task.status in ("PENDING", "THROTTLED"):
        message = f"{task.status}: queued at Runway"
        if task.estimatedTimeToStartSeconds:
            message += f", starting in about {task.estimatedTimeToStartSeconds:.0f} s"
        return 0.0, message
    if task.is_terminal:
        return 1.0, task.status
    ratio = task.progressRatio or 0.0
    return min(0.99, max(0.01, ratio)), f"{task.status}: {ratio:.0%} generated"


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


def build_server(settings: Settings, tuning: Tuning | None = None) -> MCPServer[AppState]:
    """An MCPServer wired to useapi at settings.base_url (or, with settings.demo, to a built-in simulator).

    `tuning` (poll schedule, timeouts, retry policy) is for tests and benchmarks; the defaults suit useapi.
    """
    tuning = tuning or Tuning()

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            base_url, token = settings.base_url, settings.token
            if settings.demo:
                from frames_mcp import simulator  # only demo mode pays for importing it

                sim = simulator.Simulator()
                base_url = await stack.enter_async_context(simulator.serve(sim))
                token = SecretStr(sim.config.token)
                log.warning("demo mode: simulated useapi.net at %s; images are placeholders", base_url)
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    base_url=base_url, timeout=HTTP_TIMEOUT, headers={"User-Agent": f"frames-mcp/{__version__}"}
                )
            )
            client = UseapiClient(http, token, retry=tuning.retry)
            yield AppState(client=client, settings=settings, jobs=Jobs(client, tuning))

    mcp: MCPServer[AppState] = MCPServer(
        "frames-mcp",
        title="Runway Frames",
        version=__version__,
        description="Generate images with Runway's Frames model through useapi.net.",
        instructions=INSTRUCTIONS,
        website_url="https://useapi.net/docs/api-runwayml-v1/post-runwayml-frames-create",
        lifespan=lifespan,
    )

    wait_doc = (
        "Seconds to wait for the task before returning (0-50). If the task is not done by then, the result "
        "carries its taskId and the task keeps running: call get_task to pick it up."
    )

    @_tool(
        mcp,
        title="Generate images with Runway Frames",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    @_flat_tool(FramesRequest, [_wait_param(settings.wait_seconds, wait_doc), _ctx_param()])
    async def generate_frames(
        ctx: Context[AppState], wait_seconds: int, **fields: Any
    ) -> Annotated[CallToolResult, TaskResult]:
        """Generate 1 or 4 images with Runway Frames from a text prompt (POST /v1/runwayml/frames/create).

        Each call creates a paid task (unless exploreMode) and waits up to wait_seconds for it, sending
        progress. The result gives every image URL (markdown links, resource links, structured content)
        with the seed and options, or, when the wait ends first, the taskId to pass to get_task (the
        task keeps running; list_tasks also finds it). Do not call again to "retry" a running task.
        This server runs at most maxJobs tasks at once per account (the call's maxJobs, else the
        account's, else 5); further calls wait in line within wait_seconds. If the wait ends before the
        task could be created (line or account busy), the result is an error that says "not created":
        nothing was charged and calling again is safe. Image links expire within 24-48 h; get_task
        re-signs them.
        """
        state = _state(ctx)
        _require_token(state)
        request = FramesRequest.model_validate(fields)
        if request.email is None and state.settings.email:
            request = request.model_copy(update={"email": state.settings.email})
        try:
            run = await state.jobs.generate(request, wait_seconds, _Progress(ctx))
        except FramesError as e:
            raise ToolError(e.describe()) from None
        return _render(state, run, request.body())

    @_tool(
        mcp,
        title="Get a Frames task",
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

        Use it to pick up a task whose generate_frames wait ended (or whose call was cancelled), and to
        get freshly signed image URLs when earlier links have expired.
        """
        state = _state(ctx)
        _require_token(state)
        try:
            run = await state.jobs.follow(taskId, wait_seconds, _Progress(ctx))
        except FramesError as e:
            raise ToolError(f"{e.describe()} (taskId {taskId})") from None
        return _render(state, run, None)

    @_tool(
        mcp,
        title="List recent Frames tasks",
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def list_tasks(
        ctx: Context[AppState],
        status: Annotated[
            ListedStatus | None, Field(description="Only tasks whose status is this one. Default: all.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="How many tasks to list (1-100).")] = 20,
        account: Annotated[
            bool,
            Field(
                description="Also read the account's own task list from useapi.net (GET /v1/runwayml/tasks), "
                "which includes tasks from other clients, the web app and earlier server runs."
            ),
        ] = False,
        offset: Annotated[
            int, Field(ge=0, le=1000, description="With account=true: how many of the newest tasks to skip.")
        ] = 0,
        email: Annotated[Email | None, Field(description="With account=true: " + EMAIL_DOC)] = None,
    ) -> Annotated[CallToolResult, TaskListResult]:
        """List the Frames tasks this server created, newest first, with their status (unfinished ones are
        re-read first), so a task whose call was cancelled or timed out can always be found again.

        With account=true it also lists the account's task history from useapi.net. Pass a taskId to
        get_task to wait for it or to get its images.
        """
        state = _state(ctx)
        _require_token(state)
        statuses: list[str] | None = [status] if status else None
        entries = await state.jobs.recent(statuses, limit)
        result = TaskListResult(tasks=[ledger_task(e) for e in entries])
        if account:
            try:
                listed = await state.jobs.account_tasks(
                    offset=offset, limit=limit, statuses=statuses, email=email or state.settings.email
                )
                result.account = [account_task(t) for t in listed]
            except FramesError as e:
                result.accountError = e.describe()
        return task_list_result(result)

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

    return mcp


def _render(state: AppState, run: Run, requested: dict[str, Any] | None) -> CallToolResult:
    """A created task's result: images, or still running, or failed; an error that ended the wait keeps
    the taskId."""
    result = task_result(run.task, requested=requested, simulated=state.settings.demo)
    if run.error is not None:
        return error_result(result, run.error.describe())
    return call_tool_result(result, extra_text=run.note)

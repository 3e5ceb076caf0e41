"""The task tools: generate_frames, get_task, list_tasks, and the frames://tasks/{taskId} resource.

Each handler validates, hands the call to the jobs service and renders what comes back (results/)."""

# No `from __future__ import annotations` here: the SDK reads the annotations of every tool at each start,
# and as strings they would be evaluated there again, twice per tool (startup, BENCHMARKS.md).
import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from frames_mcp.config import WAIT_MAX, Settings
from frames_mcp.jobs.events import OnEvent, Run
from frames_mcp.server import declare, gallery
from frames_mcp.server.mcp_tasks import Background, background
from frames_mcp.server.progress import Progress, progress_of
from frames_mcp.server.results.lists import account_task, ledger_task, task_list_result
from frames_mcp.server.results.schemas import ListedStatus, TaskListResult, TaskResult
from frames_mcp.server.state import AppState, require_token, state_of
from frames_mcp.server.task_handles import Handle
from frames_mcp.store import StoreError
from frames_mcp.useapi.errors import FramesError, NotFoundError
from frames_mcp.useapi.ids import EMAIL_DOC, TASK_ID_FORM, TASK_ID_RE, Email, TaskId
from frames_mcp.useapi.models import FramesRequest

TASK_TEMPLATE = "frames://tasks/{taskId}"

PREVIEW_DOC = "Attach a numbered contact sheet of the images."
SAVE_DOC = "Save the images in FRAMES_MCP_OUTPUT_DIR."
WAIT_DOC = "Seconds to wait before returning the taskId of an unfinished task (get_task picks it up)."


def register(mcp: MCPServer[AppState], settings: Settings) -> None:
    _generate_frames(mcp, settings)
    _get_task(mcp, settings)
    _list_tasks(mcp)
    _task_resource(mcp)


def _generate_frames(mcp: MCPServer[AppState], settings: Settings) -> None:
    @declare.tool(
        mcp,
        title="Generate images with Runway Frames",
        meta=gallery.tool_meta(),
        annotations=declare.CHANGES_UPSTREAM,
    )
    @declare.flat_tool(
        FramesRequest,
        [
            declare.wait_param(settings.wait_seconds, WAIT_DOC),
            declare.flag_param("preview", settings.preview, PREVIEW_DOC),
            declare.flag_param("save", settings.output_dir is not None, SAVE_DOC),
            declare.ctx_param(),
        ],
    )
    async def generate_frames(
        ctx: Context[AppState], wait_seconds: int, preview: bool, save: bool, **fields: Any
    ) -> Annotated[CallToolResult, TaskResult]:
        """Generate images (pictures) from a text prompt with Runway Frames: one paid task of 1 or 4.

        Waits up to wait_seconds; the result has each image's url and a contact sheet. If the wait ends first,
        call get_task with its taskId (calling again pays twice). An error saying "not created" charged nothing.
        """
        state = state_of(ctx)
        require_token(state)
        request = FramesRequest.model_validate(fields)
        problem = request.reference_problem()
        if problem is not None:
            raise ToolError(f"{problem} Nothing was created or charged.")
        # With references the assets' account runs the task: a default email could only conflict with it.
        if request.email is None and state.settings.email and not request.references:
            request = request.model_copy(update={"email": state.settings.email})
        task = background()  # set when this call runs as an MCP task: no 50 s budget then
        on_event = task.events(progress_of, before=Progress(ctx)) if task is not None else Progress(ctx)
        try:
            run = await state.jobs.generate(request, wait_seconds, on_event)
        except FramesError as e:
            raise ToolError(e.describe()) from None
        if task is not None:
            run = await _wait_on(state, run, task.wait_seconds, on_event)
        from frames_mcp.server.results.render import render_run  # at the first result: tools/list needs none of it

        simulated = state.settings.demo
        how = state.delivery(preview, save)
        return await _remember_files(
            state, await render_run(run, requested=request.body(), simulated=simulated, how=how)
        )


def _get_task(mcp: MCPServer[AppState], settings: Settings) -> None:
    @declare.tool(
        mcp,
        title="Get a Frames task",
        meta=gallery.tool_meta(),
        annotations=declare.READS_UPSTREAM,
    )
    async def get_task(
        taskId: TaskId,
        ctx: Context[AppState],
        wait_seconds: Annotated[
            int,
            Field(ge=0, le=WAIT_MAX, description="Seconds to wait for the task to finish."),
        ] = 0,
        preview: Annotated[bool, Field(description=PREVIEW_DOC)] = settings.preview,
        save: Annotated[bool, Field(description=SAVE_DOC)] = settings.output_dir is not None,
    ) -> Annotated[CallToolResult, TaskResult]:
        """Get an image generation task: status, and images when done. Picks up an unfinished
        generate_frames task; re-signs expired links (24-48 h).
        """
        state = state_of(ctx)
        require_token(state)
        task = background()
        on_event = task.events(progress_of, before=Progress(ctx)) if task is not None else Progress(ctx)
        try:
            run = await state.jobs.follow(taskId, task.wait_seconds if task is not None else wait_seconds, on_event)
        except FramesError as e:
            raise ToolError(f"{e.describe()} (taskId {taskId})") from None
        from frames_mcp.server.results.render import render_run  # at the first result: tools/list needs none of it

        how = state.delivery(preview, save)
        return await _remember_files(
            state, await render_run(run, requested=None, simulated=state.settings.demo, how=how)
        )


def _list_tasks(mcp: MCPServer[AppState]) -> None:
    @declare.tool(
        mcp,
        title="List recent Frames tasks",
        annotations=declare.READS_UPSTREAM,
    )
    async def list_tasks(
        ctx: Context[AppState],
        status: Annotated[ListedStatus | None, Field(description="Only tasks with this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="How many tasks to list.")] = 20,
        account: Annotated[
            bool,
            Field(description="Also list the account's own tasks at useapi.net."),
        ] = False,
        offset: Annotated[int, Field(ge=0, le=1000, description="With account: how many newest to skip.")] = 0,
        email: Annotated[Email | None, Field(description="With account: " + EMAIL_DOC)] = None,
        prompt_contains: Annotated[
            str | None, Field(max_length=200, description="Only prompts with this text.")
        ] = None,
    ) -> Annotated[CallToolResult, TaskListResult]:
        """List this server's image generation tasks (earlier runs' too), newest first: finds a task whose
        call was cancelled or timed out.
        """
        state = state_of(ctx)
        require_token(state)
        statuses: list[str] | None = [status] if status else None
        result = TaskListResult(tasks=[])
        try:
            records = await state.jobs.recent(statuses, prompt_contains or None, limit)
            result.tasks = [ledger_task(r) for r in records]
        except StoreError as e:
            result.storeError = e.message
        if account:
            try:
                listed = await state.jobs.account_tasks(
                    offset=offset, limit=limit, statuses=statuses, email=email or state.settings.email
                )
                result.account = [account_task(t) for t in listed]
            except FramesError as e:
                result.accountError = e.describe()
        return task_list_result(result)


def _task_resource(mcp: MCPServer[AppState]) -> None:
    @mcp.resource(
        TASK_TEMPLATE,
        name="task",
        title="A Frames task",
        description="A task's current state as JSON (the same fields as get_task's structured content), with "
        "freshly signed image URLs.",
        mime_type="application/json",
    )
    async def task_resource(taskId: str, ctx: Context[AppState]) -> str:
        if not TASK_ID_RE.fullmatch(taskId):
            raise ResourceNotFoundError(
                f"{taskId[:120]!r} is not a taskId: expected {TASK_ID_FORM}, exactly as generate_frames or "
                "list_tasks returned it (list_tasks shows this server's tasks)."
            )
        state = state_of(ctx)
        require_token(state, ResourceError)
        try:
            task = await state.jobs.read(taskId)  # like every read: the ledger and admission learn it too
        except NotFoundError:
            raise ResourceNotFoundError(f"No task {taskId} on this useapi.net account.") from None
        except FramesError as e:
            raise ResourceError(e.describe()) from None
        from frames_mcp.server.results.render import task_result  # at the first read, not at the start

        return json.dumps(task_result(task, simulated=state.settings.demo).wire(), indent=2)


async def _wait_on(state: AppState, run: Run, wait_seconds: float, on_event: OnEvent) -> Run:
    """An MCP task's generation goes on waiting past the call's wait_seconds (keeping the create's note)."""
    if run.task.is_terminal or run.error is not None:
        return run
    try:
        followed = await state.jobs.follow(run.task.taskId, wait_seconds, on_event)
    except FramesError as e:
        return Run(run.task, e, run.note)
    return Run(followed.task, followed.error, run.note, followed.next_poll)


async def resume(state: AppState, handle: Handle, task: Background) -> CallToolResult:
    """Another process's MCP task whose owner stopped: wait for its useapi task here, to the result its own tool
    call would have given."""
    assert handle.upstream is not None
    args, settings = handle.args, state.settings
    requested = None
    if handle.tool == "generate_frames":
        fields = {k: v for k, v in args.items() if k not in ("wait_seconds", "preview", "save")}
        requested = FramesRequest.model_validate(fields).body()
    preview = bool(args.get("preview", settings.preview))
    save = bool(args.get("save", settings.output_dir is not None))
    try:
        run = await state.jobs.follow(handle.upstream, task.wait_seconds, task.events(progress_of))
    except FramesError as e:  # what get_task answers then: a tool error (completed, isError), not a failed task
        text = f"{e.describe()} (taskId {handle.upstream})"
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    from frames_mcp.server.results.render import render_run  # at the first result, not at the start

    return await render_run(run, requested=requested, simulated=settings.demo, how=state.delivery(preview, save))


async def _remember_files(state: AppState, result: CallToolResult) -> CallToolResult:
    """The files a result saved go into the task's record (what the store keeps: files saved)."""
    content = result.structured_content or {}
    files = content.get("files") or []
    if files and isinstance(content.get("taskId"), str):
        await state.jobs.ledger.saved(content["taskId"], [str(f["path"]) for f in files if isinstance(f, dict)])
    return result

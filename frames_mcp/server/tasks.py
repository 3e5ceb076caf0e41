"""The task tools: generate_frames, get_task, list_tasks, and the frames://tasks/{taskId} resource.

Each handler validates, hands the call to the jobs service and renders what comes back (results/)."""

from __future__ import annotations

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
from frames_mcp.server.results.render import render_run, task_result
from frames_mcp.server.results.schemas import ListedStatus, TaskListResult, TaskResult
from frames_mcp.server.state import AppState, require_token, state_of
from frames_mcp.server.task_handles import Handle
from frames_mcp.useapi.errors import FramesError, NotFoundError
from frames_mcp.useapi.ids import EMAIL_DOC, TASK_ID_RE, Email, TaskId
from frames_mcp.useapi.models import FramesRequest

TASK_TEMPLATE = "frames://tasks/{taskId}"

PREVIEW_DOC = (
    "Attach one contact sheet of the finished images (a small JPEG grid, numbered) so you can see them. "
    "Default from the server configuration."
)
SAVE_DOC = (
    "Save the finished images into the server's output directory (FRAMES_MCP_OUTPUT_DIR) and list the paths. "
    "On by default when that directory is configured."
)
WAIT_DOC = (
    "Seconds to wait for the task before returning (0-50). If the task is not done by then, the result "
    "carries its taskId and the task keeps running: call get_task to pick it up."
)


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
        """Generate 1 or 4 images with Runway Frames from a text prompt (POST /v1/runwayml/frames/create).

        Each call creates a paid task (unless exploreMode) and waits up to wait_seconds for it, sending
        progress. The result gives every image URL (markdown links, resource links, structured content)
        with the seed and options, a contact sheet of the images (preview) and the saved files (save), or,
        when the wait ends first, the taskId to pass to get_task (the task keeps running; list_tasks also
        finds it). Do not call again to "retry" a running task.
        This server runs at most maxJobs tasks at once per account (the call's maxJobs, else the
        account's, else 5); further calls wait in line within wait_seconds. If the wait ends before the
        task could be created (line or account busy), the result is an error that says "not created":
        nothing was charged and calling again is safe.
        Reference images: upload them with upload_image, pass the assetIds as imageAssetId1..3 and cite them
        in text_prompt as @IMG_1..@IMG_3 (e.g. "@IMG_1 riding a @IMG_2"); leave email out then, the task
        runs on the account holding the assets. Image links expire within 24-48 h: when one has expired,
        call get_task, which returns freshly signed ones.
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
        simulated = state.settings.demo
        return await render_run(run, requested=request.body(), simulated=simulated, how=state.delivery(preview, save))


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
            Field(ge=0, le=WAIT_MAX, description="Seconds to wait for the task to finish (0-50). 0 returns at once."),
        ] = 0,
        preview: Annotated[bool, Field(description=PREVIEW_DOC)] = settings.preview,
        save: Annotated[bool, Field(description=SAVE_DOC)] = settings.output_dir is not None,
    ) -> Annotated[CallToolResult, TaskResult]:
        """Check a Frames task (GET /v1/runwayml/tasks/{taskId}) and return its images when done.

        Use it to pick up a task whose generate_frames wait ended (or whose call was cancelled), and
        whenever an image link has expired (links last 24-48 h; HTTP 403 means expired): every call returns
        freshly signed URLs.
        """
        state = state_of(ctx)
        require_token(state)
        task = background()
        on_event = task.events(progress_of, before=Progress(ctx)) if task is not None else Progress(ctx)
        try:
            run = await state.jobs.follow(taskId, task.wait_seconds if task is not None else wait_seconds, on_event)
        except FramesError as e:
            raise ToolError(f"{e.describe()} (taskId {taskId})") from None
        return await render_run(run, requested=None, simulated=state.settings.demo, how=state.delivery(preview, save))


def _list_tasks(mcp: MCPServer[AppState]) -> None:
    @declare.tool(
        mcp,
        title="List recent Frames tasks",
        annotations=declare.READS_UPSTREAM,
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
        state = state_of(ctx)
        require_token(state)
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
                f"{taskId[:120]!r} is not a taskId: expected user:<digits>-runwayml:<email>-task:<uuid>."
            )
        state = state_of(ctx)
        require_token(state, ResourceError)
        try:
            task = await state.jobs.read(taskId)  # like every read: the ledger and admission learn it too
        except NotFoundError:
            raise ResourceNotFoundError(f"No task {taskId} on this useapi.net account.") from None
        except FramesError as e:
            raise ResourceError(e.describe()) from None
        return task_result(task, simulated=state.settings.demo).model_dump_json(indent=2)


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
    return await render_run(run, requested=requested, simulated=settings.demo, how=state.delivery(preview, save))

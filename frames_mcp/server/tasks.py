"""The task tools: generate_frames, get_task, list_tasks, and the frames://tasks/{taskId} resource.

Each handler validates, hands the call to the jobs service and renders what comes back (results/)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult
from pydantic import Field

from frames_mcp.config import WAIT_MAX, Settings
from frames_mcp.server import declare, gallery
from frames_mcp.server.progress import Progress
from frames_mcp.server.results.lists import account_task, ledger_task, task_list_result
from frames_mcp.server.results.render import render_run, task_result
from frames_mcp.server.results.schemas import ListedStatus, TaskListResult, TaskResult
from frames_mcp.server.state import AppState, require_token, state_of
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
        try:
            run = await state.jobs.generate(request, wait_seconds, Progress(ctx))
        except FramesError as e:
            raise ToolError(e.describe()) from None
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
        try:
            run = await state.jobs.follow(taskId, wait_seconds, Progress(ctx))
        except FramesError as e:
            raise ToolError(f"{e.describe()} (taskId {taskId})") from None
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
        return json.dumps(task_result(task, simulated=state.settings.demo).wire(), indent=2)


async def _remember_files(state: AppState, result: CallToolResult) -> CallToolResult:
    """The files a result saved go into the task's record (what the store keeps: files saved)."""
    content = result.structured_content or {}
    files = content.get("files") or []
    if files and isinstance(content.get("taskId"), str):
        await state.jobs.ledger.saved(content["taskId"], [str(f["path"]) for f in files if isinstance(f, dict)])
    return result

"""The MCP server: tools, resources and lifespan. Thin glue from the protocol to the modules beside it."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import httpx2
from mcp import MCPError, types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
)
from pydantic import Field, SecretStr

from frames_mcp import __version__, catalog, declare, gallery, mcp_tasks, prompting
from frames_mcp.config import Settings
from frames_mcp.errors import FramesError, MissingTokenError, NotFoundError
from frames_mcp.fetch import Guard
from frames_mcp.jobs import Estimate, Event, Jobs, LocalQueue, OnEvent, Run, Tuning, UpstreamBusy
from frames_mcp.models import (
    ASPECT_RATIOS,
    EMAIL_DOC,
    STYLES,
    TASK_ID_RE,
    WAIT_MAX,
    AssetId,
    Email,
    FramesRequest,
    ImageDescription,
    ListedStatus,
    Task,
    TaskId,
    TaskListResult,
    TaskResult,
    UploadedAsset,
)
from frames_mcp.results import account_task, error_result, ledger_task, task_list_result, task_result
from frames_mcp.task_handles import Handle, Handles, memory_handles
from frames_mcp.useapi import LazyTransport, UseapiClient

if TYPE_CHECKING:
    from frames_mcp.delivery import Delivery

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

HTTP_TIMEOUT = httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)
TASK_TEMPLATE = "frames://tasks/{taskId}"


@dataclass
class AppState:
    client: UseapiClient
    settings: Settings
    downloads: httpx2.AsyncClient  # artifact and upload_image URLs: no base URL, no token, redirects by hand
    recent_tasks: deque[str]  # taskIds this server returned lately, newest last (for completions)
    jobs: Jobs  # admission per account, the task ledger, generations end to end

    def remember(self, task_id: str) -> None:
        if TASK_ID_RE.fullmatch(task_id):
            if task_id in self.recent_tasks:
                self.recent_tasks.remove(task_id)
            self.recent_tasks.append(task_id)

    def delivery(self, preview: bool, save: bool) -> Delivery:
        from frames_mcp.delivery import Delivery

        s = self.settings
        return Delivery(self.downloads, preview, save, s.output_dir, s.max_image_bytes)


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
            message += f", starting in about {max(1, round(task.estimatedTimeToStartSeconds))} s"
        return 0.0, message
    if task.is_terminal:
        return 1.0, task.status
    ratio = task.progressRatio or 0.0
    return min(0.99, max(0.01, ratio)), f"{task.status}: {ratio:.0%} generated"


PREVIEW_DOC = (
    "Attach one contact sheet of the finished images (a small JPEG grid, numbered) so you can see them. "
    "Default from the server configuration."
)
SAVE_DOC = (
    "Save the finished images into the server's output directory (FRAMES_MCP_OUTPUT_DIR) and list the paths. "
    "On by default when that directory is configured."
)


def _state(ctx: Context[AppState]) -> AppState:
    return ctx.request_context.lifespan_context


def _require_token(state: AppState) -> None:
    if not state.client.has_token:
        raise ToolError(MissingTokenError().describe())


def build_server(
    settings: Settings,
    tuning: Tuning | None = None,
    *,
    task_tuning: mcp_tasks.TaskTuning | None = None,
    task_handles: Handles | None = None,
) -> MCPServer[AppState]:
    """An MCPServer wired to useapi at settings.base_url (or, with settings.demo, to a built-in simulator).

    `tuning` (poll schedule, timeouts, retry policy) and `task_tuning` are for tests and benchmarks; the
    defaults suit useapi. `task_handles` is where MCP task handles live (default: this process's memory).
    """
    tuning = tuning or Tuning()
    # FRAMES_MCP_TASKS=off leaves the extension out entirely: every call synchronous, discovery as before it.
    tasks = mcp_tasks.McpTasks(_resume, schedule=tuning.schedule, tuning=task_tuning) if settings.tasks else None
    recent_tasks: deque[str] = deque(maxlen=50)

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
            headers = {"User-Agent": f"frames-mcp/{__version__}"}
            http = await stack.enter_async_context(
                httpx2.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT, headers=headers, transport=LazyTransport())
            )
            downloads = await stack.enter_async_context(
                httpx2.AsyncClient(timeout=HTTP_TIMEOUT, headers=headers, transport=LazyTransport())
            )
            client = UseapiClient(http, token, retry=tuning.retry)
            if tasks is not None:
                await stack.enter_async_context(tasks.running(task_handles or memory_handles()))
            yield AppState(client, settings, downloads, recent_tasks, Jobs(client, tuning))

    mcp: MCPServer[AppState] = MCPServer(
        "frames-mcp",
        title="Runway Frames",
        version=__version__,
        description="Generate images with Runway's Frames model through useapi.net.",
        instructions=INSTRUCTIONS,
        website_url="https://useapi.net/docs/api-runwayml-v1/post-runwayml-frames-create",
        lifespan=lifespan,
        extensions=[apps] if tasks is None else [tasks, apps],  # tasks outermost: the gallery sees the final result
        middleware=[apps.hide_app_only_tools],
    )

    wait_doc = (
        "Seconds to wait for the task before returning (0-50). If the task is not done by then, the result "
        "carries its taskId and the task keeps running: call get_task to pick it up."
    )

    @declare.tool(
        mcp,
        title="Generate images with Runway Frames",
        meta=gallery.tool_meta(),
        annotations=declare.CHANGES_UPSTREAM,
    )
    @declare.flat_tool(
        FramesRequest,
        [
            declare.wait_param(settings.wait_seconds, wait_doc),
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
        state = _state(ctx)
        _require_token(state)
        request = FramesRequest.model_validate(fields)
        problem = request.reference_problem()
        if problem is not None:
            raise ToolError(f"{problem} Nothing was created or charged.")
        # With references the assets' account runs the task: a default email could only conflict with it.
        if request.email is None and state.settings.email and not request.references:
            request = request.model_copy(update={"email": state.settings.email})
        task = mcp_tasks.background()  # set when this call runs as an MCP task: no 50 s budget then
        on_event = task.events(_progress_of) if task is not None else _Progress(ctx)
        try:
            run = await state.jobs.generate(request, wait_seconds, on_event)
        except FramesError as e:
            raise ToolError(e.describe()) from None
        if task is not None:
            run = await _wait_on(state, run, task.wait_seconds, on_event)
        return await _render(state, run, request.body(), state.delivery(preview, save))

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
        state = _state(ctx)
        _require_token(state)
        task = mcp_tasks.background()
        on_event = task.events(_progress_of) if task is not None else _Progress(ctx)
        try:
            run = await state.jobs.follow(taskId, task.wait_seconds if task is not None else wait_seconds, on_event)
        except FramesError as e:
            raise ToolError(f"{e.describe()} (taskId {taskId})") from None
        return await _render(state, run, None, state.delivery(preview, save))

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

    @declare.tool(
        mcp,
        title="List Frames styles and options",
        annotations=declare.READS_LOCAL,
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

    _add_references(mcp, settings)
    _add_prompt_and_resources(mcp, recent_tasks)
    _answer_set_level(mcp)
    return mcp


def _add_references(mcp: MCPServer[AppState], settings: Settings) -> None:
    """upload_image and describe_image: reference images for generate_frames' imageAssetId1..3."""

    @declare.tool(
        mcp,
        title="Upload a reference image",
        annotations=declare.CHANGES_UPSTREAM,
    )
    async def upload_image(
        ctx: Context[AppState],
        path: Annotated[
            str | None,
            Field(
                max_length=4096,
                description="Absolute path of an image file on the machine running this server.",
            ),
        ] = None,
        url: Annotated[str | None, Field(max_length=8192, description="An http or https URL of the image.")] = None,
        data: Annotated[
            str | None,
            Field(description="The image bytes in base64, bare or as a data: URL (data:image/png;base64,...)."),
        ] = None,
        name: Annotated[
            str | None, Field(max_length=200, description="A name for the asset at Runway. Default: the file name.")
        ] = None,
        email: Annotated[
            Email | None,
            Field(
                description="The Runway account to hold the asset; a generation that uses it runs on this "
                "account. Default: the server's configured account."
            ),
        ] = None,
    ) -> Annotated[CallToolResult, UploadedAsset]:
        """Upload a reference image to Runway (POST /v1/runwayml/assets) and return its assetId.

        Give exactly one of path, url or data. The image must be PNG, JPEG, WebP or GIF (recognised from
        its bytes) and within the server's size cap. Then pass the assetId to generate_frames as
        imageAssetId1 (or 2, 3) and cite it in text_prompt as @IMG_1 (or @IMG_2, @IMG_3); or call
        describe_image on it for a starting prompt. Uploading costs no credits.
        """
        state = _state(ctx)
        _require_token(state)
        guard = Guard(allow_private=state.settings.allow_private_urls)
        try:
            from frames_mcp import sources

            image = await sources.load(
                state.downloads, path=path, url=url, data=data, max_bytes=state.settings.max_image_bytes, guard=guard
            )
        except FramesError as e:
            raise ToolError(f"{e.describe()} Nothing was uploaded.") from None
        account = email or state.settings.email
        asset_name = sources.asset_name(name, image.name)
        try:
            asset = await state.client.upload_asset(image.data, image.mime, name=asset_name, email=account)
        except FramesError as e:
            raise ToolError(e.describe()) from None
        assert asset.assetId is not None
        out = UploadedAsset(
            assetId=asset.assetId,
            name=asset.name or asset_name,
            mimeType=image.mime,
            bytes=len(image.data),
            width=image.width,
            height=image.height,
            email=asset.email or account,
            url=asset.url,
        )
        holder = f" on account {out.email}" if out.email else ""
        text = (
            f"Uploaded {out.name} ({out.mimeType}, {out.width}x{out.height}, {out.bytes} bytes) as assetId "
            f"{out.assetId}{holder}.\nUse it in generate_frames as imageAssetId1 and cite it as @IMG_1 in text_prompt "
            "(e.g. '@IMG_1 as a watercolour portrait'); leave email out, the task runs on the asset's account. "
            "describe_image gives a starting prompt from it."
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=out.model_dump(mode="json")
        )

    @declare.tool(
        mcp,
        title="Describe a reference image as a prompt",
        annotations=declare.READS_UPSTREAM,
    )
    async def describe_image(assetId: AssetId, ctx: Context[AppState]) -> Annotated[CallToolResult, ImageDescription]:
        """Turn a reference image into a starting Frames prompt (GET /v1/runwayml/frames/describe/{assetId}).

        Pass the assetId from upload_image (or an image of a finished task). The answer describes the
        image's subject, scene and style: edit it into the text_prompt you want. Costs no credits.
        """
        state = _state(ctx)
        _require_token(state)
        try:
            prompt = await state.client.describe(assetId)
        except FramesError as e:
            raise ToolError(e.describe()) from None
        out = ImageDescription(assetId=assetId, prompt=prompt)
        text = (
            f"Starting prompt for {assetId}:\n{prompt}\nEdit it into a text_prompt (subject, scene, lighting, camera, "
            "style); to keep the image itself as a reference, pass it as imageAssetId1 and cite @IMG_1."
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=out.model_dump(mode="json")
        )


def _add_prompt_and_resources(mcp: MCPServer[AppState], recent_tasks: deque[str]) -> None:
    """The frames_prompt prompt with its completions, and the frames://tasks/{taskId} resource."""

    def frames_prompt(
        subject: Annotated[str, Field(description="What the image should show, e.g. 'a lighthouse in a storm'.")],
        style: Annotated[str | None, Field(description="Optional Frames style preset (see list_styles).")] = None,
        aspect_ratio: Annotated[
            str | None, Field(description="Optional aspect ratio: 16:9, 9:16, 1:1, 4:3, 3:4 or 21:9.")
        ] = None,
    ) -> str:
        problem = prompting.argument_problem(subject, style, aspect_ratio)
        if problem is not None:
            raise MCPError(INVALID_PARAMS, problem)
        return prompting.guidance(subject, style or None, aspect_ratio or None)

    mcp.add_prompt(
        declare.CheckedPrompt.from_function(
            frames_prompt,
            name="frames_prompt",
            title="Write a Frames prompt",
            description="Guides you to write a strong Runway Frames text_prompt (subject, scene, lighting, camera, "
            "style) for a subject, then to call generate_frames.",
        )
    )

    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        choices: tuple[str, ...] | None = None
        if isinstance(ref, PromptReference) and ref.name == "frames_prompt":
            choices = {"style": STYLES, "aspect_ratio": ASPECT_RATIOS}.get(argument.name)
        elif isinstance(ref, ResourceTemplateReference) and ref.uri == TASK_TEMPLATE and argument.name == "taskId":
            choices = tuple(reversed(recent_tasks))
        if choices is None:
            return None
        values = [c for c in choices if c.lower().startswith(argument.value.lower())]
        return Completion(values=values[:100], total=len(values), has_more=len(values) > 100)

    mcp.completion()(complete)  # type: ignore[no-untyped-call]  # the SDK's decorator is untyped

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
        state = _state(ctx)
        if not state.client.has_token:
            raise ResourceError(MissingTokenError().describe())
        try:
            task = await state.client.get_task(taskId)
            state.jobs.observe(task)  # the ledger learns it too
        except NotFoundError:
            raise ResourceNotFoundError(f"No task {taskId} on this useapi.net account.") from None
        except FramesError as e:
            raise ResourceError(e.describe()) from None
        return task_result(task, simulated=state.settings.demo).model_dump_json(indent=2)


def _answer_set_level(mcp: MCPServer[AppState]) -> None:
    """Serve logging/setLevel, which 2025-era clients call without checking capabilities.

    frames-mcp sends no log notifications (progress notifications carry a task's state), so it only acknowledges.
    The 2026 revision dropped the method, so it goes to the lowlevel server, where the SDK re-adds legacy methods.
    """

    async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        log.debug("client asked for log level %s; frames-mcp sends no log notifications", params.level)
        return types.EmptyResult()

    mcp._lowlevel_server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)


async def _render(state: AppState, run: Run, requested: dict[str, Any] | None, how: Delivery) -> CallToolResult:
    """A created task's result: images, or still running, or failed; an error that ended the wait keeps
    the taskId."""
    state.remember(run.task.taskId)
    result = task_result(run.task, requested=requested, simulated=state.settings.demo)
    if run.note is not None:
        result = result.model_copy(update={"notes": [run.note, *result.notes]})
    if run.error is not None:
        return error_result(result, run.error.describe())
    from frames_mcp.delivery import deliver

    return await deliver(result, how)


async def _wait_on(state: AppState, run: Run, wait_seconds: float, on_event: OnEvent) -> Run:
    """An MCP task's generation goes on waiting past the call's wait_seconds (keeping the create's note)."""
    if run.task.is_terminal or run.error is not None:
        return run
    try:
        followed = await state.jobs.follow(run.task.taskId, wait_seconds, on_event)
    except FramesError as e:
        return Run(run.task, e, run.note)
    return Run(followed.task, followed.error, run.note)


async def _resume(state: AppState, handle: Handle, task: mcp_tasks.Background) -> CallToolResult:
    """Another process's MCP task whose owner stopped: wait for its useapi task here, to the result its own tool
    call would have given."""
    assert handle.upstream is not None
    args, settings = handle.args, state.settings
    requested = None
    if handle.tool == "generate_frames":
        fields = {k: v for k, v in args.items() if k not in ("wait_seconds", "preview", "save")}
        requested = FramesRequest.model_validate(fields).body()
    how = state.delivery(
        bool(args.get("preview", settings.preview)), bool(args.get("save", settings.output_dir is not None))
    )
    on_event = task.events(_progress_of)
    try:
        run = await state.jobs.follow(handle.upstream, task.wait_seconds, on_event)
    except FramesError as e:
        raise ToolError(f"{e.describe()} (taskId {handle.upstream})") from None
    return await _render(state, run, requested, how)

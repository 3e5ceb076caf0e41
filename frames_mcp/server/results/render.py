"""A task -> the tool result the client receives: structured content, a summary for the model, one link per image,
the contact sheet and the saved files (made by media/ for a finished task), within a hard cap on the whole size.

One direction: `render_run` builds the structured view, asks media/ for the sheet and the files, then the result."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from mcp.types import Annotations, CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent

from frames_mcp.jobs.events import Run
from frames_mcp.server.results.schemas import ArtifactOut, CreditsOut, FailureOut, PreviewInfo, SavedFile, TaskResult
from frames_mcp.useapi.models import ASPECT_RATIOS, Task

if TYPE_CHECKING:  # Pillow comes with media.delivery: imported at the first finished result, not at startup
    from frames_mcp.media.delivery import Delivered, Delivery

# Options worth echoing back: what the model needs to vary or reproduce a result.
_ECHOED_OPTIONS = (
    "text_prompt",
    "aspect_ratio",
    "style",
    "seed",
    "diversity",
    "num_images",
    "exploreMode",
)

SUCCESS_STEP = (
    "Show or link each image by its url (the sheet numbers them from 1). Links expire in 24-48 h: get_task "
    "re-signs them. An assetId makes an image a reference (imageAssetId1)."
)
# Clients refuse results over about 1 MB (claude-code "Maximum size is 1MB", fastmcp 1048576): stay well under.
RESULT_MAX_BYTES = 900_000
_ENVELOPE = 1_000  # the JSON-RPC framing and _meta around the result
_CAP_REASON = "to keep the result under the size limit."
DEMO_NOTE = "Demo mode: this task ran on the built-in simulator; its images are placeholders, not Runway output."


def unrecorded_note(why: str) -> str:
    return (
        f"This task could not be recorded in the server's task store ({why}): list_tasks may not show it, so "
        "keep its taskId for get_task."
    )


async def render_run(
    run: Run, *, requested: dict[str, Any] | None, simulated: bool, how: Delivery | None
) -> CallToolResult:
    """A created task's result: images (with the sheet and files `how` asks for), or still running, or failed; an
    error that ended the wait keeps the taskId."""
    result = task_result(run.task, requested=requested, simulated=simulated)
    if run.note is not None:
        result = result.model_copy(update={"notes": [run.note, *result.notes]})
    if run.unrecorded is not None:
        result = result.model_copy(update={"notes": [*result.notes, unrecorded_note(run.unrecorded)]})
    if run.error is not None:
        return error_result(result, run.error.describe())
    if how is None or not (result.status == "SUCCEEDED" and result.artifacts):
        return call_tool_result(result)
    if how.preview or how.save:
        from frames_mcp.media.delivery import deliver

        delivered = await deliver(result.taskId, result.createdAt, pictures(run.task), how)
        result = _with_delivered(result, delivered)
        return call_tool_result(result, sheet=delivered.sheet.jpeg if delivered.sheet is not None else None)
    return call_tool_result(result)


def _with_delivered(result: TaskResult, delivered: Delivered) -> TaskResult:
    sheet = delivered.sheet
    info = None
    if sheet is not None:
        info = PreviewInfo(width=sheet.width, height=sheet.height, bytes=len(sheet.jpeg), images=sheet.images)
    files = [
        SavedFile(index=f.index, path=str(f.path), uri=f.path.as_uri(), mimeType=f.mime, bytes=f.bytes)
        for f in delivered.files
    ]
    return result.model_copy(update={"preview": info, "files": files, "notes": [*result.notes, *delivered.notes]})


@dataclass(frozen=True)
class TaskPicture:
    """An image as media/ needs it, with the preview URL the sheet is made from (not part of the result)."""

    index: int
    url: str
    previewUrl: str | None
    width: int | None
    height: int | None


def pictures(task: Task) -> list[TaskPicture]:
    """The task's images that have a URL, with their position in the task."""
    shots = []
    for i, a in enumerate(task.artifacts):
        if a.url:
            width, height = a.dimensions()
            shots.append(TaskPicture(i, a.url, a.previewUrls[0] if a.previewUrls else None, width, height))
    return shots


def _scalar(value: Any) -> Any:
    """An option value fit to echo: text (cut), a finite number or a flag; anything else is left out."""
    if isinstance(value, str):
        return value[:1000]
    if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
        return value
    return None


def _options(task: Task, requested: dict[str, Any] | None) -> dict[str, Any]:
    """The options worth echoing, each a plain value, with width and height in the image's real orientation (see
    Task.real_size): Runway reports them portrait-first with a flip flag."""
    options: dict[str, Any] = {k: v for k, v in (requested or {}).items() if k in _ECHOED_OPTIONS}
    for key, value in (task.options or {}).items():
        if key in _ECHOED_OPTIONS and key not in ("width", "height") and _scalar(value) is not None:
            options[key] = _scalar(value)
    width, height = task.real_size()
    if width and height:
        options["width"], options["height"] = width, height
    return options


def _credits(task: Task) -> CreditsOut | None:
    found = task.features
    if found is None or found.used is None or found.permitted is None or found.remaining is None:
        return None
    return CreditsOut(used=found.used, permitted=found.permitted, remaining=found.remaining)


def task_result(task: Task, *, requested: dict[str, Any] | None = None, simulated: bool = False) -> TaskResult:
    """The structured view of a task. `requested` fills options the task does not echo (aspect_ratio)."""
    options = _options(task, requested)
    artifacts = [
        ArtifactOut(index=p.index, url=p.url, assetId=task.artifacts[p.index].assetId, width=p.width, height=p.height)
        for p in pictures(task)
    ]
    if "aspect_ratio" not in options:
        sized = artifacts[0] if artifacts and artifacts[0].width and artifacts[0].height else None
        ratio = _nearest_ratio(*((sized.width, sized.height) if sized else task.real_size()))
        if ratio:
            options["aspect_ratio"] = ratio
    error = None
    if task.error is not None and task.status not in ("SUCCEEDED",):
        error = FailureOut(
            reason=task.error.reason,
            moderation_category=task.error.moderation_category,
            message=task.error.message or task.error.errorMessage,
        )
    return TaskResult(
        taskId=task.taskId,
        status=task.status,
        done=task.is_terminal,
        summary=_summary(task, artifacts, options),
        progress=task.fraction_done,
        estimatedTimeToStartSeconds=task.estimatedTimeToStartSeconds,
        artifacts=artifacts,
        options=options,
        error=error,
        nextStep=_next_step(task, artifacts),
        simulated=simulated,
        createdAt=task.createdAt,
        credits=_credits(task),
    )


def _nearest_ratio(width: int | None, height: int | None) -> str | None:
    """The documented aspect ratio closest to an image's size (tasks do not record the ratio they were asked)."""
    if not width or not height:
        return None
    return min(ASPECT_RATIOS, key=lambda r: abs(width / height - int(r.split(":")[0]) / int(r.split(":")[1])))


def _summary(task: Task, artifacts: list[ArtifactOut], options: dict[str, Any]) -> str:
    """What was made, in words a model can repeat (the structured content is its only view in some clients)."""
    if task.status == "SUCCEEDED" and artifacts:
        n = len(artifacts)
        made = ", ".join(
            f"{label}{options[k]}"
            for k, label in (("aspect_ratio", ""), ("style", "style "), ("seed", "seed "))
            if k in options
        )
        return f"{n} image{'s' if n != 1 else ''} generated" + (f" ({made})" if made else "") + "."
    if task.is_terminal:
        return f"The task ended {task.status} without images."
    return f"The task is {task.status} on Runway; no images yet."


def _next_step(task: Task, artifacts: list[ArtifactOut]) -> str | None:
    if not task.is_known:
        return (
            f'useapi.net reported the status "{task.status}", which it does not document: the task may still be '
            f'running or may have ended. Call get_task with taskId "{task.taskId}" in a minute to see whether it '
            "turns SUCCEEDED or FAILED; do not generate again for it yet."
        )
    if task.status == "SUCCEEDED" and artifacts:
        return SUCCESS_STEP
    if not task.is_terminal:
        return (
            f'The task is still {task.status} on Runway and keeps running. Call get_task with taskId "{task.taskId}" '
            "and wait_seconds 45 to wait for it."
        )
    if task.succeeded and not artifacts:
        return (
            "Runway reported success but returned no images. Call get_task once more; if still empty, generate again."
        )
    if task.status != "SUCCEEDED":
        reason = (task.error.reason or "") if task.error else ""
        if task.error is not None and task.error.is_moderation:
            return (
                "The prompt was moderated. Rewrite it without the flagged content; do not resend it unchanged "
                "(repeated moderations can get the Runway account suspended)."
            )
        if reason.startswith("INTERNAL"):
            return "Runway failed internally; this is transient. Call generate_frames again with the same arguments."
        return "The task failed. Adjust the request as the error says, then call generate_frames again."
    return None


def _progress_phrase(r: TaskResult) -> str:
    if r.status in ("PENDING", "THROTTLED") and r.estimatedTimeToStartSeconds:
        return f"{r.status}, expected to start in about {math.ceil(r.estimatedTimeToStartSeconds)} s"
    if r.progress is not None:
        return f"{r.status}, {r.progress:.0%} done"
    return r.status


def summary_text(r: TaskResult, *, compact: bool = False) -> str:
    """What the model reads. `compact` leaves out the per-image lines (the URLs stay in structured content)."""
    lines: list[str] = []
    opts = r.options
    described = ", ".join(
        f"{label}{opts[key]}"
        for key, label in (("aspect_ratio", ""), ("style", "style "), ("seed", "seed "))
        if key in opts
    )
    if r.status == "SUCCEEDED" and r.artifacts:
        n = len(r.artifacts)
        lines.append(
            f"Task {r.taskId} SUCCEEDED: {n} image{'s' if n != 1 else ''}"
            + (f" ({described})" if described else "")
            + "."
        )
        for a in [] if compact else r.artifacts:
            size = f" {a.width}x{a.height}" if a.width and a.height else ""
            asset = f" assetId {a.assetId}" if a.assetId else ""
            lines.append(f"{a.index + 1}. [Image {a.index + 1}]({a.url}){size}{asset}")
        if compact:
            lines.append("The image URLs are in the structured content (artifacts[].url).")
        if r.preview is not None and r.preview.included:
            size = f"{r.preview.width}x{r.preview.height}"
            lines.append(f"A contact sheet of the images, numbered as above, follows ({size} JPEG).")
        lines.extend(f"Saved image {f.index + 1}: {f.path}" for f in ([] if compact else r.files))
    elif r.done:
        lines.append(f"Task {r.taskId} {r.status}.")
        if r.error is not None:
            details = "; ".join(
                f"{k}: {v}"
                for k, v in (
                    ("reason", r.error.reason),
                    ("moderation_category", r.error.moderation_category),
                    ("message", r.error.message),
                )
                if v
            )
            if details:
                lines.append(details)
    else:
        lines.append(f"Task {r.taskId} is {_progress_phrase(r)}.")
    if r.nextStep:
        lines.append(r.nextStep)
    if r.credits is not None:
        c = r.credits
        free = " This Explore-mode generation is not charged." if r.options.get("exploreMode") is True else ""
        lines.append(
            f"Credits: {c.used} of {c.permitted} plan credits used, {c.remaining} left (useapi, at create).{free}"
        )
    lines.extend(f"Note: {note}" for note in r.notes)
    if r.simulated:
        lines.append(DEMO_NOTE)
    return "\n".join(lines)


def call_tool_result(r: TaskResult, *, sheet: bytes | None = None) -> CallToolResult:
    """The whole tool result: summary text, the contact sheet, one resource_link per image and per saved
    file, the structured content; never more than RESULT_MAX_BYTES.

    A task that ended in failure (or without images) is an error result, still carrying its taskId.
    """
    failed = r.done and (r.status != "SUCCEEDED" or not r.artifacts)
    return _within_cap(r, None, sheet, is_error=failed, summary=True)


def error_result(r: TaskResult, message: str) -> CallToolResult:
    """An error that happened after the task was created: the taskId must survive it."""
    text = f"{message}\nThe task was created: taskId {r.taskId}. It may still finish; call get_task with this taskId."
    return _within_cap(r, text, None, is_error=True, summary=False)


def result_size(result: CallToolResult) -> int:
    """Bytes of the result as JSON, non-ASCII escaped: an upper bound of what any transport sends."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True)))


def _content(r: TaskResult, text: str, sheet: bytes | None, links: bool) -> list[ContentBlock]:
    content: list[ContentBlock] = [TextContent(type="text", text=text)]
    if sheet is not None:
        # After the text: clients without image support still get everything in it.
        content.append(
            ImageContent(
                type="image",
                data=base64.b64encode(sheet).decode("ascii"),
                mime_type="image/jpeg",
                annotations=Annotations(audience=["assistant"], priority=0.5),
            )
        )
    if not links:
        return content
    # Saved files only: an image's URL is in the text and in the structured content already, and clients that
    # show the model the structured content turn each link into one more copy of it (Claude Code).
    for f in r.files:
        content.append(
            ResourceLink(
                type="resource_link",
                name=PurePath(f.path).name,
                title=f"Frames image {f.index + 1} (saved)",
                uri=f.uri,
                mime_type=f.mimeType,
            )
        )
    return content


def _within_cap(
    r: TaskResult, head: str | None, sheet: bytes | None, *, is_error: bool, summary: bool
) -> CallToolResult:
    """Build the result, giving things up in order of least value until it fits RESULT_MAX_BYTES: the
    contact sheet, then the links (they repeat structured content), then the per-image text lines, then
    images beyond the first ones, and at last everything but the task's identity and state."""
    limit = RESULT_MAX_BYTES - _ENVELOPE
    links, compact, keep = True, False, len(r.artifacts)
    while True:
        text = summary_text(r, compact=compact) if summary else ""
        text = "\n".join(t for t in (head, text) if t)
        result = CallToolResult(
            content=_content(r, text, sheet, links),
            structured_content=r.wire(),
            is_error=is_error,
        )
        if result_size(result) <= limit:
            return result
        if sheet is not None:
            sheet = None
            if r.preview is not None:
                r = r.model_copy(update={"preview": r.preview.model_copy(update={"included": False})})
            r = _noted(r, f"The contact sheet was left out {_CAP_REASON}")
        elif links:
            links = False
            r = _noted(r, f"Resource links were left out {_CAP_REASON}")
        elif not compact:
            compact = True
        elif keep > 1:
            keep //= 2
            r = r.model_copy(update={"artifacts": r.artifacts[:keep], "files": r.files[:keep]})
            r = _noted(r, f"Only the first {keep} images are listed {_CAP_REASON}", replaces="Only the first ")
        else:
            return _minimal(r, is_error)


def _noted(r: TaskResult, note: str, replaces: str | None = None) -> TaskResult:
    kept = [n for n in r.notes if not (replaces and n.startswith(replaces) and n.endswith(_CAP_REASON))]
    return r.model_copy(update={"notes": [*kept, note]})


def _minimal(r: TaskResult, is_error: bool) -> CallToolResult:
    """The last resort: who the task is and where it stands, which always fits."""
    small = TaskResult(
        taskId=r.taskId[:500],
        status=r.status[:40],
        done=r.done,
        progress=r.progress,
        notes=["The task's details are too large to return; call get_task with its taskId."],
    )
    text = f"Task {small.taskId} {small.status}. {small.notes[0]}"
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=small.wire(),
        is_error=is_error,
    )

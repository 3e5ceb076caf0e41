"""Task -> what the client receives: structured content, a summary for the model, one link per image."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent

from frames_mcp.models import ASPECT_RATIOS, ArtifactOut, FailureOut, Task, TaskResult

# Options worth echoing back: what the model needs to vary or reproduce a result.
_ECHOED_OPTIONS = (
    "text_prompt",
    "aspect_ratio",
    "style",
    "seed",
    "diversity",
    "num_images",
    "exploreMode",
    "width",
    "height",
)

EXPIRY_NOTE = "Image links are signed and expire within 24-48 h; call get_task with the taskId for fresh ones."
DEMO_NOTE = "Demo mode: this task ran on the built-in simulator; its images are placeholders, not Runway output."


def _mime_for(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for ext, mime in ((".jpg", "image/jpeg"), (".jpeg", "image/jpeg"), (".webp", "image/webp"), (".gif", "image/gif")):
        if path.endswith(ext):
            return mime
    return "image/png"


def task_result(task: Task, *, requested: dict[str, Any] | None = None, simulated: bool = False) -> TaskResult:
    """The structured view of a task. `requested` fills options the task does not echo (aspect_ratio)."""
    options: dict[str, Any] = {k: v for k, v in (requested or {}).items() if k in _ECHOED_OPTIONS}
    options.update({k: v for k, v in (task.options or {}).items() if k in _ECHOED_OPTIONS and v is not None})
    artifacts = []
    for i, a in enumerate(task.artifacts):
        if not a.url:
            continue
        width, height = a.dimensions()
        preview = a.previewUrls[0] if a.previewUrls else None
        artifacts.append(
            ArtifactOut(index=i, url=a.url, previewUrl=preview, assetId=a.assetId, width=width, height=height)
        )
    if "aspect_ratio" not in options and artifacts:
        ratio = _nearest_ratio(artifacts[0].width, artifacts[0].height)
        if ratio:
            options["aspect_ratio"] = ratio
    error = None
    if task.error is not None and task.status not in ("SUCCEEDED",):
        error = FailureOut(
            reason=task.error.reason,
            moderation_category=task.error.moderation_category,
            message=task.error.message or task.error.errorMessage,
        )
    progress = 1.0 if task.succeeded else task.progressRatio
    if progress is not None:
        progress = min(1.0, max(0.0, progress))
    return TaskResult(
        taskId=task.taskId,
        status=task.status,
        done=task.is_terminal,
        progress=progress,
        estimatedTimeToStartSeconds=task.estimatedTimeToStartSeconds,
        artifacts=artifacts,
        options=options,
        error=error,
        nextStep=_next_step(task, artifacts),
        simulated=simulated,
    )


def _nearest_ratio(width: int | None, height: int | None) -> str | None:
    """The documented aspect ratio closest to an image's size (tasks do not record the ratio they were asked)."""
    if not width or not height:
        return None
    return min(ASPECT_RATIOS, key=lambda r: abs(width / height - int(r.split(":")[0]) / int(r.split(":")[1])))


def _next_step(task: Task, artifacts: list[ArtifactOut]) -> str | None:
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
        if reason.startswith("SAFETY"):
            return "The prompt was moderated. Rewrite it without the flagged content; do not resend it unchanged."
        if reason.startswith("INTERNAL"):
            return "Runway failed internally; this is transient. Call generate_frames again with the same arguments."
        return "The task failed. Adjust the request as the error says, then call generate_frames again."
    return None


def _progress_phrase(r: TaskResult) -> str:
    if r.status in ("PENDING", "THROTTLED") and r.estimatedTimeToStartSeconds:
        return f"{r.status}, expected to start in about {r.estimatedTimeToStartSeconds:.0f} s"
    if r.progress is not None:
        return f"{r.status}, {r.progress:.0%} done"
    return r.status


def summary_text(r: TaskResult) -> str:
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
        for a in r.artifacts:
            size = f" {a.width}x{a.height}" if a.width and a.height else ""
            asset = f" assetId {a.assetId}" if a.assetId else ""
            lines.append(f"{a.index + 1}. [Image {a.index + 1}]({a.url}){size}{asset}")
        lines.append(EXPIRY_NOTE)
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
    if r.simulated:
        lines.append(DEMO_NOTE)
    return "\n".join(lines)


def call_tool_result(r: TaskResult, *, extra_text: str | None = None) -> CallToolResult:
    """The whole tool result: summary text, one resource_link per image, the structured content.

    A task that ended in failure (or without images) is an error result, still carrying its taskId.
    """
    text = summary_text(r) if extra_text is None else f"{extra_text}\n{summary_text(r)}"
    content: list[ContentBlock] = [TextContent(type="text", text=text)]
    for a in r.artifacts:
        content.append(
            ResourceLink(
                type="resource_link",
                name=f"frames-{a.index + 1}",
                title=f"Frames image {a.index + 1}",
                uri=a.url,
                mime_type=_mime_for(a.url),
            )
        )
    failed = r.done and (r.status != "SUCCEEDED" or not r.artifacts)
    return CallToolResult(content=content, structured_content=r.model_dump(mode="json"), is_error=failed)


def error_result(r: TaskResult, message: str) -> CallToolResult:
    """An error that happened after the task was created: the taskId must survive it."""
    text = f"{message}\nThe task was created: taskId {r.taskId}. It may still finish; call get_task with this taskId."
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=r.model_dump(mode="json"), is_error=True
    )

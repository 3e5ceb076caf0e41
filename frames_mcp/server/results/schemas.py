"""What the tools return: the models of their structured content, whose JSON schemas are the outputSchemas.

The single source of those schemas; `CompactSchema` publishes them without $defs or anyOf-null wrappers.
"""

# No `from __future__ import annotations` here: pydantic evaluates every string annotation of a model when
# the class is made, and these are made at each start (startup, BENCHMARKS.md).
from typing import Any, Literal

from pydantic import Field

from frames_mcp.server.results.compact import CompactSchema, Deferred


class ArtifactOut(Deferred):
    index: int = Field(description="Position of the image in the task, from 0.")
    url: str = Field(description="Full-size image URL. Signed; expires within 24-48 h: call get_task to re-sign.")
    assetId: str | None = Field(default=None, description="Runway assetId of the image, reusable as a reference image.")
    width: int | None = None
    height: int | None = None


class FailureOut(Deferred):
    reason: str | None = Field(default=None, description="e.g. SAFETY.INPUT.TEXT (moderated: do not retry).")
    moderation_category: str | None = None
    message: str | None = None


class CreditsOut(Deferred):
    """The plan credits useapi reported with the create answer (its `features`)."""

    used: int
    permitted: int
    remaining: int


class SavedFile(Deferred):
    index: int = Field(description="Position of the image in the task, from 0.")
    path: str = Field(description="Absolute path of the saved file, inside FRAMES_MCP_OUTPUT_DIR.")
    uri: str = Field(description="The same file as a file:// URI.")
    mimeType: str
    bytes: int


class PreviewInfo(Deferred):
    """The contact sheet: every image of the task, downscaled into one JPEG grid."""

    mimeType: str = "image/jpeg"
    width: int
    height: int
    bytes: int
    images: list[int] = Field(description="Indexes of the images on the sheet, left to right, top to bottom.")
    included: bool = Field(
        default=True, description="False when the sheet had to be left out of this result to keep it small."
    )


class TaskResult(CompactSchema):
    """The state of one Frames task, as generate_frames and get_task report it.

    Also the model's whole view in clients that show it the structured content instead of the text (Claude
    Code): field names and values explain themselves, and `wire()` leaves out what is empty."""

    taskId: str = Field(description="The useapi taskId; pass it to get_task to check or re-read the task.")
    status: str = Field(
        description="PENDING, RUNNING, THROTTLED, SUCCEEDED, FAILED or CANCELLED; UNKNOWN or another word when "
        "useapi reports a status it does not document (nextStep says what to do)."
    )
    done: bool = Field(description="True when the task reached a final status.")
    summary: str = Field(default="", description="One line on what was made, or where the task stands.")
    progress: float | None = Field(default=None, ge=0, le=1, description="Fraction complete, 0..1, if known.")
    estimatedTimeToStartSeconds: float | None = Field(
        default=None, description="Runway's estimate of seconds until a queued task starts."
    )
    artifacts: list[ArtifactOut] = Field(default_factory=list, description="The generated images, once SUCCEEDED.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="The generation options as the task records them (prompt, seed, ...)."
    )
    error: FailureOut | None = Field(default=None, description="Why the task failed, when it did.")
    nextStep: str | None = Field(default=None, description="What to do next, when anything is left to do.")
    simulated: bool = Field(default=False, description="True in demo mode: images are simulated placeholders.")
    createdAt: str | None = Field(default=None, description="When the task was created (ISO 8601), if known.")
    credits: CreditsOut | None = Field(
        default=None, description="The account's plan credits as useapi reported them when this call created the task."
    )
    preview: PreviewInfo | None = Field(
        default=None, description="The contact sheet in this result (one JPEG of all images), when one was made."
    )
    files: list[SavedFile] = Field(
        default_factory=list, description="Images saved to the server's output directory (save=true)."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What could not be done for this result (a preview or a file that failed, a size cap applied).",
    )

    def wire(self) -> dict[str, Any]:
        """The structured content as sent: JSON without the fields that are null or at their default (each is
        optional in the schema, its default published), so that a model reading it pays only for what says
        something."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


class UploadedAsset(Deferred):
    """A reference image uploaded with upload_image."""

    assetId: str = Field(description="Pass it to generate_frames as imageAssetId1..3 and cite it as @IMG_1..3.")
    name: str
    mimeType: str
    bytes: int
    width: int | None = None
    height: int | None = None
    email: str | None = Field(
        default=None, description="The Runway account holding the asset; tasks using it run there."
    )
    url: str | None = Field(default=None, description="Signed URL of the uploaded image (expires).")


class ImageDescription(Deferred):
    assetId: str
    prompt: str = Field(description="A starting prompt for Frames (Subject / Scene / Style), to edit before use.")


# ---- list_tasks ------------------------------------------------------------------------------------------

ListedStatus = Literal["PENDING", "RUNNING", "THROTTLED", "SUCCEEDED", "FAILED"]


class LedgerTaskOut(Deferred):
    taskId: str = Field(description="Pass it to get_task to wait for the task or fetch its images.")
    account: str | None = Field(default=None, description="The Runway account the task runs on.")
    prompt: str = Field(description="The start of the task's text_prompt.")
    createdAt: str = Field(description="When this server created the task (UTC, ISO 8601).")
    status: str = Field(description="The last known status.")
    done: bool = Field(description="True when the task reached a final status.")
    progress: float | None = Field(default=None, ge=0, le=1, description="Fraction complete, when known.")
    checkedAt: str = Field(description="When the status was last read from useapi.net (UTC, ISO 8601).")


class AccountTaskOut(Deferred):
    taskId: str
    status: str
    done: bool
    progress: float | None = Field(default=None, ge=0, le=1)
    prompt: str | None = Field(default=None, description="The start of the task's text_prompt, when it has one.")
    createdAt: str | None = None
    images: int = Field(default=0, description="How many images the task produced.")


class TaskListResult(CompactSchema):
    """This server's recent tasks, newest first, and on request the account's own task list."""

    tasks: list[LedgerTaskOut] = Field(
        description="Tasks this server created (newest first), each with its last known status: this install's "
        "earlier runs and the other servers sharing its store included."
    )
    account: list[AccountTaskOut] | None = Field(
        default=None, description="The account's task list from useapi.net (GET /v1/runwayml/tasks), when asked."
    )
    accountError: str | None = Field(default=None, description="Why the account's task list could not be read.")
    storeError: str | None = Field(default=None, description="Why this server's task records could not be read.")

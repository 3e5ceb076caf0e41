"""The documented vocabulary of useapi's Runway Frames API, as pydantic models.

These models are the single source of truth for what the model sees: the tool input schemas are
generated from `FramesRequest`, the output schema from `TaskResult`. Field descriptions quote the
useapi docs (POST /v1/runwayml/frames/create) where the docs have words for them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Style = Literal[
    "vivid",
    "vivid-warm",
    "vivid-cool",
    "high-contrast",
    "high-contrast-warm",
    "high-contrast-cool",
    "bw",
    "bw-contrast",
    "muted-pastel",
    "dreamscape",
    "nordic-minimal",
    "light-anime",
    "dark-anime",
    "painted-anime",
    "3d-cartoon",
    "sketch",
    "low-angle",
    "in-motion",
    "terracotta",
]
STYLES: tuple[str, ...] = get_args(Style)

AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
ASPECT_RATIOS: tuple[str, ...] = get_args(AspectRatio)

SEED_MIN, SEED_MAX = 1, 4294967294
DIVERSITY_MIN, DIVERSITY_MAX, DIVERSITY_DEFAULT = 0, 5, 2
PROMPT_MAX = 1000
REPLY_MAX = 1024
WAIT_MAX = 50

# Statuses useapi documents, plus CANCELLED, which Runway's own API has and clients treat as terminal.
IN_PROGRESS_STATUSES = frozenset({"PENDING", "RUNNING", "THROTTLED"})
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "CANCELED"})

# `user:<digits>-runwayml:<account email>-task:<uuid>`: checked before any request, so a value such as
# `../accounts` can never reach another endpoint. The email part allows what addresses allow, never `/`.
TASK_ID_PATTERN = (
    r"^user:[0-9]+-runwayml:[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+-task:"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
TASK_ID_RE = re.compile(TASK_ID_PATTERN)
EMAIL_PATTERN = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$"

TaskId = Annotated[
    str,
    Field(
        pattern=TASK_ID_PATTERN,
        max_length=400,
        description="The taskId returned by generate_frames: user:<digits>-runwayml:<account email>-task:<uuid>.",
        examples=["user:1234-runwayml:me@example.com-task:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"],
    ),
]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
EMAIL_DOC = (
    "Optional Runway API account email. If not provided, the server's configured default account is used; "
    "with none configured the API randomly selects an available account."
)


class FramesRequest(BaseModel):
    """The body of POST /v1/runwayml/frames/create, with the documented limits."""

    model_config = ConfigDict(extra="forbid")

    text_prompt: str = Field(
        min_length=1,
        max_length=PROMPT_MAX,
        description="Describe your image in detail: subject, scene, lighting, camera, mood. "
        "Maximum length 1000 characters. Phrase things positively (what should be in the frame).",
    )
    aspect_ratio: AspectRatio = Field(
        default="16:9", description="Supported values: 16:9 (default), 9:16, 1:1, 4:3, 3:4, 21:9."
    )
    style: Style | None = Field(
        default=None,
        description="Optional style preset (see list_styles). Leave it out for no preset.",
    )
    diversity: int = Field(
        default=DIVERSITY_DEFAULT,
        ge=DIVERSITY_MIN,
        le=DIVERSITY_MAX,
        description="Aesthetic Range, higher values increase the creative variation between generations "
        "in a set. Valid range: 0…5. Default 2.",
    )
    seed: int | None = Field(
        default=None,
        ge=SEED_MIN,
        le=SEED_MAX,
        description="Optional seed, valid range 1…4294967294. Reuse a result's seed to vary one image.",
    )
    num_images: Literal[1, 4] = Field(
        default=4, description="How many images to generate in this task: 1 or 4. Default 4."
    )
    exploreMode: bool = Field(
        default=False,
        description="Set to true if you have a Runway Unlimited plan and wish to execute relaxed "
        "generation. You are not charged credits for Explore mode generations; they may queue longer.",
    )
    replyUrl: str | None = Field(
        default=None,
        max_length=REPLY_MAX,
        pattern=r"^https?://\S+$",
        description="Optional callback URL (http or https). The API will call it once the Runway task "
        "completed or failed. Maximum length 1024 characters.",
    )
    replyRef: str | None = Field(
        default=None,
        max_length=REPLY_MAX,
        description="Optional reference id which will be stored and returned along with this Runway task "
        "response / result. Maximum length 1024 characters.",
    )
    maxJobs: int | None = Field(
        default=None,
        ge=1,
        le=10,
        description="Optional maximum number of concurrent jobs for the account. Valid range: 1…10.",
    )
    email: Email | None = Field(default=None, description=EMAIL_DOC)

    def body(self) -> dict[str, Any]:
        """The JSON body to send: unset optionals left out, num_images always sent."""
        return self.model_dump(exclude_none=True)


# ---- what useapi returns ---------------------------------------------------------------------------


class _Lenient(BaseModel):
    """Upstream shapes: unknown fields are ignored, documented ones may be missing."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TaskError(_Lenient):
    errorMessage: str | None = None
    reason: str | None = None
    message: str | None = None
    moderation_category: str | None = None
    tally_asimov: bool | None = None

    def summary(self) -> str:
        parts = [p for p in (self.reason, self.moderation_category, self.message or self.errorMessage) if p]
        return " / ".join(dict.fromkeys(parts)) or "no reason given"


class ArtifactSize(_Lenient):
    width: int | None = None
    height: int | None = None


class ArtifactMetadata(_Lenient):
    dimensions: list[int] | None = None
    size: ArtifactSize | None = None


class Artifact(_Lenient):
    assetId: str | None = None
    id: str | None = None
    url: str | None = None
    previewUrls: list[str] = Field(default_factory=list)
    fileSize: str | int | None = None
    filename: str | None = None
    metadata: ArtifactMetadata | None = None

    @field_validator("previewUrls", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v

    def dimensions(self) -> tuple[int | None, int | None]:
        md = self.metadata
        if md is None:
            return None, None
        if md.size is not None and (md.size.width or md.size.height):
            return md.size.width, md.size.height
        if md.dimensions and len(md.dimensions) >= 2:
            return md.dimensions[0], md.dimensions[1]
        return None, None


def _number_or_none(v: Any) -> Any:
    """progressRatio arrives as a string ("0.42") or a number; anything unparsable is unknown."""
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


class Task(_Lenient):
    """A useapi Runway task as returned by frames/create and GET tasks/{taskId}."""

    taskId: str
    id: str | None = None
    status: str = "PENDING"
    taskType: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    options: dict[str, Any] | None = None
    progressText: str | None = None
    progressRatio: float | None = None
    estimatedTimeToStartSeconds: float | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    error: TaskError | None = None
    replyRef: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        # Some useapi endpoints answer {"task": {...}} instead of the task itself.
        if isinstance(data, dict) and "taskId" not in data and isinstance(data.get("task"), dict):
            return data["task"]
        return data

    @field_validator("progressRatio", "estimatedTimeToStartSeconds", mode="before")
    @classmethod
    def _parse_number(cls, v: Any) -> Any:
        return _number_or_none(v)

    @field_validator("artifacts", mode="before")
    @classmethod
    def _artifacts_list(cls, v: Any) -> Any:
        return [a for a in v if isinstance(a, dict)] if isinstance(v, list) else []

    @field_validator("error", mode="before")
    @classmethod
    def _error_object(cls, v: Any) -> Any:
        # Documented as an object; older tasks and other clients show a plain string.
        if v is None or v == "" or isinstance(v, dict):
            return v or None
        return {"message": str(v)}

    @field_validator("status", mode="before")
    @classmethod
    def _status_upper(cls, v: Any) -> Any:
        return str(v).upper() if v else "PENDING"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


# ---- what the tools return (structured content; its schema is the tools' outputSchema) --------------


class ArtifactOut(BaseModel):
    index: int = Field(description="Position of the image in the task, from 0.")
    url: str = Field(description="Full-size image URL. Signed; expires within 24-48 h: call get_task to re-sign.")
    previewUrl: str | None = Field(default=None, description="A smaller preview of the image, when given.")
    assetId: str | None = Field(default=None, description="Runway assetId of the image, reusable as a reference image.")
    width: int | None = None
    height: int | None = None


class FailureOut(BaseModel):
    reason: str | None = Field(default=None, description="e.g. SAFETY.INPUT.TEXT (moderated: do not retry).")
    moderation_category: str | None = None
    message: str | None = None


class TaskResult(BaseModel):
    """The state of one Frames task, as generate_frames and get_task report it."""

    taskId: str = Field(description="The useapi taskId; pass it to get_task to check or re-read the task.")
    status: str = Field(description="PENDING, RUNNING, THROTTLED, SUCCEEDED, FAILED or CANCELLED.")
    done: bool = Field(description="True when the task reached a final status.")
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

"""The documented vocabulary of useapi's Runway Frames API, as pydantic models. No MCP types here.

`FramesRequest` is the single source of truth for generate_frames' input schema, with the documented limits;
its field descriptions quote the useapi docs (POST /v1/runwayml/frames/create) where the docs have words for
them. `Task`, `Artifact` and `Asset` read what useapi answers, leniently.
"""

# No `from __future__ import annotations` here: pydantic evaluates every string annotation of a model when
# the class is made, and these are made at each start (startup, BENCHMARKS.md).
import math
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from frames_mcp.useapi.ids import EMAIL_DOC, AssetId, Email

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

# Statuses useapi documents, plus CANCELLED, which Runway's own API has and clients treat as terminal.
IN_PROGRESS_STATUSES = frozenset({"PENDING", "RUNNING", "THROTTLED"})
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "CANCELED"})

REFERENCE_COUNT = 3
_IMG_TAG = re.compile(r"@IMG_(\d+)")


def _reference_doc(n: int) -> str:
    if n > 1:
        return f"Reference image @IMG_{n}, like imageAssetId1."
    return (
        "Reference image: an assetId (upload_image, or a result's), cited in text_prompt as @IMG_1. "
        "Leave email out with references."
    )


class FramesRequest(BaseModel):
    """The body of POST /v1/runwayml/frames/create, with the documented limits."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    text_prompt: str = Field(
        min_length=1,
        max_length=PROMPT_MAX,
        description="The picture in detail: subject, scene, lighting, camera, mood, phrased positively. "
        "Maximum length 1000 characters.",
    )
    aspect_ratio: AspectRatio = Field(default="16:9", description="Shape of the images.")
    style: Style | None = Field(
        default=None,
        description="A style preset (list_styles describes them); none when left out.",
    )
    diversity: int = Field(
        default=DIVERSITY_DEFAULT,
        ge=DIVERSITY_MIN,
        le=DIVERSITY_MAX,
        description="Aesthetic Range: higher values vary the images of a set more.",
    )
    seed: int | None = Field(
        default=None,
        ge=SEED_MIN,
        le=SEED_MAX,
        description="Reuse a result's seed to vary one image.",
    )
    num_images: Literal[1, 4] = Field(default=4, description="Images in this task.")
    exploreMode: bool = Field(
        default=False,
        description="Explore mode (Runway Unlimited plans): no credits charged, may queue longer.",
    )
    replyUrl: str | None = Field(
        default=None,
        max_length=REPLY_MAX,
        pattern=r"^https?://\S+$",
        description="A URL useapi.net calls once the task completed or failed.",
    )
    replyRef: str | None = Field(
        default=None,
        max_length=REPLY_MAX,
        description="Your reference id, stored and returned with the task.",
    )
    maxJobs: int | None = Field(
        default=None,
        ge=1,
        le=10,
        description="Tasks at once on the account (more wait in line). Default: the account's, else 5.",
    )
    email: Email | None = Field(default=None, description=EMAIL_DOC)
    imageAssetId1: AssetId | None = Field(default=None, description=_reference_doc(1))
    imageAssetId2: AssetId | None = Field(default=None, description=_reference_doc(2))
    imageAssetId3: AssetId | None = Field(default=None, description=_reference_doc(3))

    def body(self) -> dict[str, Any]:
        """The JSON body to send: unset optionals left out, num_images always sent."""
        return self.model_dump(exclude_none=True)

    @property
    def references(self) -> dict[int, str]:
        """The reference images given, by their @IMG_n number."""
        given = (self.imageAssetId1, self.imageAssetId2, self.imageAssetId3)
        return {n: a for n, a in enumerate(given, start=1) if a is not None}

    def reference_problem(self) -> str | None:
        """Why the prompt's @IMG_n tags and the imageAssetIdN fields disagree, if they do.

        Checked before the paid create: a prompt citing @IMG_2 with no imageAssetId2 would still run
        and spend credits on an image that cannot show what was asked.
        """
        cited = sorted({int(n) for n in _IMG_TAG.findall(self.text_prompt)})
        beyond = [n for n in cited if not 1 <= n <= REFERENCE_COUNT]
        if beyond:
            return f"text_prompt cites @IMG_{beyond[0]}, but Frames takes at most {REFERENCE_COUNT} reference images."
        missing = [n for n in cited if n not in self.references]
        if missing:
            tags = ", ".join(f"@IMG_{n}" for n in missing)
            fields = ", ".join(f"imageAssetId{n}" for n in missing)
            return f"text_prompt cites {tags} but {fields} is not set: upload the image with upload_image first."
        return None


# ---- what useapi returns ---------------------------------------------------------------------------


class _Lenient(BaseModel):
    """Upstream shapes: unknown fields are ignored, documented ones may be missing."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


# ---- numbers and text from upstream: finite and in range, or unknown ---------------------------------------
# Nothing useapi sends may reach a schedule, a format or a file name unchecked: a value out of its range counts
# as unknown (None), so `"NaN"` (JavaScript's String(NaN)), Infinity or -3 can never make a wait spin or a
# rendering crash, and one odd field never makes a whole task unreadable.

MAX_QUEUE_SECONDS = 86_400.0  # a queue estimate beyond a day is not an estimate
MAX_PIXELS_PER_SIDE = 100_000
MAX_CREDITS = 10**12
TEXT_MAX = 4_000  # any one text field kept from upstream
UNKNOWN_STATUS = "UNKNOWN"  # what a missing, null or non-text status reads as


def finite(value: Any, low: float, high: float) -> float | None:
    """A number (or numeric string) within [low, high], else None. Booleans are not numbers here."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _whole(value: Any, low: int, high: int) -> int | None:
    number = finite(value, low, high)
    return int(number) if number is not None and number.is_integer() else None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value[:TEXT_MAX]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


Ratio = Annotated[float | None, BeforeValidator(lambda v: finite(v, 0.0, 1.0))]
QueueSeconds = Annotated[float | None, BeforeValidator(lambda v: finite(v, 0.0, MAX_QUEUE_SECONDS))]
Pixels = Annotated[int | None, BeforeValidator(lambda v: _whole(v, 1, MAX_PIXELS_PER_SIDE))]
Credits = Annotated[int | None, BeforeValidator(lambda v: _whole(v, 0, MAX_CREDITS))]
Text = Annotated[str | None, BeforeValidator(_text)]
Flag = Annotated[bool | None, BeforeValidator(lambda v: v if isinstance(v, bool) else None)]
ObjectOnly = BeforeValidator(lambda v: v if isinstance(v, dict) else None)  # a JSON object, else unknown


class TaskError(_Lenient):
    errorMessage: Text = None
    reason: Text = None
    message: Text = None
    moderation_category: Text = None
    tally_asimov: Flag = None

    def summary(self) -> str:
        parts = [p for p in (self.reason, self.moderation_category, self.message or self.errorMessage) if p]
        return " / ".join(dict.fromkeys(parts)) or "no reason given"

    @property
    def is_moderation(self) -> bool:
        """Any reason that names SAFETY (SAFETY.INPUT.TEXT, INPUT_PREPROCESSING.SAFETY.TEXT, ...) or any
        moderation_category: repeated moderations can get the account suspended, so none is "just retry"."""
        return "SAFETY" in (self.reason or "").upper() or bool((self.moderation_category or "").strip())


class ArtifactSize(_Lenient):
    width: Pixels = None
    height: Pixels = None


def _pixel_list(value: Any) -> Any:
    return [_whole(v, 1, MAX_PIXELS_PER_SIDE) for v in value[:3]] if isinstance(value, list) else None


class ArtifactMetadata(_Lenient):
    dimensions: Annotated[list[int | None] | None, BeforeValidator(_pixel_list)] = None
    size: Annotated[ArtifactSize | None, ObjectOnly] = None


class _Media(_Lenient):
    """What artifacts and uploaded assets share: ids, signed URLs and the image size."""

    assetId: Text = None
    id: Text = None
    url: Text = None
    previewUrls: list[str] = Field(default_factory=list)
    # Documented for artifacts; null for an uploaded image.
    metadata: Annotated[ArtifactMetadata | None, ObjectOnly] = None

    @field_validator("previewUrls", mode="before")
    @classmethod
    def _text_list(cls, v: Any) -> Any:
        return [u for u in v if isinstance(u, str)] if isinstance(v, list) else []

    def dimensions(self) -> tuple[int | None, int | None]:
        md = self.metadata
        if md is None:
            return None, None
        if md.size is not None and (md.size.width or md.size.height):
            return md.size.width, md.size.height
        if md.dimensions and len(md.dimensions) >= 2:
            return md.dimensions[0], md.dimensions[1]
        return None, None


class Asset(_Media):
    """An asset as POST /assets returns it. The documented upload answer has no email, metadata or fileSize."""

    name: Text = None
    email: Text = None


class Artifact(_Media):
    fileSize: Text = None
    filename: Text = None


class PlanCredits(_Lenient):
    """`features` of a create answer: the account's plan credits as useapi reports them at create."""

    permitted: Credits = Field(default=None, alias="numPlanCredits_permitted")
    used: Credits = Field(default=None, alias="numPlanCredits_used")

    @property
    def remaining(self) -> int | None:
        if self.permitted is None or self.used is None or self.used > self.permitted:
            return None
        return self.permitted - self.used


class Task(_Lenient):
    """A useapi Runway task as returned by frames/create and GET tasks/{taskId}."""

    taskId: str
    id: Text = None
    status: str = UNKNOWN_STATUS
    taskType: Text = None
    createdAt: Text = None
    updatedAt: Text = None
    options: Annotated[dict[str, Any] | None, ObjectOnly] = None
    progressText: Text = None
    progressRatio: Ratio = None
    estimatedTimeToStartSeconds: QueueSeconds = None
    artifacts: list[Artifact] = Field(default_factory=list)
    error: TaskError | None = None
    replyRef: Text = None
    features: Annotated[PlanCredits | None, ObjectOnly] = None  # create answers only

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        # Some useapi endpoints answer {"task": {...}} instead of the task itself.
        if isinstance(data, dict) and "taskId" not in data and isinstance(data.get("task"), dict):
            return data["task"]
        return data

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
        return {"message": _text(v) or "unreadable error"}

    @field_validator("status", mode="before")
    @classmethod
    def _status_upper(cls, v: Any) -> Any:
        # Null, a number or an object is no status: UNKNOWN (see `is_known`), never a silent PENDING.
        text = v.strip().upper()[:40] if isinstance(v, str) else ""
        return text or UNKNOWN_STATUS

    @property
    def is_known(self) -> bool:
        """A status useapi documents. Any other keeps being polled within a call's budget, but holds no
        admission slot (see jobs/service.py), since nothing says it will ever turn final."""
        return self.status in IN_PROGRESS_STATUSES or self.status in TERMINAL_STATUSES

    def real_size(self) -> tuple[int | None, int | None]:
        """options.width/height in the image's real orientation: Runway reports them portrait-first, with
        `flip: true` for landscape (16:9 shows width 1088, height 1920)."""
        options = self.options or {}
        width = _whole(options.get("width"), 1, MAX_PIXELS_PER_SIDE)
        height = _whole(options.get("height"), 1, MAX_PIXELS_PER_SIDE)
        return (height, width) if options.get("flip") is True else (width, height)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def fraction_done(self) -> float | None:
        """Progress in 0..1 (1 once succeeded), or None when unknown."""
        if self.succeeded:
            return 1.0
        return None if self.progressRatio is None else min(1.0, max(0.0, self.progressRatio))

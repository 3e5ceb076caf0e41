"""The documented vocabulary of useapi's Runway Frames API, as pydantic models. No MCP types here.

`FramesRequest` is the single source of truth for generate_frames' input schema, with the documented limits;
its field descriptions quote the useapi docs (POST /v1/runwayml/frames/create) where the docs have words for
them. `Task`, `Artifact` and `Asset` read what useapi answers, leniently.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    return (
        f"Optional reference image {n}: an assetId from upload_image (or an artifacts[].assetId of an earlier task). "
        f"Cite it in text_prompt as @IMG_{n}, e.g. '@IMG_1 riding a @IMG_2 with @IMG_3'. The task runs on the "
        "Runway account that holds the assets, so leave email out when you use references."
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


class _Media(_Lenient):
    """What artifacts and uploaded assets share: ids, signed URLs and the image size."""

    assetId: str | None = None
    id: str | None = None
    url: str | None = None
    previewUrls: list[str] = Field(default_factory=list)
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


class Asset(_Media):
    """An asset as POST /assets returns it."""

    name: str | None = None
    email: str | None = None


class Artifact(_Media):
    fileSize: str | int | None = None
    filename: str | None = None


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

    @property
    def fraction_done(self) -> float | None:
        """Progress in 0..1 (1 once succeeded), or None when unknown."""
        if self.succeeded:
            return 1.0
        return None if self.progressRatio is None else min(1.0, max(0.0, self.progressRatio))

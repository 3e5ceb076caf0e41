"""The documented vocabulary of useapi's Runway Frames API, as pydantic models.

These models are the single source of truth for what the model sees: the tool input schemas are
generated from `FramesRequest`, the output schema from `TaskResult`. Field descriptions quote the
useapi docs (POST /v1/runwayml/frames/create) where the docs have words for them.
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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

# An assetId is passed through opaquely (its documented forms vary: `user:1234-runwayml:<email>-asset:<uuid>`,
# `user:1234-runwayml:<email>:<uuid>`), but it goes into a URL path, so it must be one safe segment:
# no `/`, no `%` (which could decode to one), no `?` or `#`, and not only dots.
ASSET_ID_PATTERN = r"^[A-Za-z0-9._:@+\-]*[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]*$"
ASSET_ID_RE = re.compile(ASSET_ID_PATTERN)
ASSET_ID_MAX = 400
AssetId = Annotated[
    str,
    Field(
        pattern=ASSET_ID_PATTERN,
        max_length=ASSET_ID_MAX,
        description="A Runway assetId, as upload_image or an image of a finished task (artifacts[].assetId) gives it.",
        examples=["user:1234-runwayml:me@example.com-asset:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"],
    ),
]
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


class SavedFile(BaseModel):
    index: int = Field(description="Position of the image in the task, from 0.")
    path: str = Field(description="Absolute path of the saved file, inside FRAMES_MCP_OUTPUT_DIR.")
    uri: str = Field(description="The same file as a file:// URI.")
    mimeType: str
    bytes: int


class PreviewInfo(BaseModel):
    """The contact sheet: every image of the task, downscaled into one JPEG grid."""

    mimeType: str = "image/jpeg"
    width: int
    height: int
    bytes: int
    images: list[int] = Field(description="Indexes of the images on the sheet, left to right, top to bottom.")
    included: bool = Field(
        default=True, description="False when the sheet had to be left out of this result to keep it small."
    )


def _compact(schema: Any, handler: GetJsonSchemaHandler, inlining: frozenset[str] = frozenset()) -> Any:
    """The same JSON schema with every $ref inlined and `X | None` written as a type array, not anyOf."""
    if isinstance(schema, list):
        return [_compact(item, handler, inlining) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in inlining:
            raise TypeError(f"{ref} refers to itself: a recursive model cannot be published inline")
        target = copy.deepcopy(handler.resolve_ref_schema({"$ref": ref}))
        return {**_compact(target, handler, inlining | {ref}), **{k: v for k, v in schema.items() if k != "$ref"}}
    out = {k: _compact(v, handler, inlining) for k, v in schema.items()}
    choices = out.get("anyOf")
    if isinstance(choices, list) and len(choices) == 2 and {"type": "null"} in choices:
        (other,) = [c for c in choices if c != {"type": "null"}]
        if isinstance(other.get("type"), str) and not {"enum", "const", "anyOf", "oneOf", "allOf"} & set(other):
            del out["anyOf"]
            out = {**{k: v for k, v in other.items() if k != "title"}, **out, "type": [other["type"], "null"]}
    return out


class _CompactSchema(BaseModel):
    """Publishes a schema with no $defs and no anyOf for optional fields: the same constraints, which a client
    checks every result against. The Python SDK client validates each result with jsonschema, where $ref
    resolution and anyOf branches dominate: this form validates about 2.7x faster (bench/core.py)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        compact = _compact(schema, handler)
        schema.clear()
        schema.update(compact)
        return schema


class TaskResult(_CompactSchema):
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
    createdAt: str | None = Field(default=None, description="When the task was created (ISO 8601), if known.")
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


class UploadedAsset(BaseModel):
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


class ImageDescription(BaseModel):
    assetId: str
    prompt: str = Field(description="A starting prompt for Frames (Subject / Scene / Style), to edit before use.")


# ---- list_tasks ------------------------------------------------------------------------------------------

ListedStatus = Literal["PENDING", "RUNNING", "THROTTLED", "SUCCEEDED", "FAILED"]


class LedgerTaskOut(BaseModel):
    taskId: str = Field(description="Pass it to get_task to wait for the task or fetch its images.")
    account: str | None = Field(default=None, description="The Runway account the task runs on.")
    prompt: str = Field(description="The start of the task's text_prompt.")
    createdAt: str = Field(description="When this server created the task (UTC, ISO 8601).")
    status: str = Field(description="The last known status.")
    done: bool = Field(description="True when the task reached a final status.")
    progress: float | None = Field(default=None, ge=0, le=1, description="Fraction complete, when known.")
    checkedAt: str = Field(description="When the status was last read from useapi.net (UTC, ISO 8601).")


class AccountTaskOut(BaseModel):
    taskId: str
    status: str
    done: bool
    progress: float | None = Field(default=None, ge=0, le=1)
    prompt: str | None = Field(default=None, description="The start of the task's text_prompt, when it has one.")
    createdAt: str | None = None
    images: int = Field(default=0, description="How many images the task produced.")


class TaskListResult(_CompactSchema):
    """This server's recent tasks, newest first, and on request the account's own task list."""

    tasks: list[LedgerTaskOut] = Field(
        description="Tasks this server process created (newest first), each with its last known status."
    )
    account: list[AccountTaskOut] | None = Field(
        default=None, description="The account's task list from useapi.net (GET /v1/runwayml/tasks), when asked."
    )
    accountError: str | None = Field(default=None, description="Why the account's task list could not be read.")

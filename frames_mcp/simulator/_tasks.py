"""Simulated tasks and assets: their lifecycle, computed from the clock at read time, and their JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from frames_mcp.simulator._curves import Curve
from frames_mcp.simulator._images import FRAMES_SIZES, UPLOAD_EXTENSIONS, ImageSpec, fake_file_size
from frames_mcp.simulator._signing import UrlSigner
from frames_mcp.simulator._validate import CreateParams

# Magic words in text_prompt (case-insensitive) that trigger documented outcomes; see the package docs.
MODERATED = "[moderated]"
MODERATE_CREATE = "[moderate-create]"
NO_CREDITS = "[no-credits]"
FAIL = "[fail]"
BUSY = "[busy]"
SLOW = "[slow]"
THROTTLED = "[throttled]"
SLOW_FACTOR = 10.0

Outcome = Literal["succeed", "fail", "moderated"]

MODERATION_ERROR: dict[str, Any] = {
    "errorMessage": "Your prompt was flagged by our content moderation system.",
    "reason": "SAFETY.INPUT.TEXT",
    "message": "Prompt flagged as potentially violating our content policy.",
    "moderation_category": "VIOLENCE",
    "tally_asimov": True,
}
INTERNAL_ERROR: dict[str, Any] = {
    "errorMessage": "An unexpected error occurred while generating your images. Please try again.",
    "reason": "INTERNAL.BAD_OUTPUT.CODE01",
    "message": "Internal error: bad output.",
    "moderation_category": None,
    "tally_asimov": False,
}


def has_magic(prompt: str, word: str) -> bool:
    return word in prompt.lower()


def iso(wall: float) -> str:
    """Unix seconds -> '2024-08-01T01:02:03.456Z', as useapi writes timestamps."""
    stamp = dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def ratio_text(value: float) -> str:
    """progressRatio as useapi sends it: a string such as "0.42", "0" or "1"."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


class Links:
    """Absolute, freshly signed file URLs on the simulator's own origin (the request's base URL)."""

    def __init__(self, base_url: str, signer: UrlSigner) -> None:
        self._base = base_url.rstrip("/")
        self._signer = signer

    def file(self, owner: str, filename: str) -> str:
        return f"{self._base}/artifacts/{owner}/{filename}?_jwt={self._signer.sign(f'{owner}/{filename}')}"


@dataclass(frozen=True)
class Phase:
    """Where a task is at one instant; `since` is the clock time this status began."""

    status: str
    since: float
    progress: float | None = None
    eta: float | None = None

    @property
    def in_flight(self) -> bool:
        return self.status in ("PENDING", "THROTTLED", "RUNNING")


@dataclass
class SimTask:
    uuid: str
    user_id: int
    email: str
    params: CreateParams
    seed: int
    created: float  # config.clock() at creation
    created_wall: float  # time.time() at creation, for timestamps
    queue_s: float  # real seconds PENDING
    run_s: float  # real seconds RUNNING
    outcome: Outcome
    queue_status: str  # PENDING, or THROTTLED for [throttled] prompts
    artifact_uuids: tuple[str, ...]
    curve: Curve  # fraction of the run passed -> progress
    stuck: bool = False
    no_artifacts: bool = False
    tracked: bool = True  # listed by GET /scheduler and counted against maxJobs while in flight

    @property
    def task_id(self) -> str:
        return f"user:{self.user_id}-runwayml:{self.email}-task:{self.uuid}"

    def asset_id(self, asset_uuid: str) -> str:
        return f"user:{self.user_id}-runwayml:{self.email}-asset:{asset_uuid}"

    @property
    def name(self) -> str:
        return f"Frames {self.seed}, {self.params.text_prompt[:60]}"

    def phase(self, now: float) -> Phase:
        elapsed = now - self.created
        if self.stuck or elapsed < self.queue_s:
            return Phase(self.queue_status, self.created, eta=max(self.queue_s - elapsed, 0.0))
        started = self.created + self.queue_s
        if self.outcome == "moderated":  # moderation rejects the task as it starts
            return Phase("FAILED", started)
        if elapsed < self.queue_s + self.run_s:
            return Phase("RUNNING", started, progress=min(self.curve((elapsed - self.queue_s) / self.run_s), 0.99))
        finished = started + self.run_s
        return Phase("FAILED" if self.outcome == "fail" else "SUCCEEDED", finished, progress=1.0)

    def wall(self, clock_time: float) -> float:
        return self.created_wall + (clock_time - self.created)

    def image_spec(self, index: int, longest_side: int) -> ImageSpec:
        p = self.params
        return ImageSpec(self.seed, index, p.aspect_ratio, p.style, p.text_prompt, longest_side)

    def artifacts_visible(self, phase: Phase) -> bool:
        return phase.status == "SUCCEEDED" and not self.no_artifacts


def options_json(task: SimTask) -> dict[str, Any]:
    """Runway's generation options. width/height are portrait-normalised with `flip` for landscape, as
    the documented example (1088x1920, flip true) and Runway's web app have them: read real sizes from
    artifacts[].metadata.size."""
    p = task.params
    width, height = FRAMES_SIZES[p.aspect_ratio]
    options: dict[str, Any] = {
        "name": task.name,
        "text_prompt": p.text_prompt,
        "seed": task.seed,
        "exploreMode": p.explore_mode,
        "diversity": p.diversity,
        "num_images": p.num_images,
        "width": min(width, height),
        "height": max(width, height),
        "flip": width > height,
        "assetGroupName": "Text to Image",
        "recordingEnabled": True,
    }
    if p.style is not None:
        options["style"] = p.style
    for n, asset_id in enumerate(p.asset_ids, start=1):
        options[f"imageAssetId{n}"] = asset_id
    return options


def artifact_json(task: SimTask, index: int, links: Links) -> dict[str, Any]:
    aid = task.artifact_uuids[index]
    width, height = FRAMES_SIZES[task.params.aspect_ratio]
    finished = iso(task.wall(task.created + task.queue_s + task.run_s))
    return {
        "assetId": task.asset_id(aid),
        "id": aid,
        "createdAt": finished,
        "updatedAt": finished,
        "userId": task.user_id,
        "createdBy": task.user_id,
        "taskId": task.task_id,
        "parentAssetGroupId": task.uuid,
        "filename": f"{task.name} ({index + 1}).png",
        "url": links.file(task.uuid, f"{index}.png"),
        "fileSize": str(fake_file_size(task.seed, index)),
        "isDirectory": False,
        "previewUrls": [links.file(task.uuid, f"{index}_preview.jpg")],
        "private": True,
        "privateInTeam": True,
        "deleted": False,
        "reported": False,
        "metadata": {"dimensions": [width, height], "size": {"width": width, "height": height}},
        "favorite": False,
    }


def task_json(task: SimTask, phase: Phase, links: Links) -> dict[str, Any]:
    """The task object of GET /tasks/{taskId} (and, with `code`/`features` added, of frames/create)."""
    failed = phase.status == "FAILED"
    artifacts = range(task.params.num_images) if task.artifacts_visible(phase) else range(0)
    return {
        "taskId": task.task_id,
        "id": task.uuid,
        "name": task.name,
        "image": None,
        "createdAt": iso(task.created_wall),
        "updatedAt": iso(task.wall(phase.since)),
        "taskType": "text_to_image",
        "options": options_json(task),
        "status": phase.status,
        "error": (MODERATION_ERROR if task.outcome == "moderated" else INTERNAL_ERROR) if failed else None,
        "progressText": f"Generating {task.params.num_images} images" if phase.status == "RUNNING" else None,
        "progressRatio": None if phase.progress is None else ratio_text(phase.progress),
        "estimatedTimeToStartSeconds": None if phase.eta is None else round(phase.eta, 2),
        "artifacts": [artifact_json(task, i, links) for i in artifacts],
        "sharedAsset": None,
        "sourceAssetId": None,
        "replyUrl": task.params.reply_url,
        "replyRef": task.params.reply_ref,
    }


@dataclass
class Asset:
    """An uploaded image (POST /assets)."""

    uuid: str
    user_id: int
    email: str
    name: str
    mime: str
    data: bytes
    width: int
    height: int
    created_wall: float

    @property
    def asset_id(self) -> str:
        return f"user:{self.user_id}-runwayml:{self.email}-asset:{self.uuid}"

    @property
    def filename(self) -> str:
        return f"original.{UPLOAD_EXTENSIONS[self.mime]}"


def asset_json(asset: Asset, links: Links) -> dict[str, Any]:
    """POST /assets as useapi documents its answer: no email, metadata or fileSize; `type` an object, `size` a
    number. `asset_read_json` is the GET /assets/{assetId} form."""
    created = iso(asset.created_wall)
    return {
        "assetId": asset.asset_id,
        "id": asset.uuid,
        "name": asset.name,
        "type": {"name": asset.filename, "type": asset.mime, "isDirectory": False},
        "size": len(asset.data),
        "url": links.file(asset.uuid, asset.filename),
        "previewUrls": [links.file(asset.uuid, "preview.jpg")],
        "createdAt": created,
        "updatedAt": created,
    }


def asset_read_json(asset: Asset, links: Links) -> dict[str, Any]:
    """GET /assets/{assetId} of an uploaded image: `metadata` null, `fileSize` a number, `mediaType` "image"."""
    upload = asset_json(asset, links)
    del upload["type"], upload["size"]
    return upload | {"mediaType": "image", "fileSize": len(asset.data), "metadata": None}

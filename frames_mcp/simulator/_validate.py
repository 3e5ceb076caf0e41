"""Validation of a frames/create body, done the way the server does it (not with the client's model).

Multipart and urlencoded forms deliver every field as a string, so numbers and booleans are coerced
from strings ("4", "true") as well as taken from JSON values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from frames_mcp.useapi.models import (
    ASPECT_RATIOS,
    DIVERSITY_DEFAULT,
    DIVERSITY_MAX,
    DIVERSITY_MIN,
    PROMPT_MAX,
    REPLY_MAX,
    SEED_MAX,
    SEED_MIN,
    STYLES,
)

NUM_IMAGES_DEFAULT = 4  # the Jan 2025 docs: "This endpoint will generate 4 images"; useapi's script sends 4
REFERENCE_FIELDS = ("imageAssetId1", "imageAssetId2", "imageAssetId3")
_INT_TEXT = re.compile(r"[+-]?\d+")


class ApiError(Exception):
    """An error answer in useapi's shape; raised anywhere in a handler, turned into a JSON response."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("error", status))
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"error": message, "code": 400})


def not_found() -> ApiError:
    return ApiError(404, {"error": "Not found.", "code": 404})


@dataclass(frozen=True)
class CreateParams:
    text_prompt: str
    aspect_ratio: str = "16:9"
    style: str | None = None
    diversity: int = DIVERSITY_DEFAULT
    seed: int | None = None
    num_images: int = NUM_IMAGES_DEFAULT
    explore_mode: bool = False
    reply_url: str | None = None
    reply_ref: str | None = None
    max_jobs: int | None = None
    email: str | None = None
    asset_ids: tuple[str, ...] = ()


def _present(data: Mapping[str, Any], name: str) -> Any:
    """The field's value, or None when absent; an empty form field counts as absent."""
    value = data.get(name)
    return None if value is None or value == "" else value


def _int(data: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = _present(data, name)
    if value is None:
        return None
    text_int = isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()) is not None
    if text_int or (isinstance(value, float) and value.is_integer()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"{name} must be an integer in range {low}…{high}, got {value!r}")
    return value


def _bool(data: Mapping[str, Any], name: str) -> bool | None:
    value = _present(data, name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"{name} must be true or false, got {value!r}")


def _text(data: Mapping[str, Any], name: str, max_length: int) -> str | None:
    value = _present(data, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    if len(value) > max_length:
        raise bad_request(f"{name} is too long: maximum length {max_length} characters, got {len(value)}")
    return value


def _choice(data: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(data, name, 100)
    if value is not None and value not in allowed:
        raise bad_request(f"{name} {value!r} is not supported. Supported values: {', '.join(allowed)}")
    return value


def _prompt(data: Mapping[str, Any]) -> str:
    prompt = _text(data, "text_prompt", PROMPT_MAX)
    if prompt is None or not prompt.strip():
        raise bad_request("text_prompt is required")
    return prompt


def _num_images(data: Mapping[str, Any]) -> int:
    value = _int(data, "num_images", 1, 4)
    if value not in (None, 1, 4):
        raise bad_request(f"num_images must be 1 or 4, got {value}")
    return NUM_IMAGES_DEFAULT if value is None else value


def parse_create(data: Mapping[str, Any]) -> CreateParams:
    """Check every documented field; the first problem found is the 400 answer."""
    prompt = _prompt(data)
    diversity = _int(data, "diversity", DIVERSITY_MIN, DIVERSITY_MAX)
    asset_ids = tuple(a for a in (_text(data, f, 400) for f in REFERENCE_FIELDS) if a is not None)
    return CreateParams(
        text_prompt=prompt,
        aspect_ratio=_choice(data, "aspect_ratio", ASPECT_RATIOS) or "16:9",
        style=_choice(data, "style", STYLES),
        diversity=DIVERSITY_DEFAULT if diversity is None else diversity,
        seed=_int(data, "seed", SEED_MIN, SEED_MAX),
        num_images=_num_images(data),
        explore_mode=bool(_bool(data, "exploreMode")),
        reply_url=_text(data, "replyUrl", REPLY_MAX),
        reply_ref=_text(data, "replyRef", REPLY_MAX),
        max_jobs=_int(data, "maxJobs", 1, 10),
        email=_text(data, "email", 254),
        asset_ids=asset_ids,
    )

"""Settings from the environment, validated once at start."""

# No `from __future__ import annotations` here: pydantic evaluates every string annotation of a model when
# the class is made, and Settings is made at each start (startup, BENCHMARKS.md).
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from frames_mcp.store import check_url, default_url
from frames_mcp.useapi.errors import ConfigurationError
from frames_mcp.useapi.ids import EMAIL_PATTERN

DEFAULT_BASE_URL = "https://api.useapi.net"
WAIT_MAX = 50  # seconds: the longest wait of one call (clients give up on a tool call at about 60 s)
DEFAULT_MAX_IMAGE_MB = 50.0  # per image, downloaded or uploaded; Frames PNGs are about 1.5-4 MB

# Settings field -> the environment variable that sets it (for messages and the CLI help).
ENV_NAMES = {
    "base_url": "USEAPI_BASE_URL",
    "email": "USEAPI_EMAIL",
    "wait_seconds": "FRAMES_MCP_WAIT_SECONDS",
    "lease_seconds": "FRAMES_MCP_LEASE_SECONDS",
    "output_dir": "FRAMES_MCP_OUTPUT_DIR",
    "preview": "FRAMES_MCP_PREVIEW",
    "allow_private_urls": "FRAMES_MCP_ALLOW_PRIVATE_URLS",
    "max_image_mb": "FRAMES_MCP_MAX_IMAGE_MB",
    "image_origins": "FRAMES_MCP_IMAGE_ORIGINS",
    "store": "FRAMES_MCP_STORE",
    "auth_token": "FRAMES_MCP_AUTH_TOKEN",
    "allowed_hosts": "FRAMES_MCP_ALLOWED_HOSTS",
    "allowed_origins": "FRAMES_MCP_ALLOWED_ORIGINS",
    "tasks": "FRAMES_MCP_TASKS",
}

# An origin the gallery view may load images from: scheme and host (optionally one leading `*.` label
# followed by at least two labels, never a bare `*`), an optional port, no path.
_ORIGIN_RE = re.compile(r"^https?://(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?$")


def _split(value: str) -> tuple[str, ...]:
    """A list from one environment variable: items separated by commas and/or whitespace."""
    return tuple(item for item in re.split(r"[\s,]+", value) if item)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: SecretStr | None = Field(default=None, description="USEAPI_TOKEN")
    base_url: str = Field(default=DEFAULT_BASE_URL, pattern=r"^https?://[^\s/]+(:\d+)?(/\S*)?$")
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    wait_seconds: int = Field(default=45, ge=0, le=WAIT_MAX)
    # How long a process that died (kill -9) keeps its admission slots counted; renewed every third of it.
    lease_seconds: float = Field(default=30.0, ge=1, le=600)
    demo: bool = False
    output_dir: Path | None = Field(default=None, description="Where save=true writes images; absolute.")
    preview: bool = Field(default=True, description="Attach a contact sheet to finished results by default.")
    allow_private_urls: bool = Field(
        default=False, description="Let upload_image fetch URLs on loopback, private or link-local addresses."
    )
    max_image_mb: float = Field(default=DEFAULT_MAX_IMAGE_MB, gt=0, le=1024)
    # HTTP transport only (see server/http.py). The token is compared in constant time and never logged.
    auth_token: SecretStr | None = Field(default=None, description="FRAMES_MCP_AUTH_TOKEN")
    allowed_hosts: tuple[str, ...] | None = Field(default=None, description="FRAMES_MCP_ALLOWED_HOSTS")
    allowed_origins: tuple[str, ...] | None = Field(default=None, description="FRAMES_MCP_ALLOWED_ORIGINS")
    tasks: bool = Field(
        default=True,
        description="FRAMES_MCP_TASKS: answer clients that declare io.modelcontextprotocol/tasks with MCP tasks; "
        "off makes every call synchronous",
    )
    image_origins: tuple[str, ...] = Field(
        default=(), description="FRAMES_MCP_IMAGE_ORIGINS: extra origins the gallery view may load images from"
    )
    # Where task records and the shared admission line live (frames_mcp/store). None: SQLite in the user state
    # directory (memory with --demo: simulated tasks are not real ones). repr=False: a Redis URL may hold a password.
    store: str | None = Field(default=None, repr=False, description="FRAMES_MCP_STORE")

    @property
    def store_url(self) -> str:
        return self.store or ("memory" if self.demo else default_url())

    @property
    def max_image_bytes(self) -> int:
        return int(self.max_image_mb * 1024 * 1024)

    @field_validator("output_dir", mode="before")
    @classmethod
    def _absolute_dir(cls, v: object) -> object:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        text = str(v)
        if "\0" in text:
            raise ValueError("the path contains a NUL byte")
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise ValueError(
                f"must be an absolute path, got {text!r}. A relative directory would resolve against whatever "
                "working directory the MCP client starts the server in (often /)."
            )
        if path.exists() and not path.is_dir():
            raise ValueError(f"{text!r} exists and is not a directory")
        return path

    @field_validator("wait_seconds", mode="before")
    @classmethod
    def _whole_seconds(cls, v: object) -> object:
        """A fractional number of seconds is rounded down: MCPB hosts (Claude Desktop) offer only a `number`
        field for it, and a user who types 12.5 must get a server that starts, not one that refuses to."""
        if isinstance(v, str):
            try:
                number = float(v.strip())
            except ValueError:
                return v  # not a number: the int check says so
            return math.floor(number) if math.isfinite(number) else v
        if isinstance(v, float) and math.isfinite(v):
            return math.floor(v)
        return v

    @field_validator("store", mode="before")
    @classmethod
    def _store_url(cls, v: object) -> object:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return check_url(str(v).strip())

    @field_validator("token", "auth_token", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _list_or_unset(cls, v: object) -> object:
        """A blank value means "not configured", as if the variable were unset."""
        return (_split(v) or None) if isinstance(v, str) else v

    @field_validator("image_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: object) -> object:
        return _split(v) if isinstance(v, str) else v

    @field_validator("image_origins")
    @classmethod
    def _check_origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        origins = tuple(dict.fromkeys(o.lower().rstrip("/") for o in v))
        for origin in origins:
            wildcard_too_wide = origin.split("://", 1)[-1].startswith("*.") and origin.count(".") < 2
            if not _ORIGIN_RE.match(origin) or wildcard_too_wide:
                raise ValueError(f"{origin!r} is not an origin like https://images.example.com")
        return origins

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        env = os.environ if env is None else env
        raw: dict[str, object] = {
            "token": env.get("USEAPI_TOKEN"),
            "base_url": env.get("USEAPI_BASE_URL") or DEFAULT_BASE_URL,
            "email": env.get("USEAPI_EMAIL") or None,
            "auth_token": env.get("FRAMES_MCP_AUTH_TOKEN"),
            "allowed_hosts": env.get("FRAMES_MCP_ALLOWED_HOSTS"),
            "allowed_origins": env.get("FRAMES_MCP_ALLOWED_ORIGINS"),
        }
        for field in (
            "wait_seconds",
            "output_dir",
            "preview",
            "allow_private_urls",
            "max_image_mb",
            "image_origins",
            "store",
            "lease_seconds",
            "tasks",
        ):
            if env.get(ENV_NAMES[field]):
                raw[field] = env[ENV_NAMES[field]]
        raw.update(overrides)
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            problems = "; ".join(
                f"{ENV_NAMES.get(str(err['loc'][0]), err['loc'][0])}: {err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            )
            raise ConfigurationError(f"Invalid configuration: {problems}") from None

"""Settings from the environment, validated once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from frames_mcp.errors import ConfigurationError
from frames_mcp.models import EMAIL_PATTERN, WAIT_MAX

DEFAULT_BASE_URL = "https://api.useapi.net"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: SecretStr | None = Field(default=None, description="USEAPI_TOKEN")
    base_url: str = Field(default=DEFAULT_BASE_URL, pattern=r"^https?://[^\s/]+(:\d+)?(/\S*)?$")
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    wait_seconds: int = Field(default=45, ge=0, le=WAIT_MAX)
    demo: bool = False
    # HTTP transport only (see http_app.py). The token is compared in constant time and never logged.
    auth_token: SecretStr | None = Field(default=None, description="FRAMES_MCP_AUTH_TOKEN")
    allowed_hosts: tuple[str, ...] | None = Field(default=None, description="FRAMES_MCP_ALLOWED_HOSTS")
    allowed_origins: tuple[str, ...] | None = Field(default=None, description="FRAMES_MCP_ALLOWED_ORIGINS")

    @field_validator("token", "auth_token", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        """A comma-separated environment value becomes a tuple; a blank one means "not configured"."""
        if isinstance(v, str):
            items = tuple(item.strip() for item in v.split(",") if item.strip())
            return items or None
        return v

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        raw: dict[str, object] = {
            "token": env.get("USEAPI_TOKEN"),
            "base_url": env.get("USEAPI_BASE_URL") or DEFAULT_BASE_URL,
            "email": env.get("USEAPI_EMAIL") or None,
            "auth_token": env.get("FRAMES_MCP_AUTH_TOKEN"),
            "allowed_hosts": env.get("FRAMES_MCP_ALLOWED_HOSTS"),
            "allowed_origins": env.get("FRAMES_MCP_ALLOWED_ORIGINS"),
        }
        if env.get("FRAMES_MCP_WAIT_SECONDS"):
            raw["wait_seconds"] = env["FRAMES_MCP_WAIT_SECONDS"]
        raw.update(overrides)
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            names = {
                "base_url": "USEAPI_BASE_URL",
                "email": "USEAPI_EMAIL",
                "wait_seconds": "FRAMES_MCP_WAIT_SECONDS",
                "allowed_hosts": "FRAMES_MCP_ALLOWED_HOSTS",
                "allowed_origins": "FRAMES_MCP_ALLOWED_ORIGINS",
            }
            problems = "; ".join(f"{names.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in e.errors())
            raise ConfigurationError(f"Invalid configuration: {problems}") from None

"""The durable store: task records, pending creates, keyed records with a lifetime and (issue 11b) the
shared admission line. Chosen by one URL (the FRAMES_MCP_STORE setting):

- `sqlite:///ABSOLUTE/PATH` (the default, at the user state directory under frames-mcp/state.db): every
  process of one user on one machine shares it;
- `redis://HOST:PORT/DB` or `rediss://...`: a fleet of replicas shares it;
- `memory`: nothing on disk, nothing shared (tests, or people who want no state).

Imports nothing from mcp, the server or media; the Redis client is imported only for a Redis URL. A stdio server
opens its store beside the handshake (`opening.OpeningStore`), an HTTP one before it serves (`open_store`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from frames_mcp.store.base import Backend, Store, StoreError
from frames_mcp.store.memory import MemoryRecords
from frames_mcp.store.records import (
    ArtifactRecord,
    FailureRecord,
    JsonObject,
    PendingCreate,
    TaskRecord,
    TaskRecords,
    TaskUpdate,
)

__all__ = [
    "ArtifactRecord",
    "FailureRecord",
    "JsonObject",
    "PendingCreate",
    "Store",
    "StoreError",
    "TaskRecord",
    "TaskRecords",
    "TaskUpdate",
    "backend_of",
    "check_url",
    "default_url",
    "open_store",
]

FORMS = "memory, sqlite:///ABSOLUTE/PATH or redis://HOST:PORT/DB (rediss:// for TLS)"


def default_url() -> str:
    """SQLite in the platform's user state directory (~/.local/state/frames-mcp/state.db on Linux)."""
    path = Path(platformdirs.user_state_dir("frames-mcp", appauthor=False)) / "state.db"
    return "sqlite:///" + path.as_posix().lstrip("/")


def check_url(url: str) -> str:
    """The URL as given, if it has one of the accepted forms; ValueError saying which forms otherwise.
    Opens nothing (config validation uses it)."""
    _path_of(url)
    return url


def backend_of(url: str) -> Backend:
    """Which backend `url` (an accepted form: see check_url) names, without opening anything."""
    if url == "memory":
        return "memory"
    return "sqlite" if _path_of(url) is not None else "redis"


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the store at `url`, or the default one. Synchronous, and safe
    to call before the event loop that will use the store starts. StoreError when it cannot be opened."""
    url = url or default_url()
    try:
        path = _path_of(url)
    except ValueError as e:
        raise StoreError(str(e)) from None
    if url == "memory":
        return Store("memory", "memory", MemoryRecords())
    if path is not None:
        from frames_mcp.store.sqlite import open_sqlite

        return open_sqlite(path)
    from frames_mcp.store.redis import open_redis  # only a fleet pays for importing the Redis client

    return open_redis(url)


def _path_of(url: str) -> Path | None:
    """The SQLite file of a sqlite URL, None for the other accepted forms."""
    if url == "memory":
        return None
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss") and parts.hostname:
        return None
    if parts.scheme == "sqlite":
        path = Path(unquote(parts.path))
        if not parts.netloc and path.is_absolute() and path.name:
            return path
        raise ValueError(f"the SQLite path must be absolute, like sqlite:///home/me/frames.db (got {url!r})")
    shown = url if parts.password is None else url.replace(parts.password, "***")
    raise ValueError(f"must be {FORMS}, got {shown!r}")

"""What a generation reports while it waits (`Event`s), what it ends with (`Run`), and how it fails before a task
exists. The vocabulary between the jobs service and whoever shows it (the MCP surface). No MCP types here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from frames_mcp.useapi.errors import FramesError
from frames_mcp.useapi.models import Task

ANY_ACCOUNT = "*"  # the admission key of calls that name no account: useapi picks one with a free slot


# NamedTuples, not frozen dataclasses: the classes are made at every start, and a dataclass costs 4x as much to make.
class LocalQueue(NamedTuple):
    """Waiting for one of this server's own slots on the account."""

    ahead: int
    in_use: int
    limit: int
    account: str


class UpstreamBusy(NamedTuple):
    """useapi answered 429 (another client fills the account); retrying after `delay` seconds."""

    delay: float


class Estimate(NamedTuple):
    """Progress predicted between two polls (no request made)."""

    ratio: float


Event = Task | LocalQueue | UpstreamBusy | Estimate
OnEvent = Callable[[Event], Awaitable[None]]


class NotCreatedError(FramesError):
    """No task exists: nothing was charged. The message says why."""


class MaybeCreatedError(FramesError):
    """A create failed in a way that may have run, and the account's task list could not tell."""


# A NamedTuple too (a result, never changed: `_replace` makes another).
class Run(NamedTuple):
    """Where a created task stands when a call stops waiting for it."""

    task: Task  # the last state seen
    error: FramesError | None = None  # the last poll failed with this
    note: str | None = None  # something the caller should be told (a recovered create)
    next_poll: float | None = None  # when the poll schedule would have read it next (for whoever picks it up)
    unrecorded: str | None = None  # the store failed to record the created task: why (its result says so)

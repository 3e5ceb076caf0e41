"""What the store keeps about tasks: one record per task this install created, one per create whose outcome
is not known yet, and small keyed records with a lifetime (for other features, e.g. MCP task handles).

Plain JSON-able data only: never the useapi token, nothing from GET /accounts. The records carry no useapi
types either (this package imports nothing from the rest of frames_mcp): the jobs layer converts.
"""

# No `from __future__ import annotations` here: pydantic evaluates every string annotation of a model when
# the class is made, and these are made at each start (startup, BENCHMARKS.md).
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

# A JSON object. Not pydantic's JsonValue: its recursive schema costs a start-up 40-200 ms to build, and these
# records are only ever written by frames-mcp itself.
JsonObject = dict[str, Any]


class _Record(BaseModel):
    # A newer frames-mcp sharing the store may add fields: an older one reading them ignores them. The schemas
    # are built at first use, not at import: a server's start (a goal: within 10% of a bare MCPServer's) needs none.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ArtifactRecord(_Record):
    index: int
    url: str | None = None  # signed image URL as last seen (it expires: get_task re-signs)
    previewUrl: str | None = None
    assetId: str | None = None
    width: int | None = None
    height: int | None = None


class FailureRecord(_Record):
    reason: str | None = None
    moderation_category: str | None = None
    message: str | None = None


class TaskRecord(_Record):
    """A task this install created, with what was last seen of it."""

    taskId: str
    upstream: str = ""  # the useapi base URL it was created through (a demo simulator's tasks are not real ones)
    account: str | None = None  # the Runway account it runs on, from its taskId
    prompt: str  # the request's whole text_prompt
    options: JsonObject = Field(default_factory=dict)  # the request's other options (aspect_ratio, style ...)
    created: float  # wall-clock seconds
    status: str
    done: bool = False  # reached a final status
    progress: float | None = None
    updated: float  # wall-clock seconds of the last observation
    recovered: bool = False  # found in the account's task list after an ambiguous create
    artifacts: list[ArtifactRecord] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)  # files saved from it (absolute paths)
    error: FailureRecord | None = None


class TaskUpdate(_Record):
    """A fresh observation of a task (a poll, get_task, a listing)."""

    status: str
    done: bool
    progress: float | None = None
    updated: float
    artifacts: list[ArtifactRecord] | None = None  # None: the observation says nothing about them
    error: FailureRecord | None = None

    def apply(self, record: TaskRecord) -> TaskRecord:
        """The record after this observation. A final record never goes back to unfinished: several
        processes observe one task, and an older poll may land after a newer one."""
        if record.done and not self.done:
            return record
        changes: JsonObject = {"status": self.status, "done": self.done, "updated": max(self.updated, record.updated)}
        merged = record.model_copy(update=changes)
        merged.progress = self.progress if self.progress is not None else record.progress
        if self.artifacts is not None:
            merged.artifacts = self.artifacts
        if self.error is not None:
            merged.error = self.error
        return merged


class PendingCreate(_Record):
    """A create whose outcome is not known yet: sent (or about to be) and not yet matched to a taskId or
    proven not to have run. A restart, or any process of the store, resumes the check once `held_until`
    has passed (the creating call holds it while it is still working on it)."""

    id: str
    upstream: str = ""  # the useapi base URL the create was sent to: only a process using it can check
    account: str | None  # the email the create was for; None when useapi picks the account
    prompt: str
    options: JsonObject = Field(default_factory=dict)
    since: float  # wall-clock seconds just before the create was sent: an older task is not this one
    held_until: float  # wall-clock seconds until which its creator (or a claimer) is checking it
    checks: int = 0  # how many checks could not tell


class TaskRecords(Protocol):
    """The records half of a store. Every method may raise StoreError (store.base) when the backend fails."""

    async def add_task(self, record: TaskRecord, settles: str | None = None) -> None:
        """Insert or replace the record of a task; with `settles`, delete that pending create in the same
        transaction (the create it was has its answer)."""

    async def get_task(self, task_id: str) -> TaskRecord | None: ...

    async def update_task(self, task_id: str, update: TaskUpdate) -> TaskRecord | None:
        """Apply an observation to a known task atomically; None (and nothing stored) for an unknown one."""

    async def add_files(self, task_id: str, paths: Sequence[str]) -> None:
        """Remember files saved from a known task (kept once each, in order)."""

    async def list_tasks(
        self,
        *,
        statuses: Sequence[str] | None = None,
        done: bool | None = None,
        text: str | None = None,
        upstream: str | None = None,
        limit: int = 20,
    ) -> list[TaskRecord]:
        """Newest first. `statuses`: last status among these; `done`: finished or not; `text`: the prompt
        contains it (case-insensitive); `upstream`: created through this base URL."""

    async def put_pending(self, pending: PendingCreate) -> None:
        """Insert or replace a pending create."""

    async def delete_pending(self, pending_id: str) -> None: ...

    async def claim_pending(
        self, now: float, hold: float, limit: int = 20, upstream: str | None = None
    ) -> list[PendingCreate]:
        """Pending creates nobody holds at `now` (held_until <= now), of `upstream` if given, oldest first, now
        held until now + hold by the caller, atomically: two processes never claim the same one at once."""

    async def put_record(self, kind: str, key: str, value: JsonObject, ttl: float | None = None) -> None:
        """Store a JSON object under (kind, key), replacing any; it disappears `ttl` seconds later (None: never)."""

    async def get_record(self, kind: str, key: str) -> JsonObject | None: ...

    async def delete_record(self, kind: str, key: str) -> bool:
        """True when there was one."""

    async def list_records(self, kind: str, limit: int = 100) -> list[tuple[str, JsonObject]]:
        """Live records of a kind, most recently stored first, as (key, value)."""


def matches(
    record: TaskRecord, statuses: Sequence[str] | None, done: bool | None, text: str | None, upstream: str | None
) -> bool:
    """The list_tasks filters, for backends that filter in Python."""
    if upstream is not None and record.upstream != upstream:
        return False
    if statuses is not None and record.status not in {s.upper() for s in statuses}:
        return False
    if done is not None and record.done != done:
        return False
    return text is None or text.casefold() in record.prompt.casefold()


def merge_files(existing: Sequence[str], added: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*existing, *added]))

"""The simulator's knobs (`SimulatorConfig`) and its injectable faults (`Fault`)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple, get_args

from frames_mcp.simulator._curves import CURVES

FaultKind = Literal[
    "status", "reset", "read_timeout", "malformed_json", "html", "slow", "stuck_pending", "no_artifacts"
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# The email part of a taskId (see models.TASK_ID_PATTERN): accounts outside it would mint invalid ids.
_ACCOUNT_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")

# Kinds that change the task a request creates or reads instead of the HTTP exchange.
TASK_KINDS = frozenset({"stuck_pending", "no_artifacts"})


def _default_accounts() -> dict[str, int]:
    return {"demo@frames.local": 5}


@dataclass
class SimulatorConfig:
    """How the simulated useapi.net behaves. Durations are simulated seconds; see `time_scale`."""

    token: str = "user:1-simulated-token"  # noqa: S105 - the simulator's public demo token
    """The only Bearer token accepted; anything else gets 401."""
    accounts: dict[str, int] = field(default_factory=_default_accounts)
    """Configured Runway accounts: email -> account maxJobs (1..10)."""
    queue_seconds: float = 0.5
    """Time a task spends PENDING; estimatedTimeToStartSeconds counts it down."""
    run_seconds: float = 2.0
    """Time a task spends RUNNING, progressRatio rising from "0" to "0.99"."""
    progress_curve: str = "linear"
    """How progressRatio rises over a run: one of `_curves.CURVES` (a prompt's `[curve:<name>]` overrides it)."""
    time_scale: float = 1.0
    """>1 makes simulated time pass faster: every duration is divided by it."""
    image_px: int = 256
    """Longest side of the served images (metadata still reports the real Frames size)."""
    expired_tokens: set[str] = field(default_factory=set)
    """Tokens answered with 402 (useapi subscription expired)."""
    url_ttl_seconds: float = 86400.0
    """Lifetime of signed artifact URLs in real seconds (Runway: 24-48 h). Negative: already expired."""
    max_upload_bytes: int = 20 * 1024 * 1024
    """Largest asset upload accepted; bigger bodies get 400."""
    clock: Callable[[], float] = field(default=time.monotonic)
    """Monotonic seconds. Tests may pass a hand-driven clock to step tasks through their lifecycle."""

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("SimulatorConfig.accounts needs at least one account")
        for email, max_jobs in self.accounts.items():
            if not _ACCOUNT_EMAIL.fullmatch(email):
                raise ValueError(f"account {email!r} is not an email address a taskId can carry")
            if not 1 <= max_jobs <= 10:
                raise ValueError(f"maxJobs of {email} must be 1..10, got {max_jobs}")
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise ValueError(f"time_scale must be a positive number, got {self.time_scale}")
        if self.queue_seconds < 0 or self.run_seconds < 0:
            raise ValueError("queue_seconds and run_seconds must not be negative")
        if self.progress_curve not in CURVES:
            raise ValueError(f"progress_curve must be one of {', '.join(CURVES)}, got {self.progress_curve!r}")
        if self.image_px < 16:
            raise ValueError(f"image_px must be at least 16, got {self.image_px}")

    def real(self, simulated_seconds: float) -> float:
        """Simulated seconds -> wall-clock seconds, under `time_scale`."""
        return simulated_seconds / self.time_scale


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` requests that match `method` and `path`.

    - status: answer `status` (default 500) with `body` and `headers` instead of processing.
    - reset: close the TCP connection with a RST, no response at all.
    - read_timeout: hang `delay` seconds before answering; a client that gave up meanwhile is not served
      (and, without `after`, the request is never processed).
    - malformed_json: 200 with a truncated JSON body.
    - html: an HTML error page from a "proxy" (default 502), text/html.
    - slow: wait `delay` seconds, then process and answer normally.
    - stuck_pending: the task the request creates or reads stays PENDING forever.
    - no_artifacts: the task the request creates or reads SUCCEEDS with an empty artifacts list.

    `after=True` makes status/reset/malformed_json/html/read_timeout process the request first (a create
    really creates the task) and only then misbehave: the dangerous "did it run?" case.
    `times <= 0` means every matching request until `clear_faults()`.
    """

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    times: int = 1
    status: int | None = None
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0
    after: bool = False

    def __post_init__(self) -> None:
        # Faults also arrive as JSON over /_sim/faults, so the types are checked, not assumed.
        if not isinstance(self.times, int) or not isinstance(self.after, bool):
            raise TypeError("times must be an integer and after a boolean")
        if not isinstance(self.delay, int | float) or (self.status is not None and not isinstance(self.status, int)):
            raise TypeError("delay must be a number and status an integer")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.status is not None and not 100 <= self.status <= 999:
            raise ValueError(f"status must be 100..999, got {self.status}")
        if self.delay < 0:
            raise ValueError("delay must not be negative")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path in path

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build a Fault from the JSON body of POST /_sim/faults; ValueError/TypeError if it is wrong."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)


class LoggedRequest(NamedTuple):
    """One API request as the simulator answered it; status 0 means no response (reset or client gone)."""

    method: str
    path: str
    status: int

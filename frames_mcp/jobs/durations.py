"""How long tasks run on this install: a small in-process record of observed run durations.

The poll schedule uses it to know the window in which a task is likely to finish, whatever its progress
curve does. Durations are kept per (account, images per task, Explore mode), the things that change how
long Runway takes; each is a bracket [low, high], as polling sees a task start and finish only between
two reads. Nothing here is durable: a restart starts from the documented prior (see `polling`).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from frames_mcp.useapi.ids import account_of
from frames_mcp.useapi.models import Task

KEEP = 20  # durations kept per key: recent enough to follow a change in Runway's speed
MIN_SAMPLES = 2  # below this the record says nothing and the documented prior applies
WIDEST = 30.0  # a bracket wider than this (seconds) says too little to keep (a fast run polled late still counts)


@dataclass(frozen=True)
class Key:
    """What a run's duration depends on, as far as a task shows it (4 images when it does not say)."""

    account: str
    num_images: int
    explore: bool

    @classmethod
    def of(cls, task: Task) -> Key:
        options: dict[str, Any] = task.options or {}
        images = options.get("num_images")
        return cls(
            account=(account_of(task.taskId) or "").lower(),
            num_images=images if isinstance(images, int) and not isinstance(images, bool) else 4,
            explore=options.get("exploreMode") is True,
        )


@dataclass(frozen=True)
class Window:
    """The run durations (seconds from start to finish) a task is likely to fall between."""

    shortest: float
    longest: float


class Durations:
    """Observed run durations per `Key`. Shared by every wait of one server process."""

    def __init__(self, keep: int = KEEP) -> None:
        self._seen: dict[Key, deque[tuple[float, float]]] = {}
        self._keep = keep

    def record(self, key: Key, low: float, high: float) -> None:
        """A task of `key` ran between `low` and `high` seconds; odd or loose brackets are dropped."""
        if not (math.isfinite(low) and math.isfinite(high)) or high <= 0 or not 0 <= low <= high <= low + WIDEST:
            return
        self._seen.setdefault(key, deque(maxlen=self._keep)).append((low, high))

    def window(self, key: Key) -> Window | None:
        """Where this key's run durations fall, if known: the bracket middles, widened by a quarter of a
        typical bracket (the outer tenth of the middles left out once there are ten)."""
        seen = self._seen.get(key)
        if seen is None or len(seen) < MIN_SAMPLES:
            return None
        middles = sorted((low + high) / 2 for low, high in seen)
        slack = statistics.median(high - low for low, high in seen) / 4
        cut = len(seen) // 10
        return Window(max(0.0, middles[cut] - slack), middles[-1 - cut] + slack)

    def __len__(self) -> int:
        return sum(len(v) for v in self._seen.values())

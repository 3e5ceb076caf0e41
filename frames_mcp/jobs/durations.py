"""How long tasks run on this install: the observed run durations the poll schedule's window comes from.

The poll schedule uses them to know the window in which a task is likely to finish, whatever its progress
curve does. Durations are kept per useapi base URL (a demo simulator's runs say nothing of Runway's) and per
(account, images per task, Explore mode), the things that change how long Runway takes; each is a bracket
[low, high], as polling sees a task start and finish only between two reads.

They live in the durable store (frames_mcp.store, as keyed records), so a restarted server, a second process
on the same SQLite file and every replica on one Redis poll with what any of them observed. Each process keeps
one record per key with the last `KEEP` runs it saw finish, under an id of its own: processes never overwrite
each other's runs. A record is kept `TTL` (30 days) after its last run, and runs older than that are not used.
Before a wait on a key, a process reads that key's records (the first time, then at most every `REFRESH` s), so
`window()` answers from memory; each run seen finishing is written after its wait, in the session's background
(the result does not wait for it; what is left is written at the session's end). A brand-new install (or a key
with fewer than `MIN_SAMPLES` runs in 30 days) starts from the documented prior (see `polling`); with the memory
store, runs are this process's alone. A store that fails costs the poll schedule nothing but what the others
saw: the failure is logged once, and the process goes on with the runs it knows (see `guard` for the rest
after a failure).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import anyio
from anyio.abc import TaskGroup

from frames_mcp.jobs.guard import StoreGuard
from frames_mcp.store import JsonObject, StoreError, TaskRecords
from frames_mcp.useapi.ids import account_of
from frames_mcp.useapi.models import Task

log = logging.getLogger(__name__)

KEEP = 20  # durations kept per key: recent enough to follow a change in Runway's speed
MIN_SAMPLES = 2  # below this the record says nothing and the documented prior applies
WIDEST = 30.0  # a bracket wider than this (seconds) says too little to keep (a fast run polled late still counts)
KIND = "durations"  # the store's record kind, followed by the base URL's digest and the key
TTL = 30 * 86_400.0  # seconds a process's record of a key outlives its last run; older runs are not used
REFRESH = 30.0  # a key's records are read again before a wait once this many seconds have passed

Bracket = tuple[float, float, float]  # (low, high, at): the run took between low and high s; at: wall-clock time


# NamedTuples, not frozen dataclasses: the classes are made at every start, and a dataclass costs 4x as much to make.
class Key(NamedTuple):
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


class Window(NamedTuple):
    """The run durations (seconds from start to finish) a task is likely to fall between."""

    shortest: float
    longest: float


class Durations:
    """Observed run durations per `Key`, shared by every wait of one process and, through the store (`use`), by
    every process of the store."""

    def __init__(
        self,
        keep: int = KEEP,
        *,
        refresh_every: float = REFRESH,
        ttl: float = TTL,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._own: dict[Key, deque[Bracket]] = {}  # the runs this process saw finish
        self._others: dict[Key, list[Bracket]] = {}  # other processes' runs, as the store had them when last read
        self._keep = keep
        self._refresh_every = refresh_every
        self._ttl = ttl
        self._wall = wall
        self._clock = clock
        self._records: TaskRecords | None = None
        self._upstream = ""
        self._guard = StoreGuard()
        self._writer = uuid.uuid4().hex  # this process's records' key: no other process writes them
        self._dirty: dict[Key, int] = {}  # keys with runs not yet written -> how many runs were added
        self._saving = False
        self._group: TaskGroup | None = None  # where `save` writes (see `write_in`)
        self._read_at: dict[Key, float] = {}  # clock time a key's records were last read
        self._reading: dict[Key, anyio.Event] = {}  # reads under way: a second wait on the key waits for it
        self._failing = False  # the store failed and has not answered since (logged once)
        self._windows: dict[Key, tuple[list[Bracket], Window | None]] = {}  # the runs a key's window was made of

    def use(self, records: TaskRecords, upstream: str, guard: StoreGuard | None = None) -> None:
        """Keep the runs in `records` (the store the session opened), as runs of `upstream` (the useapi base URL).
        `guard`: the process's rest after a store failure (the ledger's), so one failure is waited for once."""
        self._records, self._upstream = records, upstream
        self._guard = guard or self._guard
        self._others.clear()
        self._read_at.clear()

    def record(self, key: Key, low: float, high: float) -> None:
        """A task of `key` ran between `low` and `high` seconds; odd or loose brackets are dropped."""
        if not _plausible(low, high):
            return
        self._own.setdefault(key, deque(maxlen=self._keep)).append((low, high, self._wall()))
        if self._records is not None:
            self._dirty[key] = self._dirty.get(key, 0) + 1

    def window(self, key: Key) -> Window | None:
        """Where this key's run durations fall, if known: see `_window`, of the brackets that say something.
        Asked before every poll; made again only when the key's runs have changed."""
        runs = self._runs(key)
        made = self._windows.get(key)
        if made is None or made[0] != runs:
            made = self._windows[key] = (runs, _window(_informative(runs)))
        return made[1]

    def __len__(self) -> int:
        return sum(len(self._runs(key)) for key in {*self._own, *self._others})

    def _runs(self, key: Key) -> list[Bracket]:
        """The newest `keep` runs of `key` known here (this process's and the others'), none older than `ttl`."""
        oldest = self._wall() - self._ttl
        runs = [b for b in (*self._own.get(key, ()), *self._others.get(key, ())) if b[2] > oldest]
        runs.sort(key=lambda b: b[2])
        return runs[-self._keep :]

    # ---- the store ---------------------------------------------------------------------------------

    async def refresh(self, key: Key) -> None:
        """Before a wait on `key`: read what every process of the store saw of such runs, unless that was done
        less than `refresh_every` s ago. Never raises for a store failure (it is logged, and the runs known here
        still count); a read already under way for the key is waited for, not repeated."""
        if self._records is None:
            return
        under_way = self._reading.get(key)
        if under_way is not None:
            await under_way.wait()
            return
        last = self._read_at.get(key)
        if last is not None and self._clock() - last < self._refresh_every:
            return
        self._read_at[key] = self._clock()
        self._reading[key] = done = anyio.Event()
        try:
            # The `keep` records stored last hold the newest runs (each is written when one of its runs ends); a
            # few more cover a write that came late.
            found = await self._guard(self._records.list_records, self._kind(key), self._keep + 5)
            self._others[key] = self._parse(key, found)
            self._answered()
        except (StoreError, ValueError) as e:  # ValueError: a record that is not JSON (the backends decode it)
            self._failed("read from", e)
        finally:
            del self._reading[key]
            done.set()

    def write_in(self, group: TaskGroup | None) -> None:
        """From now on `save` only starts the write in `group` (the session's background work), off the path of
        the result that waited for it; None: `save` writes before it returns again (then `flush` what is left)."""
        self._group = group

    async def save(self) -> None:
        """After a wait: write the runs this process saw finish and has not written yet (see `flush`), in the
        group `write_in` gave, or before returning without one."""
        if self._group is not None:
            self._group.start_soon(self.flush)
        else:
            await self.flush()

    async def flush(self) -> None:
        """Write the runs this process saw finish and has not written yet, one record per key. Never raises for
        a store failure (logged; the runs are written with the next save). While a write is under way another
        returns at once: the one under way writes what was added meanwhile."""
        if self._records is None or self._saving:
            return
        self._saving = True
        try:
            while self._dirty:
                key, added = next(iter(self._dirty.items()))
                value: JsonObject = {
                    "upstream": self._upstream,
                    "account": key.account,
                    "num_images": key.num_images,
                    "explore": key.explore,
                    "runs": [list(b) for b in self._own[key]],
                }
                try:
                    await self._guard(self._records.put_record, self._kind(key), self._writer, value, self._ttl)
                except StoreError as e:
                    self._failed("written to", e)
                    return
                self._answered()
                if self._dirty.get(key) == added:  # no run of this key was added while it was written
                    del self._dirty[key]
        finally:
            self._saving = False

    def _kind(self, key: Key) -> str:
        site = hashlib.sha256(self._upstream.encode()).hexdigest()[:16]
        return f"{KIND}:{site}:{key.account}:{key.num_images}:{'explore' if key.explore else 'normal'}"

    def _parse(self, key: Key, found: Sequence[tuple[str, JsonObject]]) -> list[Bracket]:
        """Other processes' runs of `key` in the records read, newest `keep`; anything malformed is skipped."""
        runs: list[Bracket] = []
        for writer, value in found:
            mine = (value.get("upstream"), value.get("account"), value.get("num_images"), value.get("explore"))
            if writer == self._writer or mine != (self._upstream, key.account, key.num_images, key.explore):
                continue
            listed = value.get("runs")
            for item in listed if isinstance(listed, list) else []:
                bracket = _bracket(item)
                if bracket is not None:
                    runs.append(bracket)
        runs.sort(key=lambda b: b[2])
        return runs[-self._keep :]

    def _failed(self, doing: str, e: Exception) -> None:
        why = e.message if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
        if not self._failing:
            self._failing = True
            log.warning(
                "run durations could not be %s the store; polling goes on with the runs this process saw: %s",
                doing,
                why,
            )
        else:
            log.debug("run durations could not be %s the store: %s", doing, why)

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("the store answers again: run durations are shared through it again")


def _window(runs: Sequence[Bracket]) -> Window | None:
    """The bracket middles, widened by a quarter of a typical bracket (the outer tenth of the middles left out
    once there are ten); None below `MIN_SAMPLES` runs."""
    if len(runs) < MIN_SAMPLES:
        return None
    middles = sorted((low + high) / 2 for low, high, _ in runs)
    slack = _slack(runs)
    cut = len(runs) // 10
    return Window(max(0.0, middles[cut] - slack), middles[-1 - cut] + slack)


def _slack(runs: Sequence[Bracket]) -> float:
    """How far a window reaches past its runs' middles: a quarter of a typical bracket."""
    import statistics  # here, not at the start: only a window's computation needs it

    return statistics.median(high - low for low, high, _ in runs) / 4


def _informative(runs: Sequence[Bracket]) -> list[Bracket]:
    """The runs that say something, tightest first. A run found finished long after the read before leaves a
    loose bracket ("between 1 and 12.5 s"), whose middle would drag the window open: one more than twice as wide
    as the window the tighter runs give, that holds that window's middle (or ends within the window's slack of
    it: a bracket's middle overstates a run found at the read after a start known only roughly), agrees with them
    and says less, so it is left out. Loose brackets still count while fewer than `MIN_SAMPLES` tighter runs are
    known (runs far faster than the prior teach through them) and when they disagree with the tighter ones (runs
    got faster)."""
    kept: list[Bracket] = []
    for low, high, at in sorted(runs, key=lambda b: b[1] - b[0]):
        window = _window(kept)
        if window is not None:
            middle, width = (window.shortest + window.longest) / 2, window.longest - window.shortest
            reach = _slack(kept)
            if high - low > 2 * width and low <= middle <= high + reach:
                continue
        kept.append((low, high, at))
    return kept


def _plausible(low: float, high: float) -> bool:
    return math.isfinite(low) and math.isfinite(high) and high > 0 and 0 <= low <= high <= low + WIDEST


def _bracket(item: Any) -> Bracket | None:
    """A stored run [low, high, at], if it is one."""
    if not isinstance(item, list) or len(item) != 3:
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in item):
        return None
    low, high, at = (float(x) for x in item)
    return (low, high, at) if _plausible(low, high) and math.isfinite(at) else None

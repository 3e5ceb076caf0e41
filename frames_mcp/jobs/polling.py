"""When to poll a task: a schedule that holds whatever shape the progress curve has (the wait loop that follows it
is `wait`).

Two kinds of knowledge decide a poll:
- the window in which the run is likely to end: its start (from `estimatedTimeToStartSeconds`, or when
  it was first seen running) plus how long runs take, from the durations this install observed
  (`Durations`, kept in the store) or, until it has some, the documented prior (4 images in under 20 s on
  average, 20-30 s by other accounts; Explore mode slower);
- the task's own progress, as evidence, not a clock: a straight course through the latest reading and an
  earlier one of the same rate (or the run's start) predicts the finish, from whichever gives it most
  precisely; the highest reading counts (a step back is noise); how far the readings stray from a straight
  course, beyond their rounding, widens the prediction's error (a noisy course is no aim); a reading that rose
  far less or far more than predicted starts a new rate (a stall ended, a tail slowed, a plateau began).

The evidence may pull a poll earlier, never past the window: before the window only a prediction from two
agreeing stretches polls (else the first poll lands at the window's start), and, under the prior, a look just
after a finish the progress predicts before the window (a run far faster than the prior; a second one if the
first found it running); inside it polls come at most `dense` apart, or a third of a narrow window, or `spread`
of a wide one, and half `dense` after a confident aim that missed. Past the window, and on a plateau or slowdown
with no rate yet, gaps start at `dense` and grow with how late the task is (`late`); a crawl that three readings
measured (or two, if it can end `near`) is not polled before the earliest it can end on a straight course
through their rounding (`crawl`), and first `dense` after that. Every gap stays within [minimum, maximum], and
the last poll lands before the budget ends. No MCP types here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from frames_mcp.jobs.crawl import earliest_end, scatter
from frames_mcp.jobs.durations import Durations, Key, Window
from frames_mcp.useapi.models import Task

BARELY_BEGUN = 0.05  # a run first seen at this progress or less began at most half a second before
PROBES = 2  # looks per rate measured at a finish the progress predicts before the prior's window
CRAWL_POINTS = 6  # a crawl's earliest end is found from its first readings and at most this many latest ones


@dataclass(frozen=True)
class PollSchedule:
    first: float = 1.0  # the first poll after create comes this soon at the latest
    minimum: float = 0.25  # never poll one task more often than this
    contended: float = 0.1  # ... unless a call waits in line for the task's slot: then this (the idle slot is theirs)
    maximum: float = 12.0  # never leave a task unpolled longer than this
    growth: float = 1.6  # while queued with no news, and after failed polls, gaps grow by this factor
    margin: float = 0.05  # aim this long after a confident predicted finish
    tolerance: float = 0.1  # a finish predicted this precisely (seconds, less rounding) is aimed at directly
    refine: float = 0.6  # otherwise the next poll comes after this fraction of the predicted remaining time
    ratio_step: float = 0.01  # the resolution of progressRatio ("0.42")
    final_lead: float = 0.4  # the last poll is sent this long before the budget ends
    estimate_every: float = 2.0  # while a long wait runs, report the estimated progress this often
    # The documented prior, for keys this install has not seen finish yet.
    shortest: float = 8.0  # seconds: 4 images take under 20 s on average, 20-30 s by other accounts [I]
    longest: float = 60.0  # seconds: a normal run is expected to be over by then
    explore_factor: float = 2.0  # Explore mode queues at lower priority and runs longer
    dense: float = 0.5  # the widest gap inside a known window (or when overdue): the delay a result may have
    spread: float = 0.05  # inside a window, gaps of at most this fraction of its width (when wider than dense)
    late: float = 0.25  # once overdue, gaps are at least this fraction of how long it has been overdue
    near: float = 1.5  # a crawl only two readings show is waited on if it can end no later than this after them


# NamedTuples, not frozen dataclasses: the classes are made at every start, and a dataclass costs 4x as much to make.
class Observation(NamedTuple):
    at: float  # clock time the state was read (mid-request)
    status: str
    ratio: float | None
    eta: float | None

    @property
    def queued(self) -> bool:
        return self.status in ("PENDING", "THROTTLED")

    @property
    def running(self) -> bool:
        return self.status == "RUNNING" and self.ratio is not None

    def news_since(self, other: Observation) -> bool:
        eta = None if self.eta is None else round(self.eta, 1)
        other_eta = None if other.eta is None else round(other.eta, 1)
        return (self.status, self.ratio, eta) != (other.status, other.ratio, other_eta)


class Prediction(NamedTuple):
    end: float  # clock time the task should finish
    error: float  # its uncertainty, seconds
    sure: bool  # precise enough to aim at directly
    evidence: tuple[float, float, float]  # (at, progress, rate/s) it was made from


class Start(NamedTuple):
    at: float  # best estimate of when the run began
    low: float  # it began no earlier than this
    high: float  # and no later than this


class Predictor:
    """Picks the poll times of one task from its observations, its likely window and its progress."""

    def __init__(self, schedule: PollSchedule, durations: Durations | None = None) -> None:
        self.schedule = schedule
        self.durations = durations
        self.observations: list[Observation] = []
        self._key: Key | None = None
        self._regime = 0  # progress readings before this index belong to a rate that proved wrong
        self._slowed: float | None = None  # when the task last proved slower than measured (overdue since)
        self._expected: tuple[float, float, float] | None = None  # (at, progress, rate/s) of the last prediction
        self._interval: float | None = None  # the last gap chosen while queued with no estimate
        self._aimed = False  # the last poll was aimed at a confident predicted finish
        self._missed = False  # and the task was not finished then
        self._errors = 0  # polls failed in a row since the last answer
        self._probes = (0, 0)  # (regime, looks) at finishes predicted before the window, in that regime
        self._contended = False  # the poll being chosen: a call waits in line for this task's slot
        self._planned: float | None = None  # a look after a fast run's finish, put off for one more reading

    # ---- what is known -------------------------------------------------------------------------------

    def record(self, task: Task, at: float) -> None:
        if self._key is None:
            self._key = Key.of(task)
        self._errors = 0
        obs = Observation(at, task.status, _fraction(task.progressRatio), _seconds(task.estimatedTimeToStartSeconds))
        if obs.running and self._expected is not None:
            self._check(obs)
        self.observations.append(obs)
        self._missed = self._aimed and not task.is_terminal
        if task.status == "SUCCEEDED":
            self._learn(at)

    def failed(self) -> None:
        """A poll failed (transiently): the next ones back off, from `first` by `growth`."""
        self._errors += 1

    def _check(self, obs: Observation) -> None:
        """A reading that rose far less or far more than the measured rate said starts a new regime, whose
        rate is measured afresh (a stall ended, a tail slowed, a plateau began)."""
        assert self._expected is not None
        since, base, rate = self._expected
        q = self.schedule.ratio_step / 2
        rise = max(obs.ratio or 0.0, base) - base
        expected = rate * (obs.at - since)
        slower = rise + 2 * q < 0.5 * expected
        if slower:  # measure the slower rate from this reading on (the last stretch mixes the two)
            self._regime, self._slowed = len(self.observations), obs.at
        elif rise - 2 * q > 2 * expected + 4 * q:  # faster: the rise since the last reading is the new rate
            self._regime = max(i for i, o in enumerate(self.observations) if o.running)
            self._slowed = None

    def start(self) -> Start | None:
        """When the run began, as far as the observations tell; None while it has not (or if unknowable)."""
        obs = self.observations
        first_run = next((i for i, o in enumerate(obs) if o.status not in ("PENDING", "THROTTLED")), None)
        if first_run is None:
            return None
        high = obs[first_run].at
        queued = obs[first_run - 1] if first_run > 0 and obs[first_run - 1].queued else None
        if queued is None:  # first seen running: known only if it had barely begun
            ratio = obs[first_run].ratio or 0.0
            return Start(high, high - 0.5, high) if ratio <= BARELY_BEGUN else None
        if queued.eta is None:
            return Start((queued.at + high) / 2, queued.at, high)
        at = min(max(queued.at + queued.eta, queued.at), high)
        err = 0.1 + 0.1 * queued.eta  # useapi's estimate is an estimate [I]
        return Start(at, max(queued.at, at - err), min(high, at + err))

    def window(self) -> Window:
        """The run durations this task is likely to fall between: observed ones, else the prior."""
        known = self._observed()
        if known is not None:
            return known
        s = self.schedule
        factor = s.explore_factor if self._key is not None and self._key.explore else 1.0
        return Window(s.shortest * factor, s.longest * factor)

    def _observed(self) -> Window | None:
        return self.durations.window(self._key) if self.durations is not None and self._key else None

    def finish(self) -> Prediction | None:
        """When the run should finish: the straight course through the latest reading and the earlier point (a
        reading of this rate, or the run's start) that predicts it most precisely, given how far the readings
        stray from a straight course (rounding at the least)."""
        q = self.schedule.ratio_step / 2  # rounding error of one reading
        readings = [o for o in self.observations[self._regime :] if o.running]
        if not readings:
            return None
        highest: list[float] = []
        for o in readings:  # a step back is noise: progress is the highest reading so far
            highest.append(max(o.ratio or 0.0, highest[-1] if highest else 0.0))
        last, ratio = readings[-1], highest[-1]
        start = self.start() if self._regime == 0 else None
        origin = None if start is None else (start.at, 0.0, (start.high - start.low) / 2)  # (at, 0, time error)
        # What one reading may stray from its course: its rounding, or what the readings show beyond their share,
        # from the first point (the run's start, when known) to the last; a step back strays too.
        first = origin if origin is not None and origin[0] < readings[0].at else (readings[0].at, highest[0], 0.0)
        noise = max(q, scatter([(o.at, o.ratio or 0.0) for o in readings], first, (last.at, ratio)) - q)
        # (at, progress, time error, a reading): the points a rate may be measured from, at least 4 roundings below
        bases = [(o.at, highest[i], 0.0, True) for i, o in enumerate(readings[:-1]) if highest[i] <= ratio - 4 * q]
        if origin is not None and origin[0] < last.at and ratio >= 4 * q:
            bases.append((*origin, False))
        best: Prediction | None = None
        for since, base, time_err, reading in bases:
            spent, gained = last.at - since, ratio - base
            if spent <= 0 or gained <= 0:
                continue
            rate = gained / spent
            left = max(0.0, 1.0 - ratio) / rate
            error = left * (2 * noise / gained + time_err / spent) + noise / rate
            if best is None or error < best.error:
                sure = reading and error - q / rate <= self.schedule.tolerance  # precise but for the last rounding
                best = Prediction(last.at + left, error, sure, (last.at, ratio, rate))
        return best

    def ratio_at(self, t: float) -> float | None:
        """The progress expected at time t (for estimated progress between polls), if predictable."""
        last = self.observations[-1] if self.observations else None
        predicted = self.finish()
        if predicted is None or last is None or last.ratio is None or last.status != "RUNNING":
            return None
        if predicted.end <= last.at:
            return last.ratio
        return min(0.99, last.ratio + (1.0 - last.ratio) * (t - last.at) / (predicted.end - last.at))

    # ---- when to poll --------------------------------------------------------------------------------

    def next_poll(self, now: float, contended: bool = False) -> float:
        """The clock time of the next poll (not yet cut to any budget); `contended`: a call waits for the slot."""
        s = self.schedule
        last = self.observations[-1]
        self._contended = contended
        target = self._queued(now) if last.queued else self._running(now)
        if len(self.observations) == 1:  # only the create response so far: look soon
            target = min(target, now + s.first)
        if self._errors:
            target = max(target, now + s.first * s.growth ** (self._errors - 1))
        if not math.isfinite(target):  # nothing predicts it (odd numbers upstream): look again soon
            target = now + s.first
        return min(max(target, now + (s.contended if contended else s.minimum)), now + s.maximum)

    def _queued(self, now: float) -> float:
        s = self.schedule
        obs = self.observations
        last = obs[-1]
        news = len(obs) < 2 or last.news_since(obs[-2])
        if last.eta is not None and news:
            self._interval = None
            return last.at + last.eta + self.window().shortest  # the window's start
        self._interval = s.first if self._interval is None else self._interval * s.growth
        return now + self._interval

    def _running(self, now: float) -> float:
        s = self.schedule
        window, start = self.window(), self.start()
        if start is not None:
            opens, closes = start.at + window.shortest, start.at + window.longest
        else:  # first seen well into its run (a get_task later on): inside the window from then on
            seen = next((o.at for o in self.observations if not o.queued), now)
            opens, closes = seen, seen + window.longest - window.shortest
        predicted = self.finish()
        self._expected = None if predicted is None else predicted.evidence
        # Aim at a predicted finish only from two stretches of progress that agree (three readings).
        readings = sum(1 for o in self.observations[self._regime :] if o.running)
        sure = predicted is not None and predicted.sure and readings >= 3
        target = float("inf")
        if predicted is not None and sure:
            target = predicted.end + predicted.error + s.margin
        elif predicted is not None:  # measure again; once within the prediction's own error, every `dense`
            target = min(now + s.refine * (predicted.end - now), max(predicted.end - predicted.error, now + s.dense))
            crawl = self._crawl_end() if self._slowed is not None else None
            if crawl is not None:  # the first poll past the earliest end covers `dense`, as every other one does
                target = max(target, crawl + s.dense)
        if now < opens:  # before the window: only an aim polls early, else the first poll lands at its start
            self._aimed = sure and target < opens
            if self._aimed:
                return target
            return self._probe(predicted, opens, now)
        width = window.longest - window.shortest + (start.high - start.low if start is not None else 0.0)
        gap = max(min(s.dense, width / 3), s.spread * width)
        if now >= closes:  # past the window: gaps grow with how late the task is
            gap = max(s.dense, s.late * (now - closes))
        elif self._slowed is not None and predicted is None:  # a plateau or a slowdown, no rate yet
            crawl = self._crawl_end()
            wait = 0.0 if crawl is None else crawl + s.dense - now
            gap = min(gap, max(s.dense, s.late * (now - self._slowed), wait))
        if self._missed:  # it was due: the finish is most likely just ahead
            gap = min(gap, s.dense / 2)
        self._aimed = sure and target <= now + gap
        return min(target, now + gap)

    def _probe(self, predicted: Prediction | None, opens: float, now: float) -> float:
        """Before the window, with no aim: its start; but while the window is the documented prior (no run of the
        kind seen to finish), progress that says the run ends before it (one far faster than the prior) is
        looked at just after that finish, at most `PROBES` times per rate measured (a look that found it running
        also measured the rate over more of the run). While a call waits for the task's slot, one more reading
        comes first (it narrows the finish from the error of the run's start to rounding); the look planned before
        it and the ones it plans all come, the earlier first, until the task is seen final."""
        if self._planned is not None and self._planned <= now:
            self._planned = None
        planned = self._planned
        waiting = planned if planned is not None and planned < opens else opens  # the next look if none is added
        regime, looks = self._probes
        looks = looks if regime == self._regime else 0
        if predicted is None or looks >= PROBES or self._observed() is not None:
            self._planned = None
            return waiting
        s = self.schedule
        probe = predicted.end + predicted.error + s.margin
        if probe >= opens:
            return waiting
        mid = now + s.refine * (predicted.end - now)
        if self._contended and planned is None and not predicted.sure and mid >= now + s.dense:
            self._planned = probe
            return mid
        self._probes = (self._regime, looks + 1)
        if planned is None:
            return probe
        first, self._planned = sorted((probe, planned))  # the later look is kept in case the first one is early
        return first

    def _crawl_end(self) -> float | None:
        """After a slowdown, once readings show progress still creeping up: the earliest the run can end if the
        crawl holds its course (a straight line through every reading since the one before the slowdown, rounding
        included), so that no poll is worth sending before it. None on a plateau, which may end in a jump; from
        only two readings, None unless that end is `near`: one step may be noise before a jump, which then comes
        at most that late."""
        readings = [o for o in self.observations[self._regime :] if o.running]
        if len(readings) < 2 or max(o.ratio or 0.0 for o in readings) <= (readings[0].ratio or 0.0):
            return None
        end = self._straight_end(readings)
        if end is not None and len(readings) == 2 and end - readings[-1].at > self.schedule.near:
            return None
        return end

    def _straight_end(self, readings: list[Observation]) -> float | None:
        q = self.schedule.ratio_step / 2
        points = [(o.at, o.ratio or 0.0) for o in readings]
        points = points[:1] + points[1:][-CRAWL_POINTS:]
        before = self.observations[self._regime - 1] if self._regime > 0 else None
        if before is not None and before.running:  # the crawl may have begun there: a longer baseline, if it fits
            end = earliest_end([(before.at, before.ratio or 0.0), *points], q)
            if end is not None:
                return end
        return earliest_end(points, q)

    # ---- learning durations -----------------------------------------------------------------------

    def _learn(self, finished_by: float) -> None:
        """Record the run that just succeeded: it began within `start()` and ended after the read before."""
        start = self.start()
        if self.durations is None or self._key is None or start is None or len(self.observations) < 2:
            return
        shortest = max(0.0, self.observations[-2].at - start.high)  # 0 when it was never seen running
        self.durations.record(self._key, shortest, finished_by - start.low)


def _fraction(value: float | None) -> float | None:
    """progressRatio as a fraction 0..1; anything else is unknown (odd numbers must not steer polling)."""
    return min(max(value, 0.0), 1.0) if value is not None and math.isfinite(value) else None


def _seconds(value: float | None) -> float | None:
    return max(value, 0.0) if value is not None and math.isfinite(value) else None

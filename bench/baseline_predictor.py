"""The poll predictor frames-mcp had before issue 14 (jobs/polling.py as of the `house-landed` tag), kept
verbatim as the benchmark's reference for "today's predictor". Not used by the server."""

from __future__ import annotations

from dataclasses import dataclass

from frames_mcp.useapi.models import Task


@dataclass(frozen=True)
class PollSchedule:
    first: float = 1.0  # the first poll after create comes this soon at the latest
    minimum: float = 0.25  # never poll one task more often than this
    maximum: float = 12.0  # never leave a task unpolled longer than this
    growth: float = 1.6  # a poll that brought no news makes the next interval this much longer
    probe: float = 0.5  # after the predicted start, look this far into the run to measure its rate
    margin: float = 0.05  # aim this long after a confident predicted finish
    tolerance: float = 0.1  # a finish predicted within this many seconds (less rounding) is aimed at directly
    refine: float = 0.7  # otherwise the next poll comes after this fraction of the predicted remaining time,
    stretch: float = 3.0  # and, from one reading, after at most this multiple of the time measured so far
    ratio_step: float = 0.01  # the resolution of progressRatio ("0.42")
    final_lead: float = 0.4  # the last poll is sent this long before the budget ends
    estimate_every: float = 2.0  # while a long wait runs, report the estimated progress this often


@dataclass(frozen=True)
class Observation:
    at: float  # clock time the state was read (mid-request)
    status: str
    ratio: float | None
    eta: float | None

    @property
    def queued(self) -> bool:
        return self.status in ("PENDING", "THROTTLED")

    def news_since(self, other: Observation) -> bool:
        eta = None if self.eta is None else round(self.eta, 1)
        other_eta = None if other.eta is None else round(other.eta, 1)
        return (self.status, self.ratio, eta) != (other.status, other.ratio, other_eta)


@dataclass(frozen=True)
class Prediction:
    end: float  # clock time the task should finish
    error: float  # its uncertainty, seconds
    reducible: float  # the part of `error` another reading would shrink (the rest is the last reading's rounding)
    since: float  # clock time the measurement starts from (the run's start, or its first reading)
    single: bool  # made from a single reading of progress


class Predictor:
    """Predicts when one task finishes, from its observations, and picks the next poll time."""

    def __init__(self, schedule: PollSchedule) -> None:
        self.schedule = schedule
        self.observations: list[Observation] = []
        self._interval: float | None = None  # the last interval chosen without a prediction

    def record(self, task: Task, at: float) -> None:
        self.observations.append(Observation(at, task.status, task.progressRatio, task.estimatedTimeToStartSeconds))

    def _start(self) -> tuple[float, float] | None:
        """(predicted start, its uncertainty) from the last queued observation with an estimate."""
        for o in reversed(self.observations):
            if o.queued and o.eta is not None:
                return o.at + o.eta, 0.05 + 0.05 * o.eta
            if o.queued:
                return None
        return None

    def finish(self) -> Prediction | None:
        """When a running task should finish, if its rate is measurable yet."""
        running = [o for o in self.observations if o.status == "RUNNING" and o.ratio is not None]
        if not running:
            return None
        last = running[-1]
        q = self.schedule.ratio_step / 2  # rounding error of one reading
        start = self._start()
        first = running[0]
        assert last.ratio is not None and first.ratio is not None
        if len(running) >= 2 and last.ratio - first.ratio >= 4 * q:
            anchor_at, anchor_ratio, anchor_err, time_err = first.at, first.ratio, q, 0.0
        elif start is not None and start[0] < last.at:
            anchor_at, anchor_ratio, anchor_err, time_err = start[0], 0.0, 0.0, start[1]
        else:
            return None
        gained, spent = last.ratio - anchor_ratio, last.at - anchor_at
        if gained <= 0 or spent <= 0:
            return None
        rate = gained / spent
        previous = running[-2] if len(running) >= 2 else None
        if previous is not None and previous.ratio is not None and last.at > previous.at:
            recent = last.ratio - previous.ratio
            if recent >= 4 * q:  # progress that speeds up: trust the latest stretch
                rate = max(rate, recent / (last.at - previous.at))
        left = max(0.0, 1.0 - last.ratio) / rate
        relative = (anchor_err + q) / gained + time_err / spent
        single = len(running) == 1  # one reading says little about the shape of the progress curve
        return Prediction(last.at + left, left * relative + q / rate, left * relative, anchor_at, single)

    def ratio_at(self, t: float) -> float | None:
        """The progress expected at time t (for estimated progress between polls), if predictable."""
        predicted = self.finish()
        last = self.observations[-1] if self.observations else None
        if predicted is None or last is None or last.ratio is None or last.status != "RUNNING":
            return None
        end = predicted.end
        if end <= last.at:
            return last.ratio
        return min(0.99, last.ratio + (1.0 - last.ratio) * (t - last.at) / (end - last.at))

    def next_poll(self, now: float) -> float:
        """The clock time of the next poll (not yet cut to any budget)."""
        s = self.schedule
        obs = self.observations
        last = obs[-1]
        news = len(obs) < 2 or last.news_since(obs[-2])
        target: float | None = None
        predicted = self.finish() if last.status == "RUNNING" else None
        if predicted is not None:
            if predicted.reducible <= s.tolerance:  # sure enough: land just after the finish
                target = predicted.end + predicted.error + s.margin
            else:  # measure again well before the finish, where the rate reads far more precisely
                target = last.at + s.refine * (predicted.end - last.at)
                if predicted.single:
                    target = min(target, last.at + s.stretch * (last.at - predicted.since))
        elif last.queued and last.eta is not None and news:
            target = last.at + last.eta + s.probe
        if target is None or not news:
            self._interval = s.first if self._interval is None else self._interval * s.growth
            fallback = now + self._interval
            target = fallback if target is None else max(target, fallback)
        if len(obs) == 1:  # only the create response so far: look soon
            target = min(target, now + s.first)
        return min(max(target, now + s.minimum), now + s.maximum)

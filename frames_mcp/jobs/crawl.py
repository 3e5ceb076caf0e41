"""Straight courses through progress readings: how far readings stray from one, and how soon a crawl can end.

The poll schedule (`polling`) predicts a finish from a straight course, as precise as the readings are close to
one (`scatter`), and waits on a crawl it has measured until the earliest end of a straight rise through rounded
readings (`earliest_end`): no poll is worth sending before the run can have ended. progressRatio comes rounded to
two decimals and capped at 0.99 while the task runs, so each reading stands for a band, and a capped one for
anything up to the end.
"""

from __future__ import annotations

CAPPED = 0.99  # useapi sends at most this while a task runs: a reading of it may be anything up to the end


def scatter(points: list[tuple[float, float]], first: tuple[float, float, float], last: tuple[float, float]) -> float:
    """How far the readings (t, ratio) between `first` (t, ratio, its time error) and `last` (t, ratio) lie from
    the straight line through those two, less what the first one's time error explains; 0 with none between.
    Rounding is not taken off: with it alone, a reading lies up to two roundings from that line."""
    (t0, v0, slack), (t1, v1) = first, last
    between = [(t, v) for t, v in points if t0 < t < t1]
    if not between:
        return 0.0
    slope = (v1 - v0) / (t1 - t0)
    return max(abs(v - (v0 + slope * (t - t0))) for t, v in between) - slope * slack


def earliest_end(points: list[tuple[float, float]], q: float) -> float | None:
    """The earliest time a straight rise through every reading (t, ratio), each within its rounding q (a capped
    reading anywhere up to 1), reaches 1; None if no rising line fits them all.

    The lines fitting the readings form a convex polygon in (value at the last reading, rate); the earliest end
    lies at one of its corners, so every crossing of two constraints is tried (a handful of readings: cheap)."""
    last = points[-1][0]
    sides: list[tuple[float, float, float]] = [(0.0, -1.0, 0.0)]  # a*value + b*rate <= c; first: rate >= 0
    for t, ratio in points:
        low, high = (CAPPED - q, 1.0) if ratio >= CAPPED else (ratio - q, ratio + q)
        sides += [(1.0, t - last, high), (-1.0, last - t, -low)]
    best: float | None = None
    for i, (a1, b1, c1) in enumerate(sides):
        for a2, b2, c2 in sides[i + 1 :]:
            det = a1 * b2 - a2 * b1
            if abs(det) < 1e-12:
                continue
            value, rate = (c1 * b2 - c2 * b1) / det, (a1 * c2 - a2 * c1) / det
            if rate <= 1e-9 or any(a * value + b * rate > c + 1e-9 for a, b, c in sides):
                continue
            end = last + (1.0 - value) / rate
            best = end if best is None else min(best, end)
    return best

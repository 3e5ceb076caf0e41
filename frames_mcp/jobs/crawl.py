"""How soon a crawling progress can end: the earliest end of a straight rise through rounded readings.

The poll schedule (`polling`) waits this long on a crawl it has measured: no poll is worth sending before the
run can have ended. progressRatio comes rounded to two decimals and capped at 0.99 while the task runs, so each
reading stands for a band, and a capped one for anything up to the end.
"""

from __future__ import annotations

CAPPED = 0.99  # useapi sends at most this while a task runs: a reading of it may be anything up to the end


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

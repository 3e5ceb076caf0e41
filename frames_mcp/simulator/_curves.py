"""Progress curves: how a simulated task's progressRatio rises over its run.

Real Runway progress is not known to be a straight line, so the simulator can run tasks on curves of
other shapes, to hold the poll schedule to them. Each curve maps the fraction of the run that has passed
(0..1) to a progress value; the task JSON rounds it to two decimals and caps it at 0.99 while RUNNING,
as useapi sends it. A curve is picked per simulator (`SimulatorConfig.progress_curve`) or per prompt
(the magic word `[curve:<name>]`).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from functools import cache

Curve = Callable[[float], float]  # fraction of the run passed -> progress

# Piecewise-linear curves as (fraction of the run, progress) knots.
_KNOTS: dict[str, tuple[tuple[float, float], ...]] = {
    "linear": ((0.0, 0.0), (1.0, 1.0)),
    # Near 0 for the first half (a model loading, a hidden queue), then a fast rise to the end.
    "stall": ((0.0, 0.0), (0.5, 0.02), (1.0, 1.0)),
    # Steps: three jumps, each followed by a flat stretch; the last plateau holds until the end.
    "plateaus": (
        (0.0, 0.0),
        (0.1, 0.1),
        (0.12, 0.35),
        (0.4, 0.35),
        (0.45, 0.6),
        (0.7, 0.6),
        (0.73, 0.9),
        (1.0, 0.9),
    ),
    # Fast to 0.9 in the first fifth of the run, then a slow crawl to the end.
    "slow-tail": ((0.0, 0.0), (0.2, 0.9), (1.0, 1.0)),
}
NOISY_STEPS = 30  # the noisy curve changes this many times over a run
CURVES: tuple[str, ...] = (*_KNOTS, "noisy")


def _interpolate(knots: tuple[tuple[float, float], ...], fraction: float) -> float:
    xs = [x for x, _ in knots]
    i = bisect.bisect_right(xs, fraction)
    if i <= 0:
        return knots[0][1]
    if i >= len(knots):
        return knots[-1][1]
    (x0, y0), (x1, y1) = knots[i - 1], knots[i]
    return y0 + (y1 - y0) * (fraction - x0) / (x1 - x0)


@cache
def _noisy_path(seed: int) -> tuple[float, ...]:
    """Random small steps around a straight line; about one step in six goes back by 0.01-0.04."""
    rng = random.Random(seed)  # noqa: S311 - a test curve, not a secret
    path, value, back = [0.0], 0.0, False
    for k in range(1, NOISY_STEPS):
        back = not back and rng.random() < 1 / 6  # never two steps back in a row
        if back:
            value -= rng.uniform(0.01, 0.04)
        else:
            target = k / NOISY_STEPS
            value = max(value, target + rng.uniform(-0.04, 0.04))
        path.append(min(max(value, 0.0), 0.99))
    return tuple(path)


def curve(name: str, seed: int) -> Curve:
    """The curve called `name`; `seed` makes the noisy one differ between tasks (and repeat for a task)."""
    if name == "noisy":
        path = _noisy_path(seed)
        return lambda fraction: path[min(int(fraction * NOISY_STEPS), NOISY_STEPS - 1)]
    if name not in _KNOTS:
        raise ValueError(f"unknown progress curve {name!r}; expected one of {', '.join(CURVES)}")
    knots = _KNOTS[name]
    return lambda fraction: _interpolate(knots, min(max(fraction, 0.0), 1.0))


def curve_in(prompt: str) -> str | None:
    """The curve a prompt asks for with `[curve:<name>]` (case-insensitive), if any."""
    lowered = prompt.lower()
    for name in CURVES:
        if f"[curve:{name}]" in lowered:
            return name
    return None

"""The window the poll schedule takes from observed run durations (jobs/durations.py): which brackets count.

A bracket is what polling saw of one run: it took between `low` (the read before the finish, less the start) and
`high` (the read that found it finished) seconds. A run found finished long after the read before leaves a loose
one; these tests hold which loose brackets shape the window and which are left out.
"""

from __future__ import annotations

from frames_mcp.jobs.durations import Durations, Key, Window

KEY = Key("demo@frames.local", 4, False)


def _window(*brackets: tuple[float, float]) -> Window | None:
    durations = Durations()
    for low, high in brackets:
        durations.record(KEY, low, high)
    return durations.window(KEY)


def test_a_loose_bracket_that_agrees_with_tighter_runs_leaves_the_window_as_they_set_it() -> None:
    # "Between 1 and 12.5 s" beside runs of 12 s: true, and no news; its middle (6.75 s) must not open the window.
    tight = [(11.8, 12.2), (11.9, 12.3)]
    assert _window(*tight, (1.0, 12.5)) == _window(*tight)


def test_a_loose_bracket_ending_just_short_of_the_windows_middle_still_agrees() -> None:
    # Runs of 11.7 and 12.1 s, each found about half a second late, after a start known within half a second:
    # their middles (12.17, 12.59) set a window of 11.9-12.85 s. A run found at the window's first read, "between
    # 1 and 12.3 s", ends short of that middle (12.38) by less than the slack the window gives each middle: it says
    # nothing new, and must not open the window at 6.4 s (the next runs would be polled densely from there).
    tight = [(11.65, 12.68), (12.06, 13.12)]
    assert _window(*tight, (1.0, 12.3)) == _window(*tight)


def test_loose_brackets_alone_still_teach_runs_faster_than_the_prior() -> None:
    # 2 s runs under the 8-60 s prior are first found finished at the window's start: only loose brackets, and
    # they are all there is, so they open the next window well before the prior's 8 s.
    window = _window((1.0, 8.0), (1.1, 8.0))
    assert window is not None and window.shortest < 4.0


def test_a_loose_bracket_that_says_runs_got_faster_still_counts() -> None:
    # Runs took 12 s; now one is found finished at the window's start, "between 1 and 11.9 s": shorter than the
    # tighter runs say, so it opens the window earlier.
    tight = [(11.8, 12.2), (11.9, 12.3)]
    before, after = _window(*tight), _window(*tight, (1.0, 11.9))
    assert before is not None and after is not None and after.shortest < before.shortest - 1.0

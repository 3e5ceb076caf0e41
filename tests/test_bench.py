"""The benchmark entry point runs (figures are not tests: this only checks that the command works)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ._tools import require

REPO = Path(__file__).resolve().parent.parent


def quick(module: str, *args: str, timeout: float = 120) -> str:
    """What `python -m <module> --quick --no-write ...` prints: the benchmark shrunk, BENCHMARKS.md untouched."""
    return subprocess.run(
        [sys.executable, "-m", module, "--quick", "--no-write", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout


def test_bench_entry_point_runs_with_tiny_parameters() -> None:
    # `python -m bench` is the one command the README names; --quick shrinks it to a few seconds.
    out = quick("bench", "--only", "concurrency")
    assert "<!-- core:start -->" in out and "concurrency: makespan" in out
    assert "| concurrency: upstream 429s | 0 |" in out


def test_polling_bench_runs_as_a_scale_model() -> None:
    # `python -m bench.polling --quick`: every duration x0.1, so one curve takes a few seconds; each row has
    # the pollers' figures.
    out = quick("bench.polling", "--curves", "stall")
    assert "<!-- polling:start -->" in out
    rows = [line for line in out.splitlines() if line.startswith("| stall |")]
    # new cold, restarted and warm; the plain loop cold and warm; today's predictor; the fixed poller
    assert len(rows) == 2 and all(row.count(" s, ") == 7 for row in rows)


def test_fleet_benchmark_runs_with_tiny_parameters() -> None:
    # bench/fleet.py starts stdio processes, HTTP replicas and a redis-server; --quick checks it all still runs.
    require(shutil.which("redis-server") is not None, "redis-server is missing (.ci/setup-redis.sh)")
    out = quick("bench.fleet", timeout=300)
    assert "<!-- fleet:start -->" in out and "one SQLite store: upstream 429s | 0 |" in out
    assert "survivors' calls finished" in out


def test_tasks_bench_entry_point_runs_with_tiny_parameters() -> None:
    # `python -m bench.tasks` measures the MCP tasks path; --quick only checks that it runs end to end.
    out = quick("bench.tasks")
    assert "<!-- tasks:start -->" in out and "tasks/get round trips per generation" in out

"""The benchmark entry point runs (figures are not tests: this only checks that the command works)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ._tools import require

REPO = Path(__file__).resolve().parent.parent


def test_bench_entry_point_runs_with_tiny_parameters() -> None:
    # `python -m bench` is the one command the README names; --quick shrinks it to a few seconds.
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-write", "--only", "concurrency"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "<!-- core:start -->" in out.stdout and "concurrency: makespan" in out.stdout
    assert "| concurrency: upstream 429s | 0 |" in out.stdout


def test_polling_bench_runs_as_a_scale_model() -> None:
    # `python -m bench.polling --quick`: every duration x0.1, so one curve takes a few seconds; each row has
    # the three pollers' figures.
    out = subprocess.run(
        [sys.executable, "-m", "bench.polling", "--quick", "--no-write", "--curves", "stall"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "<!-- polling:start -->" in out.stdout
    rows = [line for line in out.stdout.splitlines() if line.startswith("| stall |")]
    assert len(rows) == 2 and all(row.count(" s, ") == 6 for row in rows)  # new x2, loop x2, today, fixed


def test_fleet_benchmark_runs_with_tiny_parameters() -> None:
    # bench/fleet.py starts stdio processes, HTTP replicas and a redis-server; --quick checks it all still runs.
    require(shutil.which("redis-server") is not None, "redis-server is missing (.ci/setup-redis.sh)")
    out = subprocess.run(
        [sys.executable, "-m", "bench.fleet", "--quick", "--no-write"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "<!-- fleet:start -->" in out.stdout and "one SQLite store: upstream 429s | 0 |" in out.stdout
    assert "survivors' calls finished" in out.stdout


def test_tasks_bench_entry_point_runs_with_tiny_parameters() -> None:
    # `python -m bench.tasks` measures the MCP tasks path; --quick only checks that it runs end to end.
    out = subprocess.run(
        [sys.executable, "-m", "bench.tasks", "--quick", "--no-write"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "<!-- tasks:start -->" in out.stdout and "tasks/get round trips per generation" in out.stdout

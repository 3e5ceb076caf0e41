"""The benchmark entry point runs (figures are not tests: this only checks that the command works).

The benchmarks mostly wait on simulated tasks, so the ones this session runs start together, when the first
of these tests begins (`started`), and each test waits for its own. Under `--dist loadscope` (the default in
pyproject.toml) the module's tests share one worker; with another distribution each worker would run the
benchmarks of its own tests alone, and no test depends on another's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._tools import require

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """`python -m <module> --quick --no-write ...`: the benchmark shrunk, BENCHMARKS.md untouched."""

    module: str
    args: tuple[str, ...] = ()
    timeout: float = 120

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--quick", "--no-write", *self.args]


RUNS = {  # each test's benchmark
    "test_bench_entry_point_runs_with_tiny_parameters": Run("bench", ("--only", "concurrency")),
    "test_polling_bench_runs_as_a_scale_model": Run("bench.polling", ("--curves", "stall")),
    "test_fleet_benchmark_runs_with_tiny_parameters": Run("bench.fleet", timeout=300),
    "test_tasks_bench_entry_point_runs_with_tiny_parameters": Run("bench.tasks"),
}
NEEDS = {"test_fleet_benchmark_runs_with_tiny_parameters": "redis-server"}  # started only if on PATH


@dataclass
class Started:
    run: Run
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path


@pytest.fixture(scope="module")
def started(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Started]]:
    """The benchmarks of this session's tests of this module, started at once; output goes to files (a pipe
    nobody reads yet would stall a benchmark). Any still running at the end are killed."""
    selected = {item.name for item in request.session.items if getattr(item, "module", None) is sys.modules[__name__]}
    folder = tmp_path_factory.mktemp("bench")
    runs: dict[str, Started] = {}
    try:
        for name, run in RUNS.items():
            if name not in selected or (name in NEEDS and shutil.which(NEEDS[name]) is None):
                continue
            out, err = folder / f"{name}.out", folder / f"{name}.err"
            with out.open("wb") as stdout, err.open("wb") as stderr:
                process = subprocess.Popen(run.argv(), cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
            runs[name] = Started(run, process, out, err)
        yield runs
    finally:
        for one in runs.values():
            if one.process.poll() is None:
                one.process.kill()
            one.process.wait()


def quick(started: dict[str, Started], request: pytest.FixtureRequest) -> str:
    """What this test's benchmark printed, once it exited; it must exit 0 within its timeout."""
    one = started[request.node.name]
    try:
        code = one.process.wait(timeout=one.run.timeout)
    except subprocess.TimeoutExpired:
        one.process.kill()
        pytest.fail(f"{' '.join(one.run.argv()[1:])} ran over {one.run.timeout:g} s:\n{one.stderr.read_text()}")
    assert code == 0, f"{' '.join(one.run.argv()[1:])} exited with {code}:\n{one.stderr.read_text()}"
    return one.stdout.read_text()


def test_bench_entry_point_runs_with_tiny_parameters(
    started: dict[str, Started], request: pytest.FixtureRequest
) -> None:
    # `python -m bench` is the one command the README names; --quick shrinks it to a few seconds.
    out = quick(started, request)
    assert "<!-- core:start -->" in out and "concurrency: makespan" in out
    assert "| concurrency: upstream 429s | 0 |" in out


def test_polling_bench_runs_as_a_scale_model(started: dict[str, Started], request: pytest.FixtureRequest) -> None:
    # `python -m bench.polling --quick`: every duration x0.1, so one curve takes a few seconds; each row has
    # the pollers' figures.
    out = quick(started, request)
    assert "<!-- polling:start -->" in out
    rows = [line for line in out.splitlines() if line.startswith("| stall |")]
    # new cold, restarted and warm; the plain loop cold and warm; today's predictor; the fixed poller
    assert len(rows) == 2 and all(row.count(" s, ") == 7 for row in rows)


def test_fleet_benchmark_runs_with_tiny_parameters(started: dict[str, Started], request: pytest.FixtureRequest) -> None:
    # bench/fleet.py starts stdio processes, HTTP replicas and a redis-server; --quick checks it all still runs.
    require(shutil.which("redis-server") is not None, "redis-server is missing (.ci/setup-redis.sh)")
    out = quick(started, request)
    assert "<!-- fleet:start -->" in out and "one SQLite store: upstream 429s | 0 |" in out
    assert "survivors' calls finished" in out


def test_tasks_bench_entry_point_runs_with_tiny_parameters(
    started: dict[str, Started], request: pytest.FixtureRequest
) -> None:
    # `python -m bench.tasks` measures the MCP tasks path; --quick only checks that it runs end to end.
    out = quick(started, request)
    assert "<!-- tasks:start -->" in out and "tasks/get round trips per generation" in out

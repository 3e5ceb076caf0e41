"""Shared fixtures: a simulator of useapi.net on real loopback HTTP, and MCP clients wired to it."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from pydantic import SecretStr

from frames_mcp.config import Settings
from frames_mcp.jobs.polling import PollSchedule
from frames_mcp.jobs.service import Tuning
from frames_mcp.server.app import build_server
from frames_mcp.simulator import Simulator, SimulatorConfig, ThreadedServer, run_in_thread
from frames_mcp.useapi.client import RetryPolicy
from frames_mcp.useapi.transport import shared_tls

# No test touches the developer's own state: the default SQLite store of in-process servers lives in a directory
# of this test process (subprocesses get one through tests._tools.clean_env).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="frames-mcp-test-state-")

# The session's one warm process for server starts (tests/_warm.py) is named after this, the main process.
os.environ.setdefault("FRAMES_MCP_TESTS_SESSION", str(os.getpid()))

# A real Redis server for the store's tests (redis_server, redis_url, own_redis).
pytest_plugins = ["tests._redis"]


def _check_each_schema_once() -> None:
    """The SDK's client checks a tool's output schema against the JSON Schema metaschema the first time a
    session calls that tool: about 17 ms of CPU for generate_frames', and the suite's hundreds of sessions check
    the same seven schemas, some 6 s of CPU in all. A schema found valid stays valid, so each test process checks
    each distinct schema once; one found invalid is checked (and refused) at every call, as before. Results are
    still validated against the schema at every call."""
    valid: set[str] = set()
    check = Draft202012Validator.check_schema

    def check_once(cls: type[Draft202012Validator], schema: Any, **options: Any) -> None:
        key = json.dumps(schema, sort_keys=True)
        if options or key not in valid:
            check(schema, **options)
        if not options:
            valid.add(key)

    Draft202012Validator.check_schema = classmethod(check_once)  # type: ignore[method-assign,assignment]


_check_each_schema_once()

# Short simulated times: a task is queued 0.05 s and runs 0.2 s, so a full generation takes about 0.3 s.
FAST = {"queue_seconds": 0.05, "run_seconds": 0.2, "image_px": 64}

# Server timings shrunk to match such tasks: a quicker first look, a prior window of 0.2-3 s runs, and request
# timeouts small enough for fault tests, yet generous for a loaded 2-core machine.
FAST_TUNING = Tuning(
    schedule=PollSchedule(first=0.3, minimum=0.1, shortest=0.2, longest=3.0, dense=0.1),
    retry=RetryPolicy(read_backoff=0.05, create_timeout=1.0, read_timeout=1.0),
    request_floor=3.0,
    recovery_seconds=2.0,
    orphan_check_every=0.2,
)

# Only the poll schedule shrunk, the request timeouts real: for tests of what calls return rather than of
# faults. (The real-sized schedule and timeouts are tested on virtual time, in test_polling.py.)
QUICK_POLLS = Tuning(schedule=FAST_TUNING.schedule)

# Briefer still, for tests that only need their tasks to finish (many of them, or one after another): a task
# is done 0.1 s after its create, and the schedule matches it (a first look at 0.1 s, polls at least 0.05 s
# apart). The request timeouts and the rest are FAST_TUNING's.
BRISK = {"queue_seconds": 0.02, "run_seconds": 0.08, "image_px": 32}
BRISK_TUNING = dataclasses.replace(
    FAST_TUNING, schedule=PollSchedule(first=0.1, minimum=0.05, shortest=0.08, longest=1.0, dense=0.05)
)
# The same schedule with the request timeouts real (as QUICK_POLLS to FAST_TUNING).
BRISK_POLLS = Tuning(schedule=BRISK_TUNING.schedule)


class ManualClock:
    """Stands in for time.monotonic: tests move time forward explicitly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): three workers per CPU. Since servers start warm (tests/_warm.py) most of a
    test's time is waiting (simulated runs, leases, other processes): on 2 CPUs, without the browser and Node
    tests, the suite took 100 s with 4 workers, 77 s with 6 and 74 s with 8, which also crowd timing tests more."""
    return 3 * (os.cpu_count() or 1)


# xdist hands the modules out in collection order (pyproject: --no-loadscope-reorder, where its default order is
# by number of tests): the longest go first, so that none starts near the end while the other workers sit idle (the
# longest-processing-time rule). Ranked by one run of the whole suite, 6 workers on 2 CPUs; a module not named here
# is shorter than these and keeps its place after them.
LONGEST_FIRST = (
    "test_ecosystem", "test_fleet", "test_store_server", "test_mcp_tasks_interop", "test_transports", "test_hostile",
    "test_bench", "test_warm", "test_mcp_tasks_fleet", "test_faults", "test_long_running", "test_durations_store",
    "test_claude_code", "test_mcp_tasks", "test_http", "test_release", "test_slots", "test_store_opening",
    "test_terminal", "test_hostile_shapes", "test_mcp_tasks_wire", "test_claude_code_interactive",
    "test_preview_files", "test_gallery_browser", "test_errors", "test_references", "test_arguments",
)  # fmt: skip
_RANK = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
assert all((Path(__file__).parent / f"{name}.py").exists() for name in LONGEST_FIRST), "a ranked module is gone"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _RANK.get(item.path.stem, len(_RANK)))  # stable: each module's own order is kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection loaded (the SDK, pydantic's models, the test modules) lives as long as the process: left out
    of every garbage collection from here on, as the server leaves its imports out (frames_mcp/cli.py). Walked by
    each full collection, it cost the workers about 3 s of CPU in a run, and at the end the run waited about 3 s
    for its last worker's final collections. Garbage the tests make is collected as before."""
    gc.freeze()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


_STOPPING: list[ThreadedServer] = []  # simulators told to stop, joined when the session ends


@contextmanager
def running_sim(**config: Any) -> Iterator[Simulator]:
    """A simulator served from a thread, its URL in `base_url` (modules may override `sim` with their own).

    It is told to stop when the test ends, and uvicorn's shutdown (about 0.2 s of its polling) goes on in
    its own thread while the next test runs, on its own port; `pytest_sessionfinish` joins them all."""
    simulator = Simulator(SimulatorConfig(**config))
    server = run_in_thread(simulator)
    simulator.base_url = server.start()  # type: ignore[attr-defined]
    try:
        yield simulator
    finally:
        server.stop(timeout=0)
        _STOPPING.append(server)


def stop_later(server: ThreadedServer) -> None:
    """Tell a served app to stop without waiting for uvicorn's shutdown; `pytest_sessionfinish` joins it."""
    server.stop(timeout=0)
    _STOPPING.append(server)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for server in _STOPPING:
        server.stop()


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A fresh simulator per test, so faults, task counts and request logs never leak between tests. Its timings
    are FAST unless the test module names others in SIMULATOR (e.g. BRISK)."""
    with running_sim(**getattr(request.module, "SIMULATOR", FAST)) as simulator:
        yield simulator


async def sim_task_ids(sim: Simulator) -> list[str]:
    """Every task the simulated account holds, newest first (its own GET tasks/ listing)."""
    async with httpx2.AsyncClient(base_url=sim.base_url, verify=shared_tls()) as http:  # type: ignore[attr-defined]
        r = await http.get(
            "/v1/runwayml/tasks/", params={"limit": 1000}, headers={"Authorization": f"Bearer {sim.config.token}"}
        )
    return [t["taskId"] for t in r.json()]


def text_of(result: Any) -> str:
    """All the text a tool result shows the model."""
    return "\n".join(getattr(c, "text", "") for c in result.content)


def creates(sim: Simulator) -> int:
    return sum(1 for r in sim.request_log if r.method == "POST" and r.path.endswith("/frames/create"))


def settings_for(sim: Simulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(sim.config.token),
        "base_url": sim.base_url,  # type: ignore[attr-defined]
        "wait_seconds": 10,
        "store": "memory",  # each server its own records; tests of the durable store name theirs
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 direct dispatch ("auto") and 2025-11-25 JSON-RPC ("legacy")."""
    return str(request.param)


@asynccontextmanager
async def connect(sim: Simulator, mode: str, tuning: Tuning | None = None, **overrides: Any) -> AsyncIterator[Client]:
    """An in-memory MCP client of a server whose settings differ from the defaults by `overrides`."""
    async with Client(build_server(settings_for(sim, **overrides), tuning), mode=mode) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
async def client(sim: Simulator, mode: str, request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    """An in-memory client of a server polling on QUICK_POLLS, or on the module's POLLS (e.g. BRISK_POLLS)."""
    async with connect(sim, mode, getattr(request.module, "POLLS", QUICK_POLLS)) as c:
        yield c


def console_script() -> str:
    """The installed `frames-mcp` entry point of this environment (what a client config would run)."""
    found = Path(sys.prefix) / "bin" / "frames-mcp"
    if found.exists():
        return str(found)
    which = shutil.which("frames-mcp")
    assert which, "frames-mcp console script is not installed (run `uv sync`)"
    return which


def wire(obj: Any) -> Any:
    """What goes over the wire: camelCase JSON of an SDK object."""
    return obj.model_dump(by_alias=True, mode="json", exclude_none=True)

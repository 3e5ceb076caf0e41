"""Admission shared through the store, across processes: several frames-mcp processes on one useapi account
must together stay within its maxJobs, first come first served, and a process that dies must not keep its
slots. Writes its table between the fleet markers of BENCHMARKS.md.

    uv run python -m bench.fleet                 # everything, about 4 minutes; writes BENCHMARKS.md
    uv run python -m bench.fleet --quick --no-write --only machine

- machine: 3 stdio server processes on one SQLite store, 10 concurrent calls each, one account at maxJobs 3,
  2 s tasks; makespan against the ideal ceil(30/3) x 2 s and upstream 429s. Reference in the same run: the
  same processes on FRAMES_MCP_STORE=memory (each admits on its own, as before the store).
- fleet: 3 HTTP replicas (--stateless) on one real redis-server, 60 concurrent calls round-robin, maxJobs 5,
  2 s tasks; makespan against ceil(60/5) x 2 s and upstream 429s. Reference in the same run: the same calls
  through one replica alone on FRAMES_MCP_STORE=memory (what one process's admission achieves here).
- sigkill: the same fleet with a 10 s lease; one replica is killed (SIGKILL) 4 s into the run. Reported: the
  seconds until its slots were swept (its owner gone from the line), whether every task the simulator
  created is in the store and readable with get_task through a surviving replica, and whether the
  survivors' calls all finished.
The simulator runs in a thread of this process; servers are subprocesses on loopback; redis-server is
Debian's, with persistence off. Every server makes one warm-up call before the timed calls go out together.
Figures, not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import redis
from mcp import Client
from redis.asyncio import Redis as AsyncRedis

from bench._report import Row, publish, rows_section
from bench._report import machine as host_line
from bench.core import WARM_STARTS, _frames_command, _params
from frames_mcp.simulator import Simulator, SimulatorConfig, run_in_thread
from frames_mcp.store.slots_redis import RedisSlots
from tests._redis import RedisServer
from tests._tools import HttpServer, http_server, http_servers, mcp_over_http

REPO = Path(__file__).resolve().parent.parent

BENCHMARKS = REPO / "BENCHMARKS.md"
START, END = "<!-- fleet:start -->", "<!-- fleet:end -->"
ACCOUNT = "fleet@frames.local"
TOKEN = "bench-token"  # the loopback replicas of this run only
OWNERS = "frames-mcp:slots:owners"  # the shared line's owner leases (frames_mcp/store/slots_redis.py)
QUIET = ["--log-level", "WARNING"]


@dataclass
class Outcome:
    ok: bool
    task_id: str | None
    text: str


def _sim(max_jobs: int, task_seconds: float) -> Simulator:
    queue = task_seconds / 4
    return Simulator(
        SimulatorConfig(
            queue_seconds=queue, run_seconds=task_seconds - queue, image_px=32, accounts={ACCOUNT: max_jobs}
        )
    )


def _env(sim: Simulator, url: str, store: str, lease: float | None = None) -> dict[str, str]:
    env = {
        "USEAPI_TOKEN": sim.config.token,
        "USEAPI_BASE_URL": url,
        "USEAPI_EMAIL": ACCOUNT,
        "FRAMES_MCP_STORE": store,
        "FRAMES_MCP_WAIT_SECONDS": "50",
        "FRAMES_MCP_PREVIEW": "false",
        "FRAMES_MCP_AUTH_TOKEN": TOKEN,
    }
    if lease is not None:
        env["FRAMES_MCP_LEASE_SECONDS"] = f"{lease:g}"
    return env


async def _generate(client: Client, prompt: str) -> Outcome:
    try:
        r = await client.call_tool("generate_frames", {"text_prompt": prompt, "num_images": 1, "wait_seconds": 50})
    except Exception as e:  # a killed replica's calls end here
        return Outcome(False, None, f"{type(e).__name__}: {e}")
    data = r.structured_content or {}
    text = " ".join(getattr(c, "text", "") for c in r.content)
    return Outcome(not r.is_error and data.get("status") == "SUCCEEDED", data.get("taskId"), text)


Opener = Callable[[], AbstractAsyncContextManager[Client]]


async def _spread(openers: Sequence[Opener], calls: int) -> tuple[float, list[Outcome]]:
    """One client per server; each makes one warm-up call (the account's maxJobs read, connections opened),
    then `calls` concurrent generate_frames go out together, call i through server i mod n. Returns the
    makespan of those calls and their outcomes; a server that dies fails the calls it still had."""
    outcomes: dict[int, Outcome] = {}
    ready = [anyio.Event() for _ in openers]
    go = anyio.Event()

    async def through(k: int) -> None:
        mine = range(k, calls, len(openers))
        try:
            async with openers[k]() as client:
                await _generate(client, f"warm-up {k}")
                ready[k].set()
                await go.wait()
                async with anyio.create_task_group() as tg:
                    for i in mine:

                        async def one(i: int = i) -> None:
                            outcomes[i] = await _generate(client, f"lantern {i}")

                        tg.start_soon(one)
        except Exception as e:  # the server was killed: its client fails as a whole
            for i in mine:
                outcomes.setdefault(i, Outcome(False, None, f"server lost: {type(e).__name__}"))
        finally:
            ready[k].set()

    async with anyio.create_task_group() as tg:
        for k in range(len(openers)):
            tg.start_soon(through, k)
        for event in ready:
            await event.wait()
        began = time.perf_counter()
        go.set()
    return time.perf_counter() - began, [outcomes[i] for i in range(calls)]


def _makespan_rows(label: str, makespan: float, ideal: float, outcomes: list[Outcome], busy: int) -> list[Row]:
    failed = sum(1 for o in outcomes if not o.ok)
    return [
        Row(f"{label}: makespan", f"{makespan:.2f} s", f"ideal {ideal:.1f} s", f"{makespan / ideal:.3f}x",
            "<= 1.10x ideal", makespan / ideal <= 1.10),
        Row(f"{label}: failed calls", str(failed), "", "", "0", failed == 0),
        Row(f"{label}: upstream 429s", str(busy), "", "", "0", busy == 0),
    ]  # fmt: skip


# ---- one machine: stdio processes on one SQLite file ---------------------------------------------------------


async def _stdio_run(sim: Simulator, url: str, store: str, processes: int, calls: int) -> tuple[float, list[Outcome]]:
    params = _params([*_frames_command(), *QUIET], _env(sim, url, store))
    return await _spread([lambda: Client(params)] * processes, processes * calls)


async def machine(processes: int, calls: int, max_jobs: int, task_seconds: float, reference: bool = True) -> list[Row]:
    ideal = math.ceil(processes * calls / max_jobs) * task_seconds
    label = f"one machine: {processes} stdio processes x {calls} calls, maxJobs {max_jobs}, {task_seconds:g} s tasks"
    with tempfile.TemporaryDirectory() as tmp:
        sim = _sim(max_jobs, task_seconds)
        with run_in_thread(sim) as url:
            makespan, outcomes = await _stdio_run(sim, url, f"sqlite:///{tmp}/state.db", processes, calls)
        rows = _makespan_rows(f"{label}, one SQLite store", makespan, ideal, outcomes, sim.counts()["429s"])
    if not reference:
        return rows
    sim = _sim(max_jobs, task_seconds)
    with run_in_thread(sim) as url:
        ref_span, ref_outcomes = await _stdio_run(sim, url, "memory", processes, calls)
    ref_failed = sum(1 for o in ref_outcomes if not o.ok)
    rows.append(
        Row(
            f"{label}, reference: each process on its own (FRAMES_MCP_STORE=memory)",
            f"{sim.counts()['429s']} upstream 429s, {ref_failed} failed calls",
            f"makespan {ref_span:.2f} s",
            f"{ref_span / ideal:.3f}x",
            "none (what the shared store avoids)",
            None,
        )
    )
    return rows


# ---- a fleet: HTTP replicas on one Redis --------------------------------------------------------------------


def _client(server: HttpServer) -> AbstractAsyncContextManager[Client]:
    return mcp_over_http(server, token=TOKEN, http_timeout=120.0)


async def _http_burst(servers: Sequence[HttpServer], calls: int) -> tuple[float, list[Outcome]]:
    return await _spread([lambda server=server: _client(server) for server in servers], calls)


class _Fleet:
    """`count` replicas `frames-mcp --transport http --stateless` started one after the other, or, with
    `together` (--quick), all at once."""

    def __init__(self, env: dict[str, str], count: int, together: bool = False) -> None:
        self._stack: list[Any] = []
        self.servers: list[HttpServer] = []
        if together:
            cm: Any = http_servers(count, ["--stateless", *QUIET], env, warm=WARM_STARTS[0])
            self.servers = cm.__enter__()
            self._stack.append(cm)
            return
        for _ in range(count):
            cm = http_server(["--stateless", *QUIET], env, warm=WARM_STARTS[0])
            self.servers.append(cm.__enter__())
            self._stack.append(cm)

    def close(self) -> None:
        for cm in reversed(self._stack):
            cm.__exit__(None, None, None)


async def _fleet_run(
    env: dict[str, str], replicas: int, calls: int, together: bool = False
) -> tuple[float, list[Outcome]]:
    group = _Fleet(env, replicas, together)
    try:
        return await _http_burst(group.servers, calls)
    finally:
        group.close()


async def fleet(
    replicas: int,
    calls: int,
    max_jobs: int,
    task_seconds: float,
    redis_url: str,
    reference: bool = True,
    together: bool = False,
) -> list[Row]:
    ideal = math.ceil(calls / max_jobs) * task_seconds
    sim = _sim(max_jobs, task_seconds)
    with run_in_thread(sim) as url:
        makespan, outcomes = await _fleet_run(_env(sim, url, redis_url), replicas, calls, together)
    label = f"fleet: {replicas} HTTP replicas (--stateless) on one Redis, {calls} calls, maxJobs {max_jobs}"
    rows = _makespan_rows(f"{label}, {task_seconds:g} s tasks", makespan, ideal, outcomes, sim.counts()["429s"])
    if not reference:
        return rows
    sim = _sim(max_jobs, task_seconds)
    with run_in_thread(sim) as url:
        alone, ref_outcomes = await _fleet_run(_env(sim, url, "memory"), 1, calls)
    ref_failed = sum(1 for o in ref_outcomes if not o.ok)
    rows.append(
        Row(
            f"{label}, reference: the same calls through one replica alone (FRAMES_MCP_STORE=memory)",
            f"makespan {alone:.2f} s ({ref_failed} failed, {sim.counts()['429s']} upstream 429s)",
            f"ideal {ideal:.1f} s; the fleet: {makespan:.2f} s",
            f"{alone / ideal:.3f}x ideal; fleet {makespan / alone:.3f}x this",
            "none (what this machine allows)",
            None,
        )
    )
    return rows


# ---- a replica killed mid-run -------------------------------------------------------------------------------


async def _watch_sweep(redis_url: str, killed_at: float, before: set[str], lease: float) -> float | None:
    """Seconds from the kill until the dead replica's owner lease was swept from the line. The watcher asks the
    line how many slots are held every 50 ms, as a waiting call would (any operation sweeps lapsed leases)."""
    client = AsyncRedis.from_url(redis_url)
    watcher = RedisSlots(client)
    try:
        while time.monotonic() < killed_at + lease * 3:
            await watcher.counts(ACCOUNT)
            now = {k.decode() for k in await client.zrange(OWNERS, 0, -1)}
            if before - now - {watcher.owner}:
                return time.monotonic() - killed_at
            await anyio.sleep(0.05)
        return None
    finally:
        await client.aclose()


async def sigkill(replicas: int, calls: int, max_jobs: int, task_seconds: float, lease: float, redis_url: str,
                  kill_after: float, together: bool = False) -> list[Row]:  # fmt: skip
    from frames_mcp.store import open_store

    sim = _sim(max_jobs, task_seconds)
    raw = redis.Redis.from_url(redis_url)
    with run_in_thread(sim) as url:
        group = _Fleet(_env(sim, url, redis_url, lease), replicas, together)
        try:
            swept: list[float | None] = []
            held_at_kill: list[int] = []

            async def kill() -> None:
                await anyio.sleep(kill_after)
                before = {k.decode() for k in raw.zrange(OWNERS, 0, -1)}
                held_at_kill.append(int(raw.hlen(f"frames-mcp:slots:held:{ACCOUNT}")))
                os.kill(group.servers[0].process.pid, signal.SIGKILL)
                swept.append(await _watch_sweep(redis_url, time.monotonic(), before, lease))

            async with anyio.create_task_group() as tg:
                tg.start_soon(kill)
                _, outcomes = await _http_burst(group.servers, calls)
            created = await _sim_task_ids(sim, url)
            store = open_store(redis_url)
            try:
                recorded = [tid for tid in created if await store.records.get_task(tid) is not None]
            finally:
                await store.close()
            readable = 0
            async with contextlib.AsyncExitStack() as stack:  # through each survivor in turn
                survivors = [await stack.enter_async_context(_client(s)) for s in group.servers[1:]]
                for i, tid in enumerate(created):
                    r = await survivors[i % len(survivors)].call_tool("get_task", {"taskId": tid, "wait_seconds": 0})
                    readable += not r.is_error
        finally:
            group.close()
    mine = [o for i, o in enumerate(outcomes) if i % replicas != 0]
    finished = sum(o.ok for o in mine)
    sweep = swept[0] if swept else None
    label = f"sigkill: 1 of {replicas} replicas killed {kill_after:g} s into {calls} calls, lease {lease:g} s"
    return [
        Row(f"{label}: its slots back (owner swept) after", "never" if sweep is None else f"{sweep:.1f} s",
            f"lease {lease:g} s ({held_at_kill[0] if held_at_kill else '?'} slots in use on the account at the kill)",
            "" if sweep is None else f"{sweep / lease:.2f}x", "<= lease + 1 s",
            sweep is not None and sweep <= lease + 1),
        Row(f"{label}: created tasks in the store", f"{len(recorded)} of {len(created)}", "", "",
            "all", len(recorded) == len(created)),
        Row(f"{label}: created tasks readable through a survivor (get_task)", f"{readable} of {len(created)}", "", "",
            "all", readable == len(created)),
        Row(f"{label}: survivors' calls finished", f"{finished} of {len(mine)}", "", "", "all", finished == len(mine)),
        Row(f"{label}: upstream 429s", str(sim.counts()["429s"]), "", "", "0", sim.counts()["429s"] == 0),
    ]  # fmt: skip


async def _sim_task_ids(sim: Simulator, url: str) -> list[str]:
    async with httpx2.AsyncClient(base_url=url) as http:
        r = await http.get(
            "/v1/runwayml/tasks/", params={"limit": 1000}, headers={"Authorization": f"Bearer {sim.config.token}"}
        )
    return [t["taskId"] for t in r.json()]


# ---- the table ------------------------------------------------------------------------------------------------


NOTES = (
    "The ideal is ceil(calls / maxJobs) x the task's time, as if every slot went to the next call the instant its "
    "task ended; the references show what one process's admission reaches on this machine (the fleet against one "
    "replica alone) and what the store prevents (stdio processes each on their own overrun the account into 429s, "
    "and useapi's Retry-After then stretches the makespan). SIGKILL: the killed replica renewed its lease every "
    "third of it, so its slots come back between two thirds of the lease and the lease after the kill; the "
    "benchmark uses a 10 s lease to stay short (the default is 30 s). Its calls in flight fail with the connection, "
    "but every task it created is in the store and readable through the others."
)


def _table(rows: list[Row], command: str, machine: str) -> str:
    intro = (
        f"`{command}`, {datetime.now(UTC):%Y-%m-%d}. Machine: {machine}. The simulator (one account) runs in a "
        "thread of the benchmark process; every frames-mcp is a subprocess; redis-server is Debian's, persistence "
        "off. Each ratio is to the reference measured in the same run."
    )
    return rows_section(START, END, "Fleet: admission shared through the store", intro, rows, NOTES)


SECTIONS = ("machine", "fleet", "sigkill")


async def _run(args: argparse.Namespace) -> list[Row]:
    q = args.quick
    WARM_STARTS[0] = q
    wanted = args.only.split(",") if args.only else list(SECTIONS)
    rows: list[Row] = []
    server = RedisServer() if {"fleet", "sigkill"} & set(wanted) else None
    if server is not None:
        server.start()
    try:
        for name in wanted:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            # --quick: two processes where the figures need three (one survivor of the kill), 0.4 s tasks, a
            # 1 s lease, the replicas started at once; only checks that every part still runs.
            if name == "machine":
                rows += await (machine(2, 2, 2, 0.4, reference=False) if q else machine(3, 10, 3, 2.0))
            elif name == "fleet":
                assert server is not None
                server.flush()
                rows += await (fleet(2, 4, 2, 0.4, server.url, reference=False, together=True) if q
                               else fleet(3, 60, 5, 2.0, server.url))  # fmt: skip
            elif name == "sigkill":
                assert server is not None
                server.flush()
                rows += await (sigkill(2, 4, 2, 0.4, 1.0, server.url, 1.0, together=True) if q
                               else sigkill(3, 60, 5, 2.0, 10.0, server.url, 4.0))  # fmt: skip
            else:
                raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(SECTIONS)}")
    finally:
        if server is not None:
            server.stop()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny parameters, no references: checks that it runs")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    parser.add_argument("--no-write", action="store_true", help="print the table; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    machine_text = host_line("mcp", "redis")
    rows = anyio.run(_run, args)
    command = "uv run python -m bench.fleet" + (" --quick" if args.quick else "")
    command += f" --only {args.only}" if args.only else ""
    section = _table(rows, command, machine_text)
    publish(section, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()

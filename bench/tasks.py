"""MCP tasks benchmarks: generate_frames as an io.modelcontextprotocol/tasks task over stdio, against the
simulator, each figure beside a reference measured in the same run. Writes its section of BENCHMARKS.md.

    uv run python -m bench.tasks             # about a minute; writes BENCHMARKS.md
    uv run python -m bench.tasks --quick --no-write

- handle: time from tools/call to the task handle, against the create's own round trip (a direct POST
  frames/create) plus a bare MCP echo round trip over stdio; the difference is what frames-mcp adds.
- polling: 20 s tasks started as MCP tasks by a client that polls tasks/get as the server asks (pollIntervalMs),
  beside the same generations called synchronously on the same simulator at the same time: tasks/get round
  trips per generation, GETs to useapi per task on each path, and the delay from SUCCEEDED to the result.
Figures, not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
from mcp import Client

from bench._report import Row, machine, publish, rows_section
from bench.core import ACCOUNT, BARE, REFERENCE_ACCOUNT, WARM_STARTS, _env, _frames_command, _gets, _params
from frames_mcp.server.tasks_client import TasksClient, get_task
from frames_mcp.server.tasks_wire import CreateTaskResult, DetailedTask
from frames_mcp.simulator import Simulator, SimulatorConfig, run_in_thread
from tests._tools import entered_together

START, END = "<!-- tasks:start -->", "<!-- tasks:end -->"


def _clients(*clients: Client, together: bool) -> AbstractAsyncContextManager[list[Client]]:
    """The clients entered one after the other, or with `together` (--quick) at once, so that their servers
    start in parallel (nothing measured includes a start)."""
    if together:
        return entered_together(*clients)

    @asynccontextmanager
    async def in_turn() -> AsyncIterator[list[Client]]:
        async with AsyncExitStack() as stack:
            yield [await stack.enter_async_context(c) for c in clients]

    return in_turn()


async def handle(rounds: int, together: bool = False) -> list[Row]:
    accounts = {ACCOUNT: 10, REFERENCE_ACCOUNT: 10}  # the direct creates use their own account's slots
    sim = Simulator(SimulatorConfig(queue_seconds=0.05, run_seconds=0.15, image_px=32, accounts=accounts))
    with run_in_thread(sim) as url:
        headers = {"Authorization": f"Bearer {sim.config.token}"}
        frames_client = Client(_params(_frames_command(), _env(sim, url)), extensions=[TasksClient()])
        async with (
            httpx2.AsyncClient(base_url=url, headers=headers) as http,
            _clients(Client(_params(BARE)), frames_client, together=together) as (bare, frames),
        ):
            body = {"text_prompt": "a kite", "num_images": 1, "email": ACCOUNT}

            async def create() -> None:
                direct = {**body, "email": REFERENCE_ACCOUNT}
                (await http.post("/v1/runwayml/frames/create", json=direct)).raise_for_status()

            async def to_handle() -> None:
                answer = await frames.session.call_tool("generate_frames", body, allow_claimed=True)
                assert isinstance(answer, CreateTaskResult), answer

            times: dict[str, list[float]] = {"create": [], "echo": [], "handle": []}
            calls = {"create": create, "echo": lambda: bare.call_tool("echo", {"text": "x"}), "handle": to_handle}
            for call in calls.values():  # warm-up (the first call also reads the account's maxJobs)
                await call()
            for _ in range(rounds):  # interleaved, so drift in machine load hits all alike
                for name, call in calls.items():
                    began = time.perf_counter()
                    await call()
                    times[name].append(time.perf_counter() - began)
                await anyio.sleep(0.25)  # both tasks finish: every round finds free slots
    med = {name: statistics.median(t) for name, t in times.items()}
    ref = med["create"] + med["echo"]
    added = (med["handle"] - ref) * 1000
    return [
        Row(
            f"handle: tools/call -> CreateTaskResult over stdio (median of {rounds}); frames-mcp adds {added:.2f} ms",
            f"{med['handle'] * 1000:.2f} ms",
            f"create round trip {med['create'] * 1000:.2f} ms + bare echo over stdio {med['echo'] * 1000:.2f} ms",
            f"{med['handle'] / ref:.3f}x",
            "create + echo + a few ms (<= 1.50x)",
            med["handle"] / ref <= 1.5,
        )
    ]


async def _poll(client: Client, answer: CreateTaskResult) -> tuple[DetailedTask, int, float]:
    """tasks/get until final, waiting what the server asks: (final state, round trips, clock time it came)."""
    task: DetailedTask | None = None
    interval, trips = answer.poll_interval_ms, 0
    while task is None or task.status == "working":
        await anyio.sleep((interval or 1000) / 1000)
        task = await get_task(client.session, answer.task_id)
        trips += 1
        interval = task.poll_interval_ms
    return task, trips, time.monotonic()


async def polling(generations: int, queue: float, run: float, stagger: float, together: bool = False) -> list[Row]:
    accounts = {ACCOUNT: generations, REFERENCE_ACCOUNT: generations}
    sim = Simulator(SimulatorConfig(queue_seconds=queue, run_seconds=run, image_px=32, accounts=accounts))
    tasked: list[tuple[str, int, float]] = []  # (Runway taskId, tasks/get round trips, when the result came)
    synced: list[tuple[str, float]] = []
    with run_in_thread(sim) as url:
        env = _env(sim, url)
        clients = (
            Client(_params(_frames_command(), env), extensions=[TasksClient()]),
            Client(_params(_frames_command(), env)),
        )
        async with _clients(*clients, together=together) as (tasks_client, sync_client):

            async def as_task(i: int) -> None:
                await anyio.sleep(i * stagger)
                args = {"text_prompt": f"dawn {i}", "num_images": 1, "email": ACCOUNT}
                answer = await tasks_client.session.call_tool("generate_frames", args, allow_claimed=True)
                assert isinstance(answer, CreateTaskResult), answer
                final, trips, at = await _poll(tasks_client, answer)
                assert final.status == "completed" and final.result is not None, final
                tasked.append((final.result["structuredContent"]["taskId"], trips, at))

            async def synchronously(i: int) -> None:
                await anyio.sleep(i * stagger)
                args = {"text_prompt": f"dusk {i}", "num_images": 1, "email": REFERENCE_ACCOUNT, "wait_seconds": 50}
                result = await sync_client.call_tool("generate_frames", args)
                synced.append((result.structured_content["taskId"], time.monotonic()))  # type: ignore[index]

            async with anyio.create_task_group() as tg:
                for i in range(generations):
                    tg.start_soon(as_task, i)
                    tg.start_soon(synchronously, i)

    def delay(task_id: str, at: float) -> float:
        return at - (sim.finish_time(task_id) or at)

    trips = statistics.mean(t for _, t, _ in tasked)
    task_gets = statistics.mean(_gets(sim, 0, task_id) for task_id, _, _ in tasked)
    sync_gets = statistics.mean(_gets(sim, 0, task_id) for task_id, _ in synced)
    task_delay = statistics.median(delay(task_id, at) for task_id, _, at in tasked)
    sync_delay = statistics.median(delay(task_id, at) for task_id, at in synced)
    label = f"{queue + run:g} s tasks ({queue:g} s queued), {generations} generations each way"
    return [
        Row(
            f"polling: tasks/get round trips per generation, {label}",
            f"{trips:.2f}",
            f"synchronous path: GETs to useapi per task {sync_gets:.2f}",
            f"{trips / sync_gets:.2f}x",
            "<= the synchronous path's GETs",
            trips <= sync_gets,
        ),
        Row(
            "polling: GETs to useapi per task, as an MCP task",
            f"{task_gets:.2f}",
            f"synchronous path: {sync_gets:.2f}",
            f"{task_gets / sync_gets:.2f}x",
            "<= 1.10x",
            task_gets <= 1.1 * sync_gets,
        ),
        Row(
            "polling: median delay SUCCEEDED -> result in the client",
            f"{task_delay:.3f} s",
            f"synchronous path: {sync_delay:.3f} s",
            f"{task_delay / sync_delay:.2f}x" if sync_delay > 0 else "",
            "<= 1.0 s",
            task_delay <= 1.0,
        ),
    ]


NOTES = (
    "The handle goes out once the useapi task exists and its handle is recorded, so it costs the create's round "
    "trip plus the MCP round trip; what frames-mcp adds on top is admission, the request model, the handle's "
    "write to the store (memory here) and starting the worker. tasks/get answers from the handle without calling "
    "useapi; the client comes back when the server's own poll schedule expects news (pollIntervalMs is the "
    "predictor's next poll plus 0.3 s), so the GETs to useapi per task stay those of the synchronous path. The "
    "price is the delay to the result: about 0.3 s more than on the synchronous path, the margin that lets the "
    "server's last poll and the render finish before the client comes back (sooner would cost another round trip)."
)


def _table(rows: list[Row], command: str, host: str) -> str:
    intro = (
        f"`{command}`, {datetime.now(UTC):%Y-%m-%d}. Machine: {host}. frames-mcp runs over stdio as a subprocess; "
        "the simulator runs in a thread of the benchmark process. Each ratio is to the reference measured in the same "
        "run."
    )
    return rows_section(START, END, "MCP tasks: time to the handle, polling", intro, rows, NOTES)


async def _run(quick: bool) -> list[Row]:
    # --quick: 2 rounds, 0.5 s tasks, the servers of each part started at once; only checks that it all runs.
    print("running handle ...", file=sys.stderr, flush=True)
    rows = await (handle(2, together=True) if quick else handle(30))
    print("running polling ...", file=sys.stderr, flush=True)
    return rows + await (polling(2, 0.1, 0.4, 0.1, together=True) if quick else polling(10, 2.0, 18.0, 0.3))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny parameters: checks that everything runs")
    parser.add_argument("--no-write", action="store_true", help="print the table; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    host = machine("mcp", "httpx2")
    WARM_STARTS[0] = args.quick
    rows: Any = anyio.run(_run, args.quick)
    section = _table(rows, "uv run python -m bench.tasks" + (" --quick" if args.quick else ""), host)
    publish(section, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()

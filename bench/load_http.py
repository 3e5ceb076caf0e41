"""Load test of HTTP mode: many concurrent MCP clients over Streamable HTTP, against the useapi simulator.

    uv run python -m bench.load_http                     # 50 clients, 30 s per server, writes BENCHMARKS.md
    uv run python -m bench.load_http --clients 10 --duration 5 --no-write

Two servers run the same load, one after the other, each a subprocess on loopback:
- frames-mcp: `frames-mcp --transport http` with a bearer token, pointed at the simulator (run in a thread
  here); every client calls list_styles and get_task alternately (get_task reads one real task from the
  simulator each time, so it includes a useapi round trip and re-signed image URLs);
- baseline: a bare MCPServer with one trivial tool, same SDK, same transport, same uvicorn settings,
  no auth; every client calls that tool.
Each client holds one MCP session (one initialize, not timed) and calls tools back to back. Latency is
per tools/call as the client sees it. Results go between the load markers of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench._report import BENCHMARKS, machine, write_section
from frames_mcp.simulator import Simulator, SimulatorConfig, run_in_thread
from tests._tools import HttpServer, http_server

START, END = "<!-- load:start -->", "<!-- load:end -->"
TOKEN = "bench-token"  # the loopback frames-mcp of this run only


@dataclass
class Sample:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float | None = None  # CPU seconds the server process used during the run (Linux only)
    load_cpu: float = 0.0  # CPU seconds this process (clients and simulator) used during the run

    def add(self, tool: str, seconds: float) -> None:
        self.latencies.setdefault(tool, []).append(seconds)

    def all(self) -> list[float]:
        return [x for xs in self.latencies.values() for x in xs]


Call = tuple[str, dict[str, object]]


async def load(url: str, headers: dict[str, str], calls: list[Call], clients: int, duration: float) -> Sample:
    """`clients` sessions, all connected before the clock starts, each cycling through `calls` until it stops."""
    sample = Sample()
    connected = asyncio.Barrier(clients + 1)
    go = asyncio.Event()  # set once the deadline is known
    stop_at = 0.0

    async def one(i: int) -> None:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            await connected.wait()
            await go.wait()
            n = i  # clients start at different points of the cycle
            while time.perf_counter() < stop_at:
                name, arguments = calls[n % len(calls)]
                n += 1
                t0 = time.perf_counter()
                try:
                    result = await client.call_tool(name, arguments)
                except Exception as e:  # every failure is counted, none stops the run
                    sample.errors.append(f"{name}: {type(e).__name__}: {e}")
                    continue
                if result.is_error:
                    sample.errors.append(f"{name}: isError: {str(result.content)[:200]}")
                else:
                    sample.add(name, time.perf_counter() - t0)

    async with asyncio.TaskGroup() as tg:
        for i in range(clients):
            tg.create_task(one(i))
        await connected.wait()
        started = time.perf_counter()
        stop_at = started + duration
        go.set()
    sample.seconds = time.perf_counter() - started  # includes finishing the calls in flight at the stop
    return sample


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(server: HttpServer, run: Callable[[], Sample]) -> Sample:
    """`run` against `server`, with the server's CPU time over the run."""
    before, load_before = cpu_seconds(server.process.pid), time.process_time()
    sample = run()
    after, sample.load_cpu = cpu_seconds(server.process.pid), time.process_time() - load_before
    if before is not None and after is not None:
        sample.server_cpu = after - before
    return sample


def create_task(base_url: str, token: str) -> str:
    """One finished task on the simulator, so get_task reads something real."""
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx2.post(
        f"{base_url}/v1/runwayml/frames/create",
        json={"text_prompt": "a paper boat on a pond", "num_images": 1},
        headers=headers,
        timeout=10,
    )
    created.raise_for_status()
    task_id = str(created.json()["taskId"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = httpx2.get(f"{base_url}/v1/runwayml/tasks/{task_id}", headers=headers, timeout=10).json()
        if task["status"] == "SUCCEEDED":
            return task_id
        time.sleep(0.1)
    raise RuntimeError(f"simulator task {task_id} did not finish")


# ---- the baseline server: `python bench/load_http.py --serve-baseline --port N` -----------------------------


def serve_baseline(port: int) -> None:
    import logging

    from mcp.server.mcpserver import MCPServer
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    from frames_mcp.server import http as http_app

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    mcp = MCPServer("baseline")

    @mcp.tool()
    def ping() -> str:
        """Answer at once."""
        return "pong"

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    http_app.serve(mcp.streamable_http_app(host="127.0.0.1"), host="127.0.0.1", port=port)


# ---- report ---------------------------------------------------------------------------------------------


def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[round(q * 100) - 1] if len(xs) > 1 else xs[0]


def row(label: str, xs: list[float], errors: int, seconds: float, base: Sample | None = None, cpu: str = "") -> str:
    """A table row; with `base` (the baseline's sample) also the ratios to it."""
    rps, p50, p99 = len(xs) / seconds, quantile(xs, 0.50) * 1000, quantile(xs, 0.99) * 1000
    ratios = " | "
    if base is not None:
        b_all = base.all()
        ratios = f"{rps / (len(b_all) / base.seconds):.2f}× | {p50 / (quantile(b_all, 0.50) * 1000):.2f}×"
    return f"| {label} | {len(xs)} | {errors} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {cpu} | {ratios} |"


def cpu_per_call(sample: Sample, base: Sample | None = None) -> str:
    """Server CPU milliseconds per call, and its ratio to the baseline's."""
    if sample.server_cpu is None:
        return "n/a"
    ms = sample.server_cpu * 1000 / len(sample.all())
    if base is None or base.server_cpu is None or base is sample:
        return f"{ms:.2f}"
    return f"{ms:.2f} ({ms / (base.server_cpu * 1000 / len(base.all())):.2f}×)"


def report(args: argparse.Namespace, host: str, frames: Sample, baseline: Sample) -> str:
    lines = [
        START,
        "## HTTP load: concurrent MCP clients over Streamable HTTP",
        "",
        f"`uv run python -m bench.load_http --clients {args.clients} --duration {args.duration:g}`, "
        f"{datetime.now(UTC):%Y-%m-%d}. {args.clients} clients, each one MCP session (the SDK Client's default mode), "
        f"calling tools back to back for {args.duration:g} s per server; latency is per `tools/call` as the "
        "client sees it. Client, simulator (a thread of the load process) and server share the machine: "
        f"{host}.",
        "",
        "| server, tool | calls | errors | calls/s | p50 ms | p99 ms | server CPU ms/call | calls/s vs baseline "
        "| p50 vs baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        row(
            "baseline: bare MCPServer, trivial tool",
            baseline.all(),
            len(baseline.errors),
            baseline.seconds,
            baseline,
            cpu_per_call(baseline),
        ),
        row(
            "frames-mcp: list_styles + get_task",
            frames.all(),
            len(frames.errors),
            frames.seconds,
            baseline,
            cpu_per_call(frames, baseline),
        ),
    ]
    for tool, xs in sorted(frames.latencies.items()):
        lines.append(row(f"frames-mcp: {tool} (share of the row above)", xs, 0, frames.seconds))
    lines += [
        "",
        "The baseline is the same SDK (MCPServer, Streamable HTTP, stateful, SSE responses) and the same uvicorn "
        "settings, without auth and with a tool that does nothing, so the ratios are what frames-mcp adds: the "
        "bearer check, building the catalog, and for get_task a round trip to the simulator and re-signing the "
        "image URLs. The per-tool rows split the frames-mcp run, so their calls/s add up to its total.",
        "",
        f"CPU use over the runs: {busy(frames, 'frames-mcp')}; {busy(baseline, 'baseline')}. The load process "
        "competes with the server (and with whatever else runs on the machine) for the same cores, so calls/s "
        "is bounded by the clients as much as by the server; server CPU ms/call (from /proc, the initializes "
        "included) is the server's own cost.",
        END,
    ]
    return "\n".join(lines)


def busy(sample: Sample, name: str) -> str:
    server = f"{sample.server_cpu / sample.seconds:.0%}" if sample.server_cpu is not None else "n/a"
    return f"{name} server {server} of a core, load process {sample.load_cpu / sample.seconds:.0%}"


def run(args: argparse.Namespace) -> int:
    host = machine("mcp", "uvicorn")  # before any load, so the load average says what else was running
    sim = Simulator(SimulatorConfig(queue_seconds=0.05, run_seconds=0.2, image_px=64))  # type: ignore[call-arg]

    async def measure(url: str, headers: dict[str, str], calls: list[Call]) -> Sample:
        return await load(url, headers, calls, args.clients, args.duration)

    with run_in_thread(sim) as sim_url:
        task_id = create_task(sim_url, sim.config.token)
        env = {"USEAPI_BASE_URL": sim_url, "USEAPI_TOKEN": sim.config.token, "FRAMES_MCP_AUTH_TOKEN": TOKEN}
        print(f"frames-mcp: {args.clients} clients for {args.duration:g} s ...", file=sys.stderr)
        with http_server(env=env, warm=False) as server:
            calls: list[Call] = [("list_styles", {}), ("get_task", {"taskId": task_id})]
            auth = {"Authorization": f"Bearer {TOKEN}"}
            frames = measured(server, lambda: asyncio.run(measure(server.url, auth, calls)))
    print(f"baseline: {args.clients} clients for {args.duration:g} s ...", file=sys.stderr)
    with http_server(command=[sys.executable, __file__, "--serve-baseline"]) as server:
        baseline = measured(server, lambda: asyncio.run(measure(server.url, {}, [("ping", {})])))

    section = report(args, host, frames, baseline)
    print(section)
    for sample in (frames, baseline):
        for error in sample.errors[:10]:
            print(f"error: {error}", file=sys.stderr)
    if not args.no_write:
        write_section(section, START, END)
        print(f"wrote {BENCHMARKS.name}", file=sys.stderr)
    return 1 if frames.errors or baseline.errors else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50, help="concurrent MCP clients (default 50)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load per server (default 30)")
    p.add_argument("--no-write", action="store_true", help="print the table only; leave BENCHMARKS.md alone")
    p.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_baseline:
        serve_baseline(args.port)
        return
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()

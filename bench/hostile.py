"""Issue 10's figures: what a hostile upstream costs a frames-mcp process, beside a well-behaved one in the same run.

    uv run python -m bench.hostile              # about a minute; writes its section of BENCHMARKS.md
    uv run python -m bench.hostile --no-write

Each case starts `frames-mcp` over stdio with its default timings against `tests/hostile.py` (the stand-in that
answers what it is scripted to), makes one call and reads the server's peak RSS (VmHWM) before it exits:
- baseline: a 4-image generation with the default contact sheet, every answer well-formed;
- sheet: sixteen PNG previews each declaring 6300x6300 (the unbounded decoder kept 2.9 GB, 19.9 s), refused one
  by one now; and sixteen declaring 4000x4000, each under the per-image cap, bounded by the sheet's budget;
- huge: every task answer an endless 200 MB JSON array (16M `{}` once cost 1.4 GB);
- drip: a task answer dripping one byte every 0.3 s (it once held a 5 s call for 75 s);
- NaN: progressRatio "NaN" on every poll (it once sent 11,089 GETs in 60 s);
- Retry-After 0: every create answered 429 (1,200-1,400 POSTs in 4 s).
Figures, not tests: nothing here asserts (tests/test_hostile.py holds the bounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from mcp import Client

from bench._report import machine, publish
from bench.core import _child_pid, _frames_command, _params, _peak_rss_mb
from tests.hostile import CANARY, Reply, Upstream, big_png, endless_json, serving

START, END = "<!-- hostile:start -->", "<!-- hostile:end -->"
FLOOR = 10.0  # the default request floor: a call with a short wait still gets this long


@dataclass
class Case:
    name: str
    script: Callable[[Upstream], None]
    tool: str
    args: dict[str, Any]
    budget: float


def _sheet(side: int) -> Callable[[Upstream], None]:
    def script(up: Upstream) -> None:
        up.files["huge.png"] = (big_png(side, side), "image/png")
        arts = [up.artifact(i, preview=up.url("huge.png")) for i in range(16)]
        up.on_task = lambda tid, n: Reply(up.succeeded(taskId=tid, artifacts=arts))

    return script


def _huge(up: Upstream) -> None:
    up.on_task = lambda tid, n: Reply(stream=endless_json(200 * 1024 * 1024))


def _drip(up: Upstream) -> None:
    up.on_task = lambda tid, n: Reply(up.task("RUNNING", taskId=tid), drip=0.3)


def _nan(up: Upstream) -> None:
    up.on_task = lambda tid, n: Reply(up.task("RUNNING", taskId=tid, progressRatio="NaN"))


def _busy(up: Upstream) -> None:
    up.on_create = lambda body: Reply({"error": "busy", "code": 429}, status=429, headers={"Retry-After": "0"})


CASES = [
    Case("baseline: 4 images with the contact sheet", lambda up: None, "generate_frames", {"wait_seconds": 10}, 10 + 8),
    Case("sheet: 16 previews declaring 6300x6300", _sheet(6300), "generate_frames", {"wait_seconds": 5}, 5 + 8),
    Case("sheet: 16 previews declaring 4000x4000", _sheet(4000), "generate_frames", {"wait_seconds": 5}, 5 + 8),
    Case("huge: 200 MB task answers", _huge, "generate_frames", {"wait_seconds": 5}, FLOOR),
    Case("drip: one byte every 0.3 s", _drip, "get_task", {}, FLOOR),
    Case('NaN: progressRatio "NaN"', _nan, "generate_frames", {"wait_seconds": 20}, 20),
    Case("Retry-After 0 on every create", _busy, "generate_frames", {"wait_seconds": 10}, 10),
]


async def run_case(case: Case) -> list[str]:
    with serving(Upstream()) as up:
        case.script(up)
        env = {"USEAPI_TOKEN": CANARY, "USEAPI_BASE_URL": up.base_url, "PATH": os.environ.get("PATH", "")}
        args = {"text_prompt": "a heron", **case.args} if case.tool == "generate_frames" else {"taskId": up.task_id}
        params = _params(_frames_command(), env)
        async with Client(params) as c:
            pid = _child_pid()
            start = time.monotonic()
            result = await c.call_tool(case.tool, args)
            elapsed = time.monotonic() - start
            peak = _peak_rss_mb(pid)
        gets, posts = up.count("GET", "/tasks/user:"), up.count("POST", "/frames/create")
        reads = max(1, up.count("GET", "/tasks/"))
        return [
            case.name,
            f"{peak:.0f} MB",
            f"{elapsed:.1f} s (budget {case.budget:g} s)",
            f"{gets} / {posts}",
            _bytes(up.sent / reads) if up.sent else "-",
            "error" if result.is_error else "ok",
        ]


def _bytes(n: float) -> str:
    return f"{n:.0f} B" if n < 10_240 else f"{n / 1024:.0f} KB"


def _with_ratio(rows: list[list[str]]) -> list[list[str]]:
    """Each row's peak RSS beside the baseline's (the first row), measured in the same run."""
    base = float(rows[0][1].split()[0])
    return [[r[0], f"{r[1]} ({float(r[1].split()[0]) / base:.2f}x)", *r[2:]] for r in rows]


def _section(rows: list[list[str]], host: str) -> str:
    lines = [
        START,
        "## Hostile upstream: memory, time and requests per call",
        "",
        f"`uv run python -m bench.hostile`, {datetime.now(UTC):%Y-%m-%d}. Machine: {host}. One `frames-mcp` over "
        "stdio per row, default timings, against tests/hostile.py's scripted upstream; peak RSS is the server "
        "process's VmHWM. The baseline row is the same server and call against well-formed answers, measured in "
        "the same run.",
        "",
        "| case | peak RSS (vs baseline) | call took | task GETs / create POSTs | bytes pushed per request | result |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {' | '.join(r)} |" for r in _with_ratio(rows)],
        "",
        "Bytes pushed are what the upstream handed its socket per request before the server hung up (the server "
        "reads at most 512 KB of a task answer; the rest sat in socket buffers). "
        "The budget is the call's wait_seconds (or the 10 s request floor when that is longer), plus 8 s for the "
        "contact sheet and saving when images are delivered. Before issue 10 the same cases took 2.9 GB and 19.9 s "
        "(sheet), 1.4 GB (huge list), 75 s for a 5 s wait (drip), 11,089 GETs in 60 s (NaN) and 1,200-1,400 POSTs "
        "in 4 s (Retry-After 0).",
        END,
    ]
    return "\n".join(lines) + "\n"


async def _all() -> list[list[str]]:
    rows = []
    for case in CASES:
        print(f"running {case.name} ...", file=sys.stderr, flush=True)
        rows.append(await run_case(case))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print the table; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    host = machine("mcp", "httpx2", "pillow")
    section = _section(anyio.run(_all), host)
    publish(section, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()

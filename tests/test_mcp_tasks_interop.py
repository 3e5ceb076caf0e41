"""MCP tasks against another implementation: fastmcp 4.1.4 with fastmcp-tasks 4.1.4 (SEP-2663), in its own
environment (tests/interop, installed by .ci/setup-interop.sh), as a separate process: its client drives
frames-mcp over stdio and HTTP, and frames-mcp's client half drives its server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from frames_mcp.server.tasks_client import TasksClient, wait_for
from frames_mcp.server.tasks_wire import CreateTaskResult
from frames_mcp.simulator import Simulator

from ._tools import clean_env, frames_mcp_argv, http_server, require
from .conftest import FAST, creates, running_sim

pytestmark = pytest.mark.anyio

INTEROP = Path(__file__).parent / "interop"
PYTHON = INTEROP / ".venv" / "bin" / "python"
PEER = INTEROP / "peer.py"
TOKEN = "interop-token-4b7e"  # not a secret: only this loopback test server accepts it


def peer_python() -> str:
    require(PYTHON.exists(), "the fastmcp interop environment is missing: run .ci/setup-interop.sh")
    return str(PYTHON)


def sim_env(sim: Simulator, **extra: str) -> dict[str, str]:
    return clean_env(USEAPI_TOKEN=sim.config.token, USEAPI_BASE_URL=sim.base_url, **extra)  # type: ignore[attr-defined]


def run_peer(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([peer_python(), str(PEER), *args], capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def check(seen: dict[str, Any], sim: Simulator) -> None:
    assert seen["transparent"]["status"] == "SUCCEEDED"  # fastmcp resolved the handle itself
    handle = seen["handle"]
    assert handle["resultType"] == "task" and handle["status"] == "working" and handle["ttlMs"] == 86_400_000
    assert seen["first_status"] in ("working", "completed")
    assert seen["final_status"] == "completed"
    assert seen["final_result"]["structuredContent"]["status"] == "SUCCEEDED"
    assert creates(sim) == 2


@pytest.fixture(scope="module")
def fastmcp_client() -> Iterator[dict[str, tuple[dict[str, Any], Simulator]]]:
    """What fastmcp's client saw over each transport, each against a frames-mcp on a simulator of its own: one
    peer process drives both (over HTTP, then stdio), since importing fastmcp's client costs about 2 s of CPU."""
    with running_sim(**FAST) as for_http, running_sim(**FAST) as for_stdio:
        with http_server(env=sim_env(for_http, FRAMES_MCP_AUTH_TOKEN=TOKEN)) as server:
            seen = run_peer("client", "http", server.url, TOKEN, "stdio", *frames_mcp_argv(), env=sim_env(for_stdio))
        yield {"http": (seen["http"], for_http), "stdio": (seen["stdio"], for_stdio)}


def test_fastmcp_client_drives_frames_mcp_over_stdio(fastmcp_client: dict[str, Any]) -> None:
    check(*fastmcp_client["stdio"])


def test_fastmcp_client_drives_frames_mcp_over_http(fastmcp_client: dict[str, Any]) -> None:
    check(*fastmcp_client["http"])


async def test_frames_mcp_client_half_drives_a_fastmcp_tasks_server() -> None:
    params = StdioServerParameters(command=peer_python(), args=[str(PEER), "server"], env=clean_env())
    async with Client(params, extensions=[TasksClient()]) as c:
        handle = await c.session.call_tool("slow_sum", {"a": 2, "b": 3}, allow_claimed=True)
        assert isinstance(handle, CreateTaskResult)
        final = await wait_for(c.session, handle)
        transparent = await c.call_tool("slow_sum", {"a": 4, "b": 5})
    assert final.status == "completed"
    assert final.result is not None and final.result["structuredContent"] == {"result": 5}
    assert transparent.structured_content == {"result": 9}

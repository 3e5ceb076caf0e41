"""The installed `frames-mcp` console script, driven over stdio and streamable HTTP like a real client would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client, StdioServerParameters

from frames_mcp import __version__
from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Simulator
from frames_mcp.useapi.transport import shared_tls

from ._tools import clean_env
from ._tools import http_server as start_http_server
from .conftest import console_script

pytestmark = pytest.mark.anyio


def _env(sim: Simulator | None) -> dict[str, str]:
    # The SDK passes a stdio server only the variables named here (and HOME, PATH ...): the test session's state
    # directory is named too, or the server would keep its tasks in the developer's own store.
    env = {"FRAMES_MCP_WAIT_SECONDS": "10", "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"]}
    if sim is not None:
        env |= {"USEAPI_TOKEN": sim.config.token, "USEAPI_BASE_URL": sim.base_url}  # type: ignore[attr-defined]
    return env


async def test_stdio_generate_against_a_useapi_compatible_server(sim: Simulator, mode: str) -> None:
    params = StdioServerParameters(command=console_script(), args=[], env=_env(sim))
    async with Client(params, mode=mode) as c:  # type: ignore[arg-type]
        assert c.server_info.name == "frames-mcp" and c.server_info.version == __version__
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat"})
        result = TaskResult.model_validate(r.structured_content)
        assert result.status == "SUCCEEDED" and len(result.artifacts) == 4
        again = TaskResult.model_validate((await c.call_tool("get_task", {"taskId": result.taskId})).structured_content)
        assert [a.index for a in again.artifacts] == [0, 1, 2, 3]
        styles = await c.call_tool("list_styles", {})
        assert len(styles.structured_content["styles"]) == 19  # type: ignore[index]


async def test_stdio_demo_needs_no_token() -> None:
    # --demo: the whole flow with no token and no credits, and the result says the images are placeholders.
    params = StdioServerParameters(
        command=console_script(), args=["--demo"], env=_env(None) | {"FRAMES_MCP_WAIT_SECONDS": "20"}
    )
    async with Client(params) as c:
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "num_images": 1})
    assert not r.is_error
    result = TaskResult.model_validate(r.structured_content)
    assert result.simulated and result.status == "SUCCEEDED"
    assert "images are placeholders" in r.content[0].text  # type: ignore[union-attr]


def test_stdout_carries_only_the_protocol() -> None:
    # A server that prints anything but JSON-RPC on stdout breaks every stdio client.
    init = (
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        '"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'
    )
    proc = subprocess.run(
        [console_script(), "--demo"], input=init, capture_output=True, text=True, timeout=60, env=clean_env()
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and all(line.startswith('{"jsonrpc":"2.0"') or line.startswith('{"id"') for line in lines), proc.stdout
    assert "demo mode" in proc.stderr  # logs go to stderr


def test_version_and_help() -> None:
    out = subprocess.run([console_script(), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == f"frames-mcp {__version__}"
    helptext = subprocess.run([console_script(), "--help"], capture_output=True, text=True, timeout=60, check=True)
    assert "--demo" in helptext.stdout and "--transport" in helptext.stdout


@pytest.fixture
def http_server(sim: Simulator) -> Iterator[str]:
    with start_http_server(env=_env(sim)) as server:
        yield server.url


async def test_http_generate(http_server: str, mode: str) -> None:
    async with Client(http_server, mode=mode) as c:  # type: ignore[arg-type]
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "num_images": 1})
    result = TaskResult.model_validate(r.structured_content)
    assert result.status == "SUCCEEDED" and len(result.artifacts) == 1


async def test_http_refuses_a_foreign_host_header(http_server: str) -> None:
    # DNS-rebinding protection stays on for the loopback default.
    async with httpx2.AsyncClient(verify=shared_tls()) as http:
        response = await http.post(
            http_server,
            headers={
                "Host": "evil.example",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
            content="{}",
        )
    assert response.status_code == 421


def test_invalid_configuration_refuses_to_start_with_a_clear_message() -> None:
    # Validated once at start: a bad value is named, and the server exits instead of failing later.
    proc = subprocess.run(
        [console_script()],
        env=clean_env(FRAMES_MCP_WAIT_SECONDS="99"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "FRAMES_MCP_WAIT_SECONDS" in proc.stderr
    assert proc.stdout == ""


def test_python_dash_m_runs_the_same_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "frames_mcp", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == f"frames-mcp {__version__}"

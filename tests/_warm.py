"""Warm starts: frames-mcp server processes forked from one that has already imported frames-mcp and the SDK.

A fresh `frames-mcp` spends about 1.5 s of CPU importing the MCP SDK and its own modules before it reads a byte,
and the suite starts dozens on 2 cores. Tests whose subject is not the start itself run `warm_command()` (through
tests._tools.frames_mcp_argv) in place of the console script. What runs is the same `frames_mcp.cli.main`, with
the same arguments, environment, working directory and stdio pipes, in a process of its own that the test can
signal and kill as any other (tests/_warm_launch.py stands in for it); only its imports were done before it
started. Tests of the start itself keep the console script: stdout carrying only the protocol, --version and
--help, a configuration refused before the SDK is imported, the installed wheel, a memory limit, real clients'
own launches (test_transports, test_release, test_hostile, test_claude_code, test_ecosystem), and the timed
starts of the benchmarks. test_warm holds a warm start to a cold one: wire bytes, exit codes and words, signals.

One warm process per test process (xdist worker), started on first use; it ends when the test process does
(its stdin is a pipe from it)."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

LAUNCH = Path(__file__).with_name("_warm_launch.py")
# What a start may import after parsing its arguments (the server, HTTP, demo, store and terminal paths).
PRELOAD = (
    "frames_mcp.cli",
    "frames_mcp.server.app",
    "frames_mcp.server.http",
    "frames_mcp.simulator",
    "frames_mcp.store",
    "frames_mcp.terminal",
)
_WARM: list[tuple[subprocess.Popen[bytes], Path]] = []
_STARTING = threading.Lock()  # servers are started from several threads at once (tests._tools.all_entered)


def warm_command() -> list[str]:
    """The argv that starts frames-mcp warm; its arguments follow, as they would follow the console script."""
    return [sys.executable, "-I", "-S", str(LAUNCH), str(_socket())]


def server_pid(pid: int) -> int:
    """The server's own pid for a warm start's launcher `pid` (a cold start's pid is the server's)."""
    if _WARM:
        with contextlib.suppress(OSError, ValueError):
            return int((_WARM[0][1].parent / f"{pid}.pid").read_text())
    return pid


def _socket() -> Path:
    with _STARTING:
        if not (_WARM and _WARM[0][0].poll() is None):
            _WARM[:] = [_start_warm()]
        return _WARM[0][1]


def _start_warm() -> tuple[subprocess.Popen[bytes], Path]:
    from ._tools import REPO, clean_env  # not at import: _tools imports this module

    folder = Path(tempfile.mkdtemp(prefix="frames-warm-"))
    path = folder / "warm.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests._warm", str(path)], cwd=REPO, env=clean_env(), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    if process.stdout.readline() != b"ready\n":
        raise RuntimeError(f"the warm frames-mcp process did not start (exit {process.wait()})")
    atexit.register(_stop, process)
    return process, path


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        assert process.stdin is not None
        process.stdin.close()  # its cue to end
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


# --- the warm process: `python -m tests._warm SOCKET` -------------------------------------------------------


def serve(path: Path) -> None:
    """Import what a start needs, then fork a server for each launcher that connects, until stdin closes."""
    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "start")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "end")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            if key.data == "end":
                return
            if key.data == "start":
                _start(listener.accept()[0], sel, path.parent)
            else:
                _reap(key, sel, path.parent)


def _start(conn: socket.socket, sel: selectors.BaseSelector, folder: Path) -> None:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    start = json.loads(data)
    pid = os.fork()
    if pid == 0:
        _become_server(start, fds, conn, sel)  # never returns
    for fd in fds:
        os.close(fd)
    (folder / f"{start['pid']}.pid").write_text(str(pid))
    conn.sendall(f"{pid}\n".encode())
    sel.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, conn, start["pid"]))


def _reap(key: selectors.SelectorKey, sel: selectors.BaseSelector, folder: Path) -> None:
    pid, conn, launcher = key.data
    sel.unregister(key.fd)
    os.close(key.fd)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    with contextlib.suppress(OSError):
        conn.sendall(f"{code}\n".encode())
    conn.close()
    (folder / f"{launcher}.pid").unlink(missing_ok=True)


def _become_server(start: dict[str, Any], fds: list[int], conn: socket.socket, sel: selectors.BaseSelector) -> None:
    code: object = 70
    try:
        _close_warm_handles(conn, sel)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(start["env"])
        os.chdir(start["cwd"])
        sys.argv = start["argv"]
        _die_with(start["pid"])
        from frames_mcp.cli import main

        try:
            main(start["argv"][1:])
            code = 0
        except SystemExit as e:
            code = e.code
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(_exit_code(code))


def _exit_code(code: object) -> int:
    """What an interpreter ending on SystemExit(code) would exit with, after its exit handlers."""
    atexit._run_exitfuncs()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return 0 if code is None else code if isinstance(code, int) else 1


def _close_warm_handles(conn: socket.socket, sel: selectors.BaseSelector) -> None:
    """A server holds none of the warm process's sockets, nor its other servers' handles."""
    conn.close()
    for key in list(sel.get_map().values()):
        if isinstance(key.data, tuple):
            key.data[1].close()
        if isinstance(key.fileobj, socket.socket):
            key.fileobj.close()
        elif key.data != "end":
            os.close(key.fd)
    sel.close()


def _die_with(launcher: int) -> None:
    """End this server the moment its launcher ends, as a killed process would (SIGKILL included)."""
    watched = os.pidfd_open(launcher)

    def watch() -> None:
        select.select([watched], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))

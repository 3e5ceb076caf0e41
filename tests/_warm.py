"""Warm starts: frames-mcp server processes forked from one that has already imported frames-mcp and the SDK.

A fresh `frames-mcp` spends about 1.5 s of CPU importing the MCP SDK and its own modules before it reads a byte,
and the suite starts dozens on 2 cores. Tests whose subject is not the start itself run `warm_command()` (through
tests._tools.frames_mcp_argv) in place of the console script. What runs is the same `frames_mcp.cli.main`, with the
same arguments, environment, working directory and stdio pipes, in a process of its own that the test can signal
and kill as any other (tests/_warm_launch.py stands in for it); only its imports, and what a first generation loads
(the connection pool, the TLS trust store, Pillow), were done before it started. Tests of the start itself keep the
console script: stdout carrying only the protocol, --version and --help, a configuration refused before the SDK is
imported, the installed wheel, a memory limit, real clients' own launches (test_transports, test_release,
test_hostile, test_claude_code, test_ecosystem), and the timed starts of the benchmarks. test_warm holds a warm
start to a cold one: wire bytes, exit codes and words, signals.

One warm process per test session, started by the first test process (xdist worker) that needs it, shared by
all of them; it ends with the session's main process."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib
import json
import os
import select
import selectors
import shutil
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
# Linux (pidfd, 5.3+): elsewhere every start is a cold one.
SUPPORTED = hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")
# What a start may import after parsing its arguments (the server, HTTP, demo, store and terminal paths).
PRELOAD = (
    "frames_mcp.cli",
    "frames_mcp.server.app",
    "frames_mcp.server.http",
    "frames_mcp.simulator",
    "frames_mcp.store",
    "frames_mcp.terminal",
)
# What a server's first generation imports (see _first_use).
FIRST_USE = ("httpcore2", "frames_mcp.server.results.render", "frames_mcp.media.delivery", "PIL.Image")
# One warm process for the whole test session, shared by its workers (and the benchmarks they run): it lives in a
# folder named after the session's main process, and ends when that process does.
SESSION = "FRAMES_MCP_TESTS_SESSION"  # set by tests/conftest.py in the main process; servers never see it
_SPAWNED: list[subprocess.Popen[bytes]] = []
_STARTING = threading.Lock()  # servers are started from several threads at once (tests._tools.all_entered)


def warm_command() -> list[str]:
    """The argv that starts frames-mcp warm; its arguments follow, as they would follow the console script."""
    return [sys.executable, "-I", "-S", str(LAUNCH), str(_socket())]


def server_pid(pid: int) -> int:
    """The server's own pid for a warm start's launcher `pid` (a cold start's pid is the server's)."""
    with contextlib.suppress(OSError, ValueError):
        return int((_folder() / f"{pid}.pid").read_text())
    return pid


def _folder() -> Path:
    return Path(tempfile.gettempdir()) / f"frames-warm-{os.environ.get(SESSION, os.getpid())}"


def _socket() -> Path:
    folder = _folder()
    with _STARTING:
        if not _alive(folder):
            folder.mkdir(exist_ok=True)
            with (folder / "lock").open("w") as lock:  # one start among the session's processes
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not _alive(folder):
                    _start_warm(folder)
    return folder / "warm.sock"


def _alive(folder: Path) -> bool:
    try:
        pid = int((folder / "pid").read_text())
    except (OSError, ValueError):
        return False
    if _SPAWNED and _SPAWNED[0].pid == pid:
        return _SPAWNED[0].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start_warm(folder: Path) -> None:
    from ._tools import REPO, clean_env  # not at import: _tools imports this module

    session = os.environ.get(SESSION, str(os.getpid()))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests._warm", str(folder), session], cwd=REPO, env=clean_env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    if process.stdout.readline() != b"ready\n":
        raise RuntimeError(f"the warm frames-mcp process did not start (exit {process.wait()})")
    process.stdout.close()
    _SPAWNED[:] = [process]


# --- the warm process: `python -m tests._warm FOLDER SESSION_PID` --------------------------------------------


def serve(folder: Path, session: int) -> None:
    """Import what a start needs, then fork a server for each launcher that connects, until the session ends."""
    for name in PRELOAD:
        importlib.import_module(name)
    _declare_tools()
    _first_use()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "warm.sock"))
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "start")
    sel.register(os.pidfd_open(session), selectors.EVENT_READ, "end")
    (folder / "pid").write_text(str(os.getpid()))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the pipe it said so on belongs to the process that started it
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "end":
                    return
                if key.data == "start":
                    _start(listener.accept()[0], sel, folder)
                else:
                    _reap(key, sel, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _first_use() -> None:
    """What a server's first generation loads in any process, loaded once here for every server forked from here:
    the HTTP connection pool (httpcore2, which looks for trio, a test dependency), the TLS trust store (one context
    a process: frames_mcp.useapi.transport.shared_tls), Pillow and the media code the result is rendered with.
    Each warm server's first generation spent about 0.25 s of CPU on them."""
    from frames_mcp.useapi.transport import shared_tls

    for name in FIRST_USE:
        importlib.import_module(name)
    shared_tls()


def _declare_tools() -> None:
    """Build one server with the default settings, as a process that builds a second one would have: the tool
    declarations file is read, and every model a start makes is made, once for every server forked from here.
    test_warm holds the tools/list of a warm start to a cold one's."""
    from frames_mcp.config import Settings
    from frames_mcp.server.app import build_server

    build_server(Settings.from_env(demo=False))


def _start(conn: socket.socket, sel: selectors.BaseSelector, folder: Path) -> None:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while data and not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    try:
        start = json.loads(data)
    except ValueError:  # not a launcher, or one that died mid-sentence: nothing to start
        for fd in fds:
            os.close(fd)
        conn.close()
        return
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
        else:
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
    serve(Path(sys.argv[1]), int(sys.argv[2]))

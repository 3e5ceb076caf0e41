"""The command a warm-started server runs as (see tests/_warm.py): `python -I -S _warm_launch.py SOCKET ARGS...`.

It stands in for the `frames-mcp` process: it hands its stdin, stdout and stderr, its arguments, environment and
working directory to the warm process over SOCKET, which forks the server with them; then it passes on the
signals it gets (TERM, INT, HUP, QUIT) and exits as the server did, with its exit code or by its signal. Its own
death (SIGKILL included) kills the server: the forked server watches this process. The standard library only,
and no site-packages (-S), so it starts in milliseconds."""

import contextlib
import json
import os
import signal
import socket
import sys


def _line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            return ""  # the warm process went away: report it as a failed start
        data += chunk
    return data.decode().strip()


def main() -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(sys.argv[1])
    start = {"argv": ["frames-mcp", *sys.argv[2:]], "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid()}
    socket.send_fds(conn, [json.dumps(start).encode() + b"\n"], [0, 1, 2])
    # From here the server alone holds the pipes: a reader sees end of file when the server closes them.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    child = int(_line(conn) or 0)
    if not child:
        os._exit(70)

    def forward(number: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has just ended: its status follows
            os.kill(child, number)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)
    status = int(_line(conn) or 70)
    if status < 0:  # ended by a signal: end the same way, so a caller sees the same return code
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status)


if __name__ == "__main__":
    main()

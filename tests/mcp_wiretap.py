"""A stdio relay that records every JSON-RPC message between an MCP client and the server it spawns.

`python tests/mcp_wiretap.py LOG -- frames-mcp --demo` runs the command with pipes for stdin and stdout and
copies each line across unchanged, appending it to LOG as `{"t": <unix seconds>, "dir": "in"|"out", "msg": ...}`
("in": client to server, "out": server to client; a line that is not JSON is kept as a string). The server's
stderr goes straight to ours. SIGINT and SIGTERM are passed on, and the relay exits with the server's status,
so to the client it looks like the server itself.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any


def main() -> int:
    log, command = Path(sys.argv[1]), sys.argv[2:]
    if command[:1] == ["--"]:
        command = command[1:]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    lock = threading.Lock()

    def record(direction: str, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip("\r\n")
        if not text:
            return
        try:
            msg: Any = json.loads(text)
        except ValueError:
            msg = text
        with lock, log.open("a") as f:
            f.write(json.dumps({"t": time.time(), "dir": direction, "msg": msg}) + "\n")

    def pump(source: IO[bytes], sink: IO[bytes], direction: str) -> None:
        try:
            for line in iter(source.readline, b""):
                record(direction, line)
                sink.write(line)
                sink.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass
        finally:
            if direction == "in":  # the client closed our stdin: close the server's
                with contextlib.suppress(OSError):
                    sink.close()

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    threading.Thread(target=pump, args=(sys.stdin.buffer, child.stdin, "in"), daemon=True).start()
    out = threading.Thread(target=pump, args=(child.stdout, sys.stdout.buffer, "out"), daemon=True)
    out.start()
    code = child.wait()
    out.join(timeout=5)
    return code


if __name__ == "__main__":
    sys.exit(main())

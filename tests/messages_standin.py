"""A scripted stand-in for Anthropic's Messages API, for driving the real Claude Code CLI offline.

Run as a launcher: `python -m tests.messages_standin --record FILE [--lo-up] -- claude ...` serves
`POST /v1/messages` (SSE streaming, as Claude Code asks) on a free 127.0.0.1 port, runs the command with
ANTHROPIC_BASE_URL pointing there, writes every request body it received to FILE (one JSON a line) and exits
with the command's status. `--lo-up` first brings up the loopback interface, for a fresh network namespace
(`unshare -rn`), so that the CLI, the MCP server it spawns and the demo simulator reach nothing but loopback.

The script plays a model that was asked to make pictures: it calls generate_frames, then get_task with the
taskId it read in the tool result, then answers in text (`--script answer`: it answers right after
generate_frames). Requests without the frames tools (Claude Code's own side queries) get a short text answer.
Each record line also holds the reply and the time it was sent. `--tty` hands the command our stdin as its
controlling terminal, for Claude Code's interactive mode under a pty.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GENERATE = "mcp__frames__generate_frames"
GET_TASK = "mcp__frames__get_task"
# useapi's taskId shape (user:<n>-runwayml:<email>-task:<uuid>), found wherever the result puts it
TASK_ID = re.compile(
    r"user:[0-9]+-runwayml:[^\s\"'<>]+?-task:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# A fixed seed: the simulator then draws the same placeholders, so the measured sizes repeat run to run.
PROMPT_ARGS = {"text_prompt": "a paper boat on a pond at dawn", "num_images": 4, "seed": 42}
_ids = itertools.count(1)


def tool_results(body: dict[str, Any]) -> dict[str, Any]:
    """tool_use_id -> the tool_result block, across the whole conversation the request carries."""
    found: dict[str, Any] = {}
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    found[block["tool_use_id"]] = block
    return found


def tool_uses(body: dict[str, Any]) -> dict[str, str]:
    """tool_use id -> tool name, for the assistant turns the request carries."""
    return {
        b["id"]: b["name"]
        for m in body.get("messages", [])
        if m.get("role") == "assistant" and isinstance(m.get("content"), list)
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_use"
    }


def result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(c.get("text", "") for c in content or [] if isinstance(c, dict))


def next_turn(body: dict[str, Any], script: str = "get-task") -> dict[str, Any]:
    """The scripted model's next content block, from what the conversation holds so far.

    Script "get-task" follows generate_frames with get_task; "answer" answers right after generate_frames'
    result (whatever it is: the images, or a client's note that the call went on in the background)."""
    names = {t.get("name") for t in body.get("tools", [])}
    if GENERATE not in names:
        return {"type": "text", "text": "OK."}
    uses, results = tool_uses(body), tool_results(body)
    answered = [uses[i] for i in results if i in uses]
    if GENERATE not in answered:
        return tool_use(GENERATE, PROMPT_ARGS)
    if script == "get-task" and GET_TASK not in answered:
        generated = next(results[i] for i in results if uses.get(i) == GENERATE)
        task_id = TASK_ID.search(result_text(generated))
        return tool_use(GET_TASK, {"taskId": task_id.group(0) if task_id else "no-task-id-in-the-result"})
    return {"type": "text", "text": "Here are your four pictures of a paper boat."}


def tool_use(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_standin{next(_ids):04d}", "name": name, "input": arguments}


def message(block: dict[str, Any], model: str, *, streamed: bool) -> dict[str, Any]:
    """The assistant message carrying `block`; when streamed, its content arrives in the deltas instead."""
    stop = "tool_use" if block["type"] == "tool_use" else "end_turn"
    return {
        "id": f"msg_standin{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if streamed else [block],
        "stop_reason": None if streamed else stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def sse(block: dict[str, Any], model: str) -> bytes:
    """One assistant message holding `block`, as the Messages API streams it (event names = data types)."""
    if block["type"] == "tool_use":
        start = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    else:
        start = {**block, "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    stop = "tool_use" if block["type"] == "tool_use" else "end_turn"
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message(block, model, streamed=True)},
        {"type": "content_block_start", "index": 0, "content_block": start},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


NOT_FOUND = b'{"type":"error","error":{"type":"not_found_error","message":"not part of the stand-in"}}'


class Handler(BaseHTTPRequestHandler):
    record: Path  # set on the subclass the server is built with
    script: str = "get-task"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        messages = self.path.startswith("/v1/messages") and not self.path.startswith("/v1/messages/count_tokens")
        block = next_turn(body, self.script) if messages else None
        with self.record.open("a") as f:  # with the reply and the time it went out, for tests that wait on it
            f.write(json.dumps({"path": self.path, "body": body, "reply": block, "t": time.time()}) + "\n")
        if block is None:
            self._send(404, "application/json", NOT_FOUND)
            return
        model = str(body.get("model", "claude-standin"))
        if body.get("stream"):
            self._send(200, "text/event-stream", sse(block, model))
        else:
            self._send(200, "application/json", json.dumps(message(block, model, streamed=False)).encode())

    def do_GET(self) -> None:
        self._send(404, "application/json", NOT_FOUND)

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", "req_standin")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the record file is the log
        pass


def loopback_up() -> None:
    """`ip link set lo up` without iproute2: a fresh network namespace starts with lo down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, ifreq))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def take_tty() -> None:
    """In the child, after setsid: make stdin its controlling terminal (for an interactive CLI under a pty)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def stop_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--record", type=Path, required=True)
    p.add_argument("--lo-up", action="store_true")
    p.add_argument("--timeout", type=float, default=240)
    p.add_argument("--script", choices=["get-task", "answer"], default="get-task", help="see next_turn")
    p.add_argument("--tty", action="store_true", help="give the command our stdin, a terminal, as its own")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.lo_up:
        loopback_up()
    handler = type("RecordingHandler", (Handler,), {"record": args.record, "script": args.script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = os.environ | {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}"}
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    # Its own session, so a hung run is ended with everything it spawned (the MCP server, the simulator).
    # With --tty it also takes our stdin (a pty) as its controlling terminal, as an interactive program expects.
    child = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=take_tty if args.tty else None)
    # Stopped from outside (SIGTERM), it ends the command's whole session first instead of orphaning it.
    signal.signal(signal.SIGTERM, lambda *_: stop_session(child.pid))
    try:
        return child.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"messages_standin: {command[0]} did not finish within {args.timeout} s", file=sys.stderr)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return 124
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())

"""The real Claude Code CLI in interactive mode, under a pty, against `frames-mcp --demo`: the MCP tasks path.

Claude Code declares `io.modelcontextprotocol/tasks` only in interactive mode (print mode never does), so
tests/test_claude_code.py, which runs `claude -p`, always gets the synchronous answer. Here the CLI runs as
a person would use it: under a pseudo-terminal, with a pre-seeded `~/.claude.json` (onboarding done, the
stand-in's API key approved, the folder trusted), the prompt typed only once frames-mcp has answered Claude
Code's tools/list. Everything runs in the same loopback-only network namespace (`unshare -rn`) as the
print-mode tests, with the same scripted Messages API (tests/messages_standin.py, `--script answer`: it calls
generate_frames, then answers in text whatever comes back). frames-mcp runs behind tests/mcp_wiretap.py,
which records every JSON-RPC line in both directions with its time. Two sessions run, once each per module:
one as shipped, one with `CLAUDE_CODE_DISABLE_MCP_TASKS=1`.

What Claude Code 2.1.332 did (observed here, 2026-12):
- Handshake: a `server/discover` probe (id "server-discover-probe-1"); when frames-mcp was slow to start
  (seconds, on a busy machine) it also sent a 2025-11-25 `initialize`, which frames-mcp refused with -32022
  because the connection already served 2026-07-28; Claude Code carried on with `server/discover`,
  `subscriptions/listen`, `prompts/list`, `resources/list`, `tools/list`. Every 2026-07-28 request, the
  `tools/call` and each `tasks/get` included, declares the extension in its capabilities.
- The `tools/call` of generate_frames got a task handle (`resultType: "task"`, a taskId, `pollIntervalMs`).
  Claude Code moved the call to the background at once: the model's tool_result is only Claude Code's own
  notice, "MCP tool "frames/generate_frames" started server-side task <MCP taskId>. It was moved to the
  background as task <local id> and keeps running on the server; you'll receive a notification with the
  result when it completes, ..." (no statusMessage, no Runway taskId, no URL). The stand-in answers that turn.
- Claude Code polled `tasks/get`: once right away (tens of ms after the handle, whatever the hint said), then
  each time after the `pollIntervalMs` of the previous answer, until `completed`; no poll after that. (The
  hint first seen here was about 7.4 s in demo mode, the real-Frames prior instead of the demo's schedule, so a
  2.5 s generation was picked up 6 s late; the hint now follows the session's schedule: see
  test_mcp_tasks.py's poll-hint test. How late it was picked up is printed with -s.)
- The finished result reached the model in a new turn Claude Code started on its own: a user message with a
  `<task-notification>` (`<status>completed</status>`, summary "MCP task <MCP taskId>
  (frames/generate_frames) completed.") whose `<result>` holds the tool result as text: the contact sheet
  not as an image block but as "[image result] Binary content (image/jpeg, N KB) saved to <file>", then
  `JSON.stringify(structuredContent)`, with the Runway taskId and all four signed image URLs.
- With `CLAUDE_CODE_DISABLE_MCP_TASKS=1` no request declares the extension; frames-mcp answers the
  `tools/call` synchronously and the model's tool_result holds the sheet as an image block and the JSON.

Without node_modules or unshare these tests skip, or fail when FRAMES_MCP_REQUIRE_ALL=1 (CI).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ._tools import require
from .conftest import console_script
from .messages_standin import TASK_ID
from .test_claude_code import CLAUDE, GENERATE, STANDIN, _claude_env, _namespace_works

WIRETAP = Path(__file__).with_name("mcp_wiretap.py")
EXTENSION = "io.modelcontextprotocol/tasks"
PROMPT = "Make four pictures of a paper boat on a pond at dawn."
ANSWER = "Here are your four pictures of a paper boat."
STARTUP_TIMEOUT = 90.0  # Claude Code starting, and frames-mcp answering its tools/list
RUN_TIMEOUT = 120.0  # from the prompt to the model's answer after the finished result
# ANSI escapes (CSI, OSC, charset and single-character ones): what is left is the text the terminal showed.
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78MDEc]")
BACKGROUND_NOTICE = re.compile(
    r'MCP tool "frames/generate_frames" started server-side task (?P<task>[A-Za-z0-9_-]+)\. '
    r"It was moved to the background as task (?P<local>\w+) and keeps running on the server; you'll receive a "
    r"notification with the result when it completes, and you can keep working in the meantime\. "
    r'To stop it, use TaskStop with task_id "(?P=local)"; the result arrives as a task notification\.'
)


@dataclass
class Exchange:
    """One JSON-RPC request Claude Code sent to frames-mcp, with the answer and when each passed."""

    request: dict[str, Any]
    response: dict[str, Any] | None
    sent: float
    answered: float | None

    @property
    def result(self) -> dict[str, Any]:
        assert self.response is not None and "result" in self.response, self.response
        result: dict[str, Any] = self.response["result"]
        return result

    def declared(self) -> dict[str, Any]:
        """The extensions this request declared in its `_meta` client capabilities."""
        meta = self.request.get("params", {}).get("_meta", {})
        caps = meta.get("io.modelcontextprotocol/clientCapabilities") or {}
        return dict(caps.get("extensions") or {})


@dataclass
class Run:
    wire: list[dict[str, Any]]  # every line between Claude Code and frames-mcp: {"t", "dir", "msg"}
    requests: list[dict[str, Any]]  # every request the stand-in got: {"path", "body", "reply", "t"}
    screen: str  # what the terminal showed, escapes stripped

    def exchanges(self, method: str | None = None) -> list[Exchange]:
        answers = {
            (e["msg"]["id"]): e
            for e in self.wire
            if e["dir"] == "out" and isinstance(e["msg"], dict) and "id" in e["msg"] and "method" not in e["msg"]
        }
        found = []
        for e in self.wire:
            msg = e["msg"]
            if e["dir"] != "in" or not isinstance(msg, dict) or "id" not in msg or "method" not in msg:
                continue
            if method is None or msg["method"] == method:
                answer = answers.get(msg["id"])
                found.append(Exchange(msg, answer and answer["msg"], e["t"], answer and answer["t"]))
        return found

    def generate(self) -> Exchange:
        (call,) = [x for x in self.exchanges("tools/call") if x.request["params"]["name"] == "generate_frames"]
        return call

    def model_messages(self) -> list[dict[str, Any]]:
        """The conversation as the model last saw it (the last request that offered the frames tools)."""
        with_tools = [r for r in self.requests if any(t["name"] == GENERATE for t in r["body"].get("tools", []))]
        messages: list[dict[str, Any]] = with_tools[-1]["body"]["messages"]
        return messages

    def generate_result(self) -> dict[str, Any]:
        """The tool_result block the model got for its generate_frames call."""
        messages = self.model_messages()
        uses = {
            b["id"]
            for m in messages
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use" and b["name"] == GENERATE
        }
        (result,) = [
            b
            for m in messages
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result" and b["tool_use_id"] in uses
        ]
        return result


class Terminal:
    """A command under a fresh pty (its controlling terminal), read continuously so it never blocks on output."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self.output = bytearray()

    def screen(self, start: int = 0) -> str:
        return ANSI.sub("", self.output[start:].decode(errors="replace"))

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every holder of the pty's other side has gone
                return
            if not data:
                return
            self.output.extend(data)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return done()
            self.pump(0.25)
        return True

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        """Ctrl-C twice (Claude Code's way out), then SIGTERM to the launcher, which stops the CLI's session."""
        try:
            mark = len(self.output)
            self.type("\x03")
            if self.wait_for(lambda: "Ctrl-C again" in self.screen(mark), 10):
                self.type("\x03")
            if not self.wait_for(lambda: self.proc.poll() is not None, 20):
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def _lines(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSONL file another process is appending to.

    A request body is larger than one write, so a read can end inside a line: that line is not yet a record.
    """
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1]]


def _seed_home(home: Path, work: Path, api_key: str) -> None:
    """`~/.claude.json` as after a first run: onboarding done, the API key approved, the folder trusted."""
    home.mkdir(exist_ok=True)
    state = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
        "projects": {str(work): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}},
    }
    (home / ".claude.json").write_text(json.dumps(state))


def _listed(wire: list[dict[str, Any]]) -> bool:
    """frames-mcp has answered a tools/list: the tools are in, a prompt typed now can use them."""
    asked = {
        e["msg"]["id"]
        for e in wire
        if e["dir"] == "in" and isinstance(e["msg"], dict) and e["msg"].get("method") == "tools/list"
    }
    return any(e["dir"] == "out" and isinstance(e["msg"], dict) and e["msg"].get("id") in asked for e in wire)


def _answered_the_finished_result(requests: list[dict[str, Any]]) -> bool:
    """The stand-in answered in text a conversation that holds the finished generation (its Runway taskId)."""
    return any(
        (r.get("reply") or {}).get("type") == "text" and TASK_ID.search(json.dumps(r["body"].get("messages", [])))
        for r in requests
    )


def interactive(work: Path, **extra_env: str) -> Run:
    """One interactive Claude Code session: wait for the tools, type the prompt, wait for the final answer."""
    require(CLAUDE.exists(), "the Claude Code CLI is missing: run `npm ci` at the repo root (.ci/setup-node.sh)")
    require(_namespace_works(), "`unshare -rn` is not permitted here (it keeps Claude Code on loopback)")
    wire_log, record = work / "wire.jsonl", work / "requests.jsonl"
    server = [sys.executable, str(WIRETAP), str(wire_log), "--", console_script(), "--demo"]
    config = {"mcpServers": {"frames": {"command": server[0], "args": server[1:]}}}
    (work / "mcp.json").write_text(json.dumps(config))
    env = _claude_env(work / "home") | {"TERM": "xterm-256color"} | extra_env
    _seed_home(work / "home", work, env["ANTHROPIC_API_KEY"])
    claude = [str(CLAUDE), "--mcp-config", str(work / "mcp.json"), "--strict-mcp-config"]
    claude += ["--allowedTools", GENERATE]
    launcher = [*("unshare", "-rn", sys.executable, str(STANDIN), "--lo-up", "--tty", "--script", "answer")]
    launcher += ["--record", str(record), "--timeout", str(STARTUP_TIMEOUT + RUN_TIMEOUT + 60), "--", *claude]
    term = Terminal(launcher, work, env)
    try:
        listed = term.wait_for(lambda: _listed(_lines(wire_log)), STARTUP_TIMEOUT)
        assert listed, f"frames-mcp's tools/list was never answered; the terminal showed:\n{term.screen()[-3000:]}"
        mark = len(term.output)
        term.type(PROMPT)
        squeezed = re.sub(r"\s", "", PROMPT)  # the prompt box redraws with cursor moves in place of spaces
        echoed = term.wait_for(lambda: squeezed in re.sub(r"\s", "", term.screen(mark)), 30)
        assert echoed, f"the prompt never showed in the input box:\n{term.screen(mark)[-3000:]}"
        term.type("\r")
        # No assertion here: each test reads what happened, so a missing step fails only the test about it.
        term.wait_for(lambda: _answered_the_finished_result(_lines(record)), RUN_TIMEOUT)
        term.pump(0.5)  # the answer's own rendering
    finally:
        term.close()
    return Run(_lines(wire_log), _lines(record), term.screen())


@pytest.fixture(scope="module")
def tasks_on(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return interactive(tmp_path_factory.mktemp("claude-interactive"))


@pytest.fixture(scope="module")
def tasks_off(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return interactive(tmp_path_factory.mktemp("claude-interactive-no-tasks"), CLAUDE_CODE_DISABLE_MCP_TASKS="1")


# ---- as shipped: the extension is declared, generate_frames becomes a task ------------------------------


def test_every_modern_request_declares_the_tasks_extension(tasks_on: Run) -> None:
    # Interactive mode declares the extension per request (the spec's only negotiation), tools/call included.
    modern = [
        x
        for x in tasks_on.exchanges()
        if x.request.get("params", {}).get("_meta", {}).get("io.modelcontextprotocol/protocolVersion") == "2026-07-28"
    ]
    methods = {x.request["method"] for x in modern}
    assert {"server/discover", "tools/list", "tools/call", "tasks/get"} <= methods
    assert all(EXTENSION in x.declared() for x in modern), [x.request["method"] for x in modern if not x.declared()]


def test_generate_frames_is_answered_with_a_task_handle(tasks_on: Run) -> None:
    # frames-mcp decides: a declaring client's generate_frames gets a flat CreateTaskResult, not the images.
    call = tasks_on.generate()
    assert EXTENSION in call.declared()
    handle = call.result
    assert handle["resultType"] == "task"
    assert handle["status"] == "working"
    assert isinstance(handle["taskId"], str) and handle["taskId"]
    assert isinstance(handle["pollIntervalMs"], int) and handle["pollIntervalMs"] > 0
    assert "content" not in handle and "result" not in handle


def test_claude_code_polls_tasks_get_until_completed(tasks_on: Run) -> None:
    # Every poll is of the handle's taskId; all but the last find it working; the last finds it completed,
    # with the result inlined; nothing polls after that.
    task_id = tasks_on.generate().result["taskId"]
    polls = tasks_on.exchanges("tasks/get")
    assert polls, "Claude Code never polled tasks/get"
    assert {p.request["params"]["taskId"] for p in polls} == {task_id}
    statuses = [p.result["status"] for p in polls]
    assert statuses[-1] == "completed", statuses
    assert set(statuses[:-1]) <= {"working"}, statuses
    finished = polls[-1].result["result"]
    assert finished["isError"] is False
    assert {b["type"] for b in finished["content"]} >= {"text", "image"}


def test_claude_code_waits_the_poll_interval_between_polls(tasks_on: Run) -> None:
    # After its first look (which comes right after the handle), Claude Code comes back only once the
    # pollIntervalMs of the previous answer has passed: it does not hammer the server.
    call, polls = tasks_on.generate(), tasks_on.exchanges("tasks/get")
    assert call.answered is not None
    first = polls[0].sent - call.answered
    print(f"\nhandle pollIntervalMs {call.result['pollIntervalMs']}; first tasks/get {first * 1000:.0f} ms after it")
    for before, after in itertools.pairwise(polls):
        assert before.answered is not None
        hint, waited = before.result["pollIntervalMs"] / 1000, after.sent - before.answered
        print(f"pollIntervalMs {hint * 1000:.0f} -> next tasks/get after {waited * 1000:.0f} ms")
        assert waited >= 0.9 * hint, (hint, waited)
    done = dt.datetime.fromisoformat(polls[-1].result["lastUpdatedAt"]).timestamp()
    print(f"completed upstream {polls[-1].sent - done:.1f} s before the tasks/get that found it")
    assert first < 5.0, "the first tasks/get follows the handle promptly"
    assert len(polls) <= 10, f"{len(polls)} polls for a 2.5 s demo generation"


def test_the_model_first_reads_claude_codes_background_notice(tasks_on: Run) -> None:
    # The tool_result is Claude Code's own text naming the MCP taskId: not frames-mcp's statusMessage, not the
    # Runway taskId, no image, no URL.
    result = tasks_on.generate_result()
    (block,) = result["content"]
    assert block["type"] == "text"
    notice = BACKGROUND_NOTICE.fullmatch(block["text"])
    assert notice, block["text"]
    handle = tasks_on.generate().result
    assert notice["task"] == handle["taskId"]
    assert handle["statusMessage"] not in block["text"]
    assert not TASK_ID.search(block["text"]) and "http" not in block["text"]


def test_the_finished_result_reaches_the_model_as_a_task_notification(tasks_on: Run) -> None:
    # Once tasks/get said completed, Claude Code started a turn of its own: a notification carrying the result.
    messages = tasks_on.model_messages()
    texts = [
        b["text"]
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "text" and "<task-notification>" in b["text"]
    ]
    assert len(texts) == 1, "one task notification reached the model"
    (note,) = texts
    handle, finished = tasks_on.generate().result, tasks_on.exchanges("tasks/get")[-1].result["result"]
    assert "<status>completed</status>" in note
    assert f"MCP task {handle['taskId']} (frames/generate_frames) completed." in note
    # The <result> is two lines: the contact sheet, saved to a file and named (no image block reaches the
    # model), then JSON.stringify(structuredContent); frames-mcp's own text block is dropped.
    sheet, data = note.split("<result>\n", 1)[1].split("\n</result>", 1)[0].split("\n")
    assert re.fullmatch(r"\[image result\] Binary content \(image/jpeg, [0-9.]+KB\) saved to \S+\.jpg", sheet)
    structured = finished["structuredContent"]
    assert json.loads(data) == structured
    assert TASK_ID.findall(note) == [structured["taskId"]]
    assert len(structured["artifacts"]) == 4 and all(a["url"] in data for a in structured["artifacts"])
    assert not any(b.get("type") == "image" for m in messages if isinstance(m["content"], list) for b in m["content"])


def test_the_model_answers_after_the_notification_and_the_terminal_shows_it(tasks_on: Run) -> None:
    # The stand-in's last reply (to the notification turn) is the answer; the terminal shows the task ending.
    last = [r for r in tasks_on.requests if any(t["name"] == GENERATE for t in r["body"].get("tools", []))][-1]
    assert last["reply"] == {"type": "text", "text": ANSWER}
    polls = tasks_on.exchanges("tasks/get")
    assert polls[-1].answered is not None and last["t"] > polls[-1].answered
    shown = re.sub(r"\s", "", tasks_on.screen)
    task_id = tasks_on.generate().result["taskId"]
    assert re.sub(r"\s", "", f"MCP task {task_id} (frames/generate_frames) completed.") in shown
    assert re.sub(r"\s", "", ANSWER) in shown


# ---- CLAUDE_CODE_DISABLE_MCP_TASKS=1: no declaration, so the same call is answered synchronously --------


def test_without_the_declaration_generate_frames_is_answered_synchronously(tasks_off: Run) -> None:
    assert not any(x.declared() for x in tasks_off.exchanges()), "no request declares an extension"
    result = tasks_off.generate().result
    assert result.get("resultType") != "task" and "taskId" not in result
    assert result["isError"] is False
    assert {b["type"] for b in result["content"]} >= {"text", "image"}
    assert TASK_ID.fullmatch(result["structuredContent"]["taskId"])
    assert tasks_off.exchanges("tasks/get") == []


def test_without_the_declaration_the_model_gets_the_images_in_the_tool_result(tasks_off: Run) -> None:
    blocks = tasks_off.generate_result()["content"]
    assert [b["type"] for b in blocks].count("image") == 1, "the contact sheet, as an image block"
    text = "\n".join(b.get("text", "") for b in blocks)
    structured = tasks_off.generate().result["structuredContent"]
    assert structured["taskId"] in text
    assert all(a["url"] in text for a in structured["artifacts"])
    assert "<task-notification>" not in json.dumps(tasks_off.model_messages())

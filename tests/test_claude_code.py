"""The real Claude Code CLI against `frames-mcp --demo`, with a scripted Messages API on loopback.

Claude Code (npm @anthropic-ai/claude-code, pinned in package.json; its native binary is the optional
dependency @anthropic-ai/claude-code-linux-x64) runs in print mode. The stand-in (tests/messages_standin.py)
plays the model: it asks for four pictures with generate_frames, then calls get_task with the taskId it read,
then answers. Every request Claude Code sent to the "model" is recorded, so these tests read exactly what the
model was given: the tool definitions and the tool results. The whole run happens in a fresh network
namespace (`unshare -rn`) holding only a loopback interface. The README's `claude mcp add` forms (stdio, and HTTP
with `--header`) are checked the same way with `claude mcp list`, Claude Code's own health check.

Without node_modules or unshare these tests skip, or fail when FRAMES_MCP_REQUIRE_ALL=1 (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from frames_mcp.config import Settings
from frames_mcp.server.app import build_server

from ._tools import NODE_MODULES, require
from .conftest import console_script
from .messages_standin import TASK_ID

CLAUDE = NODE_MODULES / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
STANDIN = Path(__file__).with_name("messages_standin.py")
GENERATE, GET_TASK = "mcp__frames__generate_frames", "mcp__frames__get_task"
# Goals of issue 13, as the model receives them (compact JSON, UTF-8 bytes).
RESULT_GOAL = 8 * 1024  # one finished 4-image generation, contact sheet included
TOOLS_GOAL = 6 * 1024  # name, description and input schema of all six tools


def size(obj: Any) -> int:
    """Bytes of `obj` as compact JSON (UTF-8): how a tool definition reaches the model."""
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def model_bytes(block: dict[str, Any]) -> int:
    """What one content block of a tool result puts before the model: its text, or its image's base64."""
    if block["type"] == "image":
        return len(block["source"]["data"])
    return len(block.get("text", "").encode())


@dataclass
class Session:
    requests: list[dict[str, Any]]  # every body the stand-in received, in order
    outcome: dict[str, Any]  # claude's --output-format json answer

    def final(self) -> dict[str, Any]:
        """The last model request: it carries the whole conversation and the tool list."""
        return self.requests[-1]

    def tools(self) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in self.final().get("tools", []) if t["name"].startswith("mcp__frames__")}

    def result_of(self, tool: str) -> dict[str, Any]:
        """The tool_result block the model got back for its call of `tool`."""
        messages = self.final()["messages"]
        uses = {
            b["id"]: b["name"]
            for m in messages
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        }
        results = [
            b
            for m in messages
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result" and uses.get(b["tool_use_id"]) == tool
        ]
        assert len(results) == 1, f"expected one call of {tool}, the model made {len(results)}"
        return results[0]


def _namespace_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10, check=False)
    return probe.returncode == 0


def _claude_env(home: Path) -> dict[str, str]:
    """A bare environment: nothing of this machine's own model or client settings reaches the CLI."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": "sk-ant-api03-" + "standin" * 13 + "AA",  # the usual form; only the stand-in sees it
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ENABLE_TOOL_SEARCH": "false",  # every tool up front, so its definition is measurable as the model gets it
    }


def in_namespace(command: list[str], work: Path, record: Path) -> subprocess.CompletedProcess[str]:
    """`command` with the Messages API stand-in, in a fresh network namespace that has only loopback."""
    require(CLAUDE.exists(), "the Claude Code CLI is missing: run `npm ci` at the repo root (.ci/setup-node.sh)")
    require(_namespace_works(), "`unshare -rn` is not permitted here (it keeps Claude Code on loopback)")
    (work / "home").mkdir(exist_ok=True)
    launcher = ["unshare", "-rn", sys.executable, str(STANDIN), "--lo-up", "--record", str(record), "--", *command]
    proc = subprocess.run(
        launcher, cwd=work, env=_claude_env(work / "home"), capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    work = tmp_path_factory.mktemp("claude-code")
    config = {"mcpServers": {"frames": {"command": console_script(), "args": ["--demo"]}}}
    (work / "mcp.json").write_text(json.dumps(config))
    record = work / "requests.jsonl"
    claude = [str(CLAUDE), "-p", "Make four pictures of a paper boat on a pond at dawn."]
    claude += ["--mcp-config", str(work / "mcp.json"), "--strict-mcp-config", "--output-format", "json"]
    claude += ["--allowedTools", f"{GENERATE} {GET_TASK}"]
    proc = in_namespace(claude, work, record)
    requests = [json.loads(line)["body"] for line in record.read_text().splitlines()]
    return Session(requests, json.loads(proc.stdout))


def test_the_run_completes_with_the_models_answer(session: Session) -> None:
    # Claude Code went through all three scripted turns and reported success.
    assert session.outcome["subtype"] == "success"
    assert session.outcome["is_error"] is False
    assert session.outcome["result"] == "Here are your four pictures of a paper boat."


@pytest.mark.anyio
async def test_the_model_is_offered_every_tool_the_server_lists(session: Session) -> None:
    # Claude Code started the server over stdio and listed its tools: the model sees each under mcp__frames__.
    async with Client(build_server(Settings())) as c:
        served = {f"mcp__frames__{t.name}" for t in (await c.list_tools()).tools}
    assert set(session.tools()) == served


def test_the_model_receives_name_description_and_input_schema_only(session: Session) -> None:
    # What counts toward the tool-list budget: Claude Code passes on no outputSchema, title or annotations.
    assert {frozenset(t) for t in session.tools().values()} == {frozenset({"name", "description", "input_schema"})}


@pytest.mark.parametrize("tool", [GENERATE, GET_TASK])
def test_the_tool_result_holds_the_sheet_every_url_and_the_task_id(session: Session, tool: str) -> None:
    # The model must be able to show the pictures (sheet), link each one (URL) and come back later (taskId).
    result = session.result_of(tool)
    assert result.get("is_error") is not True, result
    blocks = result["content"]
    images = [b for b in blocks if b["type"] == "image"]
    assert len(images) == 1, "the contact sheet reaches the model as one image block"
    assert images[0]["source"]["media_type"] in {"image/jpeg", "image/png", "image/webp"}
    text = "\n".join(b.get("text", "") for b in blocks)
    task_ids = set(TASK_ID.findall(text))
    assert len(task_ids) == 1, f"one taskId, the task's: {task_ids}"
    uuid = task_ids.pop().rsplit("-task:", 1)[1]
    urls = set(re.findall(rf"http://127\.0\.0\.1:\d+/artifacts/{re.escape(uuid)}/([0-9]+)\.png\?_jwt=", text))
    assert urls == {"0", "1", "2", "3"}, "all four image URLs, each signed"


def test_get_task_was_called_with_the_task_id_from_generate(session: Session) -> None:
    # The stand-in read the taskId out of what the model got from generate_frames; get_task accepted it.
    calls = [b for m in session.final()["messages"] if m["role"] == "assistant" for b in m["content"]]
    (get_task,) = [b for b in calls if b.get("type") == "tool_use" and b["name"] == GET_TASK]
    generated = "\n".join(b.get("text", "") for b in session.result_of(GENERATE)["content"])
    assert TASK_ID.fullmatch(get_task["input"]["taskId"])
    assert get_task["input"]["taskId"] in generated


def test_a_finished_generation_costs_the_model_at_most_8_kb(session: Session) -> None:
    # Issue 13's goal for the model's context, contact sheet included: what it reads (each text block) plus
    # the sheet as sent (its base64). Printed with -s for BENCHMARKS.md; the JSON framing is printed beside.
    blocks = session.result_of(GENERATE)["content"]
    parts = {"text": 0, "image": 0}
    for b in blocks:
        parts["image" if b["type"] == "image" else "text"] += model_bytes(b)
    print(f"\ngenerate_frames result for the model: {sum(parts.values())} bytes {parts}; as JSON {size(blocks)}")
    assert sum(parts.values()) <= RESULT_GOAL, parts


def test_the_six_tool_definitions_cost_the_model_at_most_6_kb(session: Session) -> None:
    # Name, description and input schema of every tool, as Claude Code sends them with each request.
    tools = session.tools()
    print("\n" + ", ".join(f"{name}: {size(t)}" for name, t in tools.items()) + f"; all: {size(list(tools.values()))}")
    assert size(list(tools.values())) <= TOOLS_GOAL


# ---- the README's `claude mcp add` forms, health-checked by `claude mcp list` (no model involved) ----------

# Inside the namespace: an HTTP demo server with a bearer token, the README's three `claude mcp add` forms (stdio;
# HTTP with the right header; HTTP with a wrong one, which must fail), then `claude mcp list`.
MCP_LIST_SCRIPT = """
set -e
FRAMES_MCP_AUTH_TOKEN=readme-token "$SERVER" --demo --transport http --port 8000 2>server.log & server=$!
"$PYTHON" -c "
import time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=1)
        break
    except OSError:
        time.sleep(0.1)
"
"$CLAUDE" mcp add frames-stdio -e FRAMES_MCP_WAIT_SECONDS=30 -- "$SERVER" --demo
"$CLAUDE" mcp add --transport http frames-http http://127.0.0.1:8000/mcp --header "Authorization: Bearer readme-token"
"$CLAUDE" mcp add --transport http frames-wrong http://127.0.0.1:8000/mcp --header "Authorization: Bearer wrong"
"$CLAUDE" mcp list
kill $server
wait $server || true
"""


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Server name -> the status `claude mcp list` printed for it."""
    work = tmp_path_factory.mktemp("claude-mcp-list")
    script = f"SERVER={console_script()!r}; PYTHON={sys.executable!r}; CLAUDE={str(CLAUDE)!r}\n{MCP_LIST_SCRIPT}"
    proc = in_namespace(["sh", "-c", script], work, work / "requests.jsonl")
    return dict(re.findall(r"^(frames-[\w-]+): .* - (.+)$", proc.stdout, flags=re.MULTILINE))


@pytest.mark.parametrize("name", ["frames-stdio", "frames-http"])
def test_claude_mcp_list_connects_with_the_readme_commands(health: dict[str, str], name: str) -> None:
    # The README's stdio form and its HTTP form with --header: Claude Code's own health check (initialize,
    # tools/list) passes.
    assert health[name].startswith("✔ Connected"), health


def test_claude_mcp_list_fails_with_a_wrong_bearer_token(health: dict[str, str]) -> None:
    # The header reaches the server and decides: the same URL with another token is refused.
    assert "Failed to connect" in health["frames-wrong"], health
    assert "401" in health["frames-wrong"]

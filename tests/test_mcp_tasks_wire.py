"""Clients that do not declare io.modelcontextprotocol/tasks see the server exactly as before the extension:
raw JSON-RPC lines over a real stdio pipe, from one server with tasks on and one with FRAMES_MCP_TASKS=off
(the extension left out), on the legacy 2025-11-25 handshake and on 2026-07-28 without the declaration."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from frames_mcp.simulator import Simulator

from ._tools import INITIALIZE, INITIALIZED, clean_env, frames_mcp_argv

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
CALL = {"name": "generate_frames", "arguments": {"text_prompt": "a cat", "num_images": 1}}
LEGACY = [
    INITIALIZE,
    INITIALIZED,
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": CALL},
]
MODERN = [
    {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": MODERN_META}},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {**CALL, "_meta": MODERN_META}},
]
# What differs between any two generations on the simulator: ids, signatures, seeds, times, the images (and so
# the contact sheet's size), the account's credits. Everything else must match byte for byte.
VARYING = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
    (re.compile(r"_jwt=[A-Za-z0-9_.-]+"), "_jwt=JWT"),
    (re.compile(r'(\\?"seed\\?":\s*|seed )\d+'), r"\g<1>SEED"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "TIME"),
    (re.compile(r'"data":"[A-Za-z0-9+/=]+"'), '"data":"IMAGE"'),
    (re.compile(r'"bytes":\d+'), '"bytes":N'),  # the contact sheet's JPEG size follows the images
    # The second server's generation runs on the same simulated account, after the first one spent credits.
    (re.compile(r"\d+ of (\d+) plan credits used, \d+ left"), r"N of \1 plan credits used, M left"),
    (re.compile(r'"used":\d+,"permitted":(\d+),"remaining":\d+'), r'"used":N,"permitted":\1,"remaining":M'),
]


def exchange(sim: Simulator, messages: list[dict[str, Any]], tasks: str) -> list[str]:
    """The raw lines a frames-mcp process answers to `messages`, one request at a time."""
    env = clean_env(USEAPI_TOKEN=sim.config.token, USEAPI_BASE_URL=sim.base_url, FRAMES_MCP_TASKS=tasks)  # type: ignore[attr-defined]
    proc = subprocess.Popen(
        frames_mcp_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines = []
    try:
        for message in messages:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
            if "id" in message:
                lines.append(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
    return lines


def normalized(line: str) -> str:
    for pattern, replacement in VARYING:
        line = pattern.sub(replacement, line)
    return line


@pytest.mark.parametrize("messages", [LEGACY, MODERN], ids=["legacy-2025-11-25", "modern-undeclared"])
def test_a_non_declaring_client_sees_the_same_bytes(sim: Simulator, messages: list[dict[str, Any]]) -> None:
    before = exchange(sim, messages, tasks="off")
    after = exchange(sim, messages, tasks="on")
    assert json.loads(after[-1])["result"]["structuredContent"]["status"] == "SUCCEEDED"  # a real generation
    if messages is MODERN:
        # Discovery is the one place the extension shows, as the spec asks: one key more, nothing else.
        declared = '"io.modelcontextprotocol/tasks":{},'
        assert declared in after[0]
        after[0] = after[0].replace(declared, "", 1)
    assert [normalized(line) for line in after] == [normalized(line) for line in before]

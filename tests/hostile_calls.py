"""What every hostile-upstream test shares (tests/test_hostile*.py): the client side of the checks.

- `call` makes one tool call that must answer within its budget + MARGIN seconds;
- `seen` applies what every result must pass: no token, not the SDK's opaque crash, no pydantic wording, and
  the taskId of a created task in its text;
- the fixtures `up` (a served Upstream) and, autouse, `no_token_in_logs`, which fails a test whose log at DEBUG
  shows the token (a test module imports `upstream` and `token_never_logged` to have them).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult
from pydantic import SecretStr

from frames_mcp.config import Settings
from frames_mcp.jobs.service import Tuning
from frames_mcp.server.app import build_server
from frames_mcp.useapi.client import RetryPolicy

from .conftest import FAST_TUNING, stop_later, text_of
from .hostile import CANARY, Upstream, serving

# Seconds a call may run past its budget: scheduling and the last answer's round trip on a loaded 2-core box.
MARGIN = 1.5
# A short request floor, so a slow upstream shows quickly; the per-request timeouts stay at their real
# defaults (10 s per read, 30 s per create): the whole-request deadline, not those, must do the cutting.
# The poll schedule is the quick one of the simulator tests (first look at 0.3 s, polls at least 0.1 s apart):
# a task the stand-in finishes on its second poll is done in well under a second, and a task that never
# finishes is polled (and its hostile answers read) many times within a short wait.
FLOOR = 2.0
TUNING = Tuning(
    schedule=FAST_TUNING.schedule, request_floor=FLOOR, recovery_seconds=1.0, retry=RetryPolicy(read_backoff=0.05)
)
# A shorter floor still, for the tests whose call the whole-request deadline cuts (a dripping answer): how soon
# the cut comes does not matter, only that it comes within the budget.
CUT_FLOOR = 1.0
CUT = dataclasses.replace(TUNING, request_floor=CUT_FLOOR)
PYDANTIC_WORDING = ("validation error for", "errors.pydantic.dev", "input_value=", "[type=")


@pytest.fixture(autouse=True, name="no_token_in_logs")
def token_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: the token never reaches a log line, at any level."""
    caplog.set_level(logging.DEBUG)
    yield
    leaked = [r.name for r in caplog.records if CANARY in r.getMessage() or CANARY in (r.exc_text or "")]
    assert not leaked and CANARY not in caplog.text, f"the useapi token was logged by {leaked}"


@pytest.fixture(name="up")
def upstream() -> Iterator[Upstream]:
    with serving(Upstream(), stop_later) as upstream:  # its shutdown goes on while the next test runs
        yield upstream


def settings(up: Upstream, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(CANARY),
        "base_url": up.base_url,
        "wait_seconds": 3,
        "preview": False,
        "store": "memory",  # each server its own line and records: stuck hostile tasks must not fill another's slots
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def connect(up: Upstream, tuning: Tuning = TUNING, **overrides: Any) -> AsyncIterator[Client]:
    async with Client(build_server(settings(up, **overrides), tuning), mode="auto") as c:  # type: ignore[arg-type]
        yield c


def seen(result: CallToolResult, tool: str) -> str:
    """Everything the model sees of a result, after the checks every result must pass."""
    text = text_of(result)
    everything = text + json.dumps(result.structured_content or {})
    assert CANARY not in everything, "the useapi token reached a result"
    assert text.strip() != f"Error executing tool {tool}", "an opaque crash reached the model"
    assert not any(w in text for w in PYDANTIC_WORDING), text
    task = (result.structured_content or {}).get("taskId")
    if task:
        assert task in text, "a created task's result must name its taskId"
    return text


async def call(c: Client, tool: str, args: dict[str, Any], budget: float, **kw: Any) -> tuple[CallToolResult, str]:
    """Call a tool; it must answer within `budget` + MARGIN seconds (a hung call fails soon after)."""
    start = time.monotonic()
    with anyio.fail_after(budget + MARGIN + 10):
        result = await c.call_tool(tool, args, **kw)
    elapsed = time.monotonic() - start
    assert elapsed <= budget + MARGIN, f"{tool} took {elapsed:.1f} s for a {budget:g} s budget"
    return result, seen(result, tool)


def literal(body: dict[str, Any], **values: str) -> bytes:
    """`body` as JSON with some values replaced by raw JSON text (NaN, 1e999, a bare Infinity)."""
    text = json.dumps({**body, **{k: f"@@{k}@@" for k in values}})
    for key, raw in values.items():
        text = text.replace(f'"@@{key}@@"', raw)
    return text.encode()

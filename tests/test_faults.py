"""The fault matrix: every injectable upstream fault, during create and during polling.

The contract for each: the call returns the right images, or an isError result that says what to do;
every task that was created has its taskId in the caller's result; create is never sent twice when it may
have run; and the server keeps serving (a follow-up call succeeds). Faults do not depend on the protocol
era, so the matrix runs in one client mode (the cancellation and admission tests cover both).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import pytest
from mcp import Client

from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Fault, Simulator

from .conftest import BRISK, BRISK_TUNING, connect, creates, running_sim, sim_task_ids, text_of

pytestmark = pytest.mark.anyio

CREATE = {"method": "POST", "path": "/frames/create"}
POLL = {"method": "GET", "path": "/tasks/user:"}  # GET tasks/{taskId}, not the account listing

Outcome = Literal["images", "not_created", "running", "failed_with_id"]

# (id, fault fields, expected outcome). `after` = the request was processed before the fault hit: a create
# that really created its task although the answer never arrived intact.
CREATE_CASES: list[tuple[str, dict[str, Any], Outcome]] = [
    ("500", {"kind": "status", "status": 500}, "not_created"),
    ("503-after", {"kind": "status", "status": 503, "after": True}, "images"),
    ("596", {"kind": "status", "status": 596}, "not_created"),
    ("reset", {"kind": "reset"}, "not_created"),
    ("reset-after", {"kind": "reset", "after": True}, "images"),
    ("read_timeout", {"kind": "read_timeout", "delay": 3.0}, "not_created"),
    ("read_timeout-after", {"kind": "read_timeout", "delay": 3.0, "after": True}, "images"),
    ("malformed_json", {"kind": "malformed_json"}, "not_created"),
    ("malformed_json-after", {"kind": "malformed_json", "after": True}, "images"),
    ("html", {"kind": "html"}, "not_created"),
    ("html-after", {"kind": "html", "after": True}, "images"),
    ("slow", {"kind": "slow", "delay": 0.5}, "images"),
    ("stuck_pending", {"kind": "stuck_pending"}, "running"),
    ("no_artifacts", {"kind": "no_artifacts"}, "failed_with_id"),
]
POLL_CASES: list[tuple[str, dict[str, Any], Outcome]] = [
    ("500", {"kind": "status", "status": 500}, "images"),
    ("596", {"kind": "status", "status": 596}, "images"),
    ("reset", {"kind": "reset"}, "images"),
    ("read_timeout", {"kind": "read_timeout", "delay": 3.0}, "images"),
    ("malformed_json", {"kind": "malformed_json"}, "images"),
    ("html", {"kind": "html"}, "images"),
    ("slow", {"kind": "slow", "delay": 0.5}, "images"),
    ("stuck_pending", {"kind": "stuck_pending"}, "running"),
    ("no_artifacts", {"kind": "no_artifacts"}, "failed_with_id"),
    ("503-persistent", {"kind": "status", "status": 503, "times": 0}, "failed_with_id"),
]
# The call's wait: 2 s leaves a create that was slow, timed out or recovered time to finish within it. A fault
# that lasts the whole wait (a task stuck PENDING, polls failing to the end) shows the same in 1 s.
WAIT = 2
WHOLE_WAIT = 1
LASTS = ("stuck_pending", "503-persistent")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """Tasks done 0.1 s after their create: every fault below is slower than that (or lasts)."""
    with running_sim(**BRISK) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with connect(sim, "auto", BRISK_TUNING) as c:  # FAST_TUNING's timeouts, a schedule for such tasks
        yield c


async def _check(client: Client, sim: Simulator, fault: Fault, outcome: Outcome, wait: int = WAIT) -> None:
    sim.inject(fault)
    r = await client.call_tool("generate_frames", {"text_prompt": "a heron at dawn", "wait_seconds": wait})
    text = text_of(r)
    created = await sim_task_ids(sim)
    for task_id in created:  # nothing paid for is ever lost
        assert task_id in text, (task_id, text)
    assert creates(sim) == 1  # never a second create for one call
    if outcome == "images":
        assert not r.is_error, text
        result = TaskResult.model_validate(r.structured_content)
        assert result.status == "SUCCEEDED" and len(result.artifacts) == 4
    elif outcome == "not_created":
        assert r.is_error and created == []
        assert "not created" in text and "generate_frames again" in text
    elif outcome == "running":
        assert not r.is_error
        result = TaskResult.model_validate(r.structured_content)
        assert not result.done and result.nextStep and "get_task" in result.nextStep
    else:
        assert r.is_error and len(created) == 1
        assert "get_task" in text or "generate again" in text
    sim.clear_faults()
    again = await client.call_tool("generate_frames", {"text_prompt": "a second heron", "num_images": 1})
    assert not again.is_error, text_of(again)  # the server keeps serving


@pytest.mark.parametrize(("case", "fields", "outcome"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
async def test_fault_during_create(
    client: Client, sim: Simulator, case: str, fields: dict[str, Any], outcome: Outcome
) -> None:
    await _check(client, sim, Fault(**CREATE, **fields), outcome, WHOLE_WAIT if case in LASTS else WAIT)


@pytest.mark.parametrize(("case", "fields", "outcome"), POLL_CASES, ids=[c[0] for c in POLL_CASES])
async def test_fault_during_polling(
    client: Client, sim: Simulator, case: str, fields: dict[str, Any], outcome: Outcome
) -> None:
    await _check(client, sim, Fault(**POLL, **fields), outcome, WHOLE_WAIT if case in LASTS else WAIT)


async def test_a_create_whose_fate_cannot_be_checked_says_not_to_retry_blindly(client: Client, sim: Simulator) -> None:
    # The create answer is lost and the account's task list is down too: the server cannot tell whether a
    # task exists, so it says so, and points at list_tasks instead of inviting a second paid create.
    sim.inject(Fault(kind="read_timeout", method="POST", path="/frames/create", delay=3.0, after=True))
    sim.inject(Fault(kind="status", method="GET", path="/v1/runwayml/tasks/", status=503, times=0))
    r = await client.call_tool("generate_frames", {"text_prompt": "a heron", "wait_seconds": 2})
    text = text_of(r)
    assert r.is_error and "may have been created" in text and "list_tasks" in text
    assert "Do not call generate_frames again yet" in text
    assert creates(sim) == 1

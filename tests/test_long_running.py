"""Long-running calls through real MCP clients: progress, admission per account, the ledger and list_tasks,
cancellation, and the budget. The simulator's tasks are short; the server's timings are shrunk to match."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError

from frames_mcp.server.results.schemas import TaskListResult, TaskResult
from frames_mcp.simulator import Fault, Simulator
from frames_mcp.useapi.transport import shared_tls

from ._tools import stdio_server
from .conftest import (
    BRISK,
    BRISK_TUNING,
    FAST_TUNING,
    connect,
    creates,
    running_sim,
    sim_task_ids,
    text_of,
)

pytestmark = pytest.mark.anyio


def _gets_of(sim: Simulator, task_id: str) -> int:
    return sum(1 for r in sim.request_log if r.method == "GET" and r.path.endswith(task_id))


@pytest.fixture
def quick() -> Iterator[Simulator]:
    """A simulator whose tasks take 0.1 s, for tests that run many of them (with BRISK_TUNING's schedule)."""
    with running_sim(**BRISK) as simulator:
        yield simulator


@pytest.fixture
def one_slot() -> Iterator[Simulator]:
    """An account with maxJobs 1 and tasks that run long enough to be caught running (0.6 s)."""
    with running_sim(queue_seconds=0.1, run_seconds=0.5, image_px=32, accounts={"solo@frames.local": 1}) as simulator:
        yield simulator


@pytest.fixture
def brief_slot() -> Iterator[Simulator]:
    """An account with maxJobs 1 and tasks of 0.1 s, for tests of a slot held until someone sees its task final:
    an abandoned task keeps its slot until then however soon it finishes (with BRISK_TUNING's schedule)."""
    with running_sim(**BRISK, accounts={"solo@frames.local": 1}) as simulator:
        yield simulator


@pytest.fixture
async def quick_client(quick: Simulator) -> AsyncIterator[Client]:
    async with connect(quick, "auto", BRISK_TUNING) as c:
        yield c


# ---- admission -------------------------------------------------------------------------------------------


async def test_forty_concurrent_calls_on_five_slots_all_succeed_without_a_429(
    quick: Simulator, quick_client: Client
) -> None:
    # The acceptance case: the server queues its own calls instead of letting useapi refuse them.
    results: list[Any] = []

    async def one(i: int) -> None:
        results.append(
            await quick_client.call_tool(
                "generate_frames", {"text_prompt": f"lantern {i}", "num_images": 1, "maxJobs": 5, "wait_seconds": 30}
            )
        )

    async with anyio.create_task_group() as tg:
        for i in range(40):
            tg.start_soon(one, i)
    assert [r.is_error for r in results] == [False] * 40
    assert {TaskResult.model_validate(r.structured_content).status for r in results} == {"SUCCEEDED"}
    assert quick.counts()["429s"] == 0
    assert creates(quick) == 40


async def test_calls_beyond_max_jobs_hear_they_are_queued_locally(one_slot: Simulator) -> None:
    # A call waiting for a slot tells the client where it stands instead of going silent.
    messages: list[str] = []
    first_created = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async def on_first(progress: float, total: float | None, message: str | None) -> None:
        first_created.set()  # its first progress is its created task: it holds the slot

    async with connect(one_slot, "auto", FAST_TUNING) as c, anyio.create_task_group() as tg:
        tg.start_soon(
            partial(c.call_tool, progress_callback=on_first),
            "generate_frames",
            {"text_prompt": "first", "num_images": 1},
        )
        await first_created.wait()  # (a fixed sleep could end before the first call took its slot, under load)
        second = await c.call_tool(
            "generate_frames", {"text_prompt": "second", "num_images": 1}, progress_callback=on_progress
        )
    assert not second.is_error, text_of(second)
    assert messages[0].startswith("Queued locally")
    assert one_slot.counts()["429s"] == 0


async def test_an_abandoned_task_keeps_its_slot_until_a_waiting_call_sees_it_finish(brief_slot: Simulator) -> None:
    # wait_seconds 0 leaves a running task nobody polls: the next call must neither overrun maxJobs
    # (a 429) nor wait forever; it reads the orphaned task itself and goes once it has finished.
    async with connect(brief_slot, "auto", BRISK_TUNING) as c:
        first = await c.call_tool("generate_frames", {"text_prompt": "first", "num_images": 1, "wait_seconds": 0})
        assert not TaskResult.model_validate(first.structured_content).done
        second = await c.call_tool("generate_frames", {"text_prompt": "second", "num_images": 1})
    assert TaskResult.model_validate(second.structured_content).status == "SUCCEEDED"
    assert brief_slot.counts()["429s"] == 0
    assert creates(brief_slot) == 2


async def test_a_call_cancelled_while_queued_locally_leaves_the_line(brief_slot: Simulator) -> None:
    # Cancelling a call that waits for a slot must give up its place: it creates nothing, and the calls
    # behind it are not held up by a ticket nobody will use.
    async with connect(brief_slot, "auto", BRISK_TUNING) as c:
        await c.call_tool("generate_frames", {"text_prompt": "first", "num_images": 1, "wait_seconds": 0})
        with anyio.CancelScope() as scope:

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                if (message or "").startswith("Queued locally"):
                    scope.cancel()

            await c.call_tool(
                "generate_frames", {"text_prompt": "second", "num_images": 1}, progress_callback=on_progress
            )
        third = await c.call_tool("generate_frames", {"text_prompt": "third", "num_images": 1})
    assert scope.cancelled_caught
    assert TaskResult.model_validate(third.structured_content).status == "SUCCEEDED"
    assert creates(brief_slot) == 2 and brief_slot.counts()["429s"] == 0


async def test_a_call_whose_budget_ends_in_the_local_queue_is_not_created(one_slot: Simulator) -> None:
    # A distinct outcome from "created, still running": nothing exists, nothing was charged, no taskId.
    async with connect(one_slot, "auto", FAST_TUNING) as c:
        await c.call_tool("generate_frames", {"text_prompt": "first [slow]", "num_images": 1, "wait_seconds": 0})
        r = await c.call_tool("generate_frames", {"text_prompt": "second", "num_images": 1, "wait_seconds": 1})
    assert r.is_error
    text = text_of(r)
    assert "Not created" in text and "nothing was charged" in text
    assert "taskId" not in text and r.structured_content is None
    assert creates(one_slot) == 1


async def test_a_429_from_another_client_outlasting_the_budget_is_not_created(
    quick_client: Client, quick: Simulator
) -> None:
    # Another client fills the account: useapi's 429 is honoured (Retry-After), and when no retry fits the
    # budget the call says plainly that nothing was created.
    quick.inject(Fault(kind="status", path="/frames/create", status=429, headers={"Retry-After": "5"}, times=0))
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    r = await quick_client.call_tool(
        "generate_frames", {"text_prompt": "a cat", "wait_seconds": 3}, progress_callback=on_progress
    )
    assert r.is_error and "No task was created and nothing was charged" in text_of(r)
    assert creates(quick) == 1  # Retry-After 5 s does not fit a 3 s budget: no second try


# ---- progress ---------------------------------------------------------------------------------------------


async def test_progress_goes_from_queued_through_running_to_done(one_slot: Simulator) -> None:
    # Progress is drawn from the task itself: Runway's queue estimate, then progressRatio, then the end.
    seen: list[tuple[float, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message or ""))

    async with connect(one_slot, "auto", FAST_TUNING) as c:
        r = await c.call_tool("generate_frames", {"text_prompt": "a kite"}, progress_callback=on_progress)
    assert not r.is_error
    messages = [m for _, m in seen]
    assert messages[0].startswith("PENDING: queued at Runway")
    assert any(m.startswith("RUNNING:") and "generated" in m for m in messages)
    assert messages[-1] == "SUCCEEDED" and seen[-1][0] == 1.0
    values = [p for p, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)


async def test_a_real_stdio_client_receives_progress(one_slot: Simulator) -> None:
    # The same over a real subprocess, the way desktop clients run the server.
    env = {"USEAPI_TOKEN": one_slot.config.token, "USEAPI_BASE_URL": one_slot.base_url}  # type: ignore[attr-defined]
    env["XDG_STATE_HOME"] = os.environ["XDG_STATE_HOME"]  # the test session's (conftest), not the developer's
    seen: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    async with Client(stdio_server(env)) as c:
        r = await c.call_tool(
            "generate_frames", {"text_prompt": "a kite", "num_images": 1}, progress_callback=on_progress
        )
    assert not r.is_error
    assert seen[0].startswith("PENDING: queued at Runway") and seen[-1] == "SUCCEEDED"


# ---- cancellation and the ledger ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "client_timeout"])
async def test_a_cancelled_call_stops_polling_and_its_task_stays_listed(
    one_slot: Simulator, mode: str, how: str
) -> None:
    # When the client cancels (or gives up on) a call, nothing keeps polling, and list_tasks still finds the task.
    async with connect(one_slot, mode, FAST_TUNING) as c:
        with anyio.CancelScope() as scope:

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                if how == "cancel" and (message or "").startswith("RUNNING"):
                    scope.cancel()

            try:
                await c.call_tool(
                    "generate_frames",
                    {"text_prompt": "a lighthouse", "num_images": 1},
                    progress_callback=on_progress,
                    # 0.5 s leaves the create time to be sent on a loaded machine, and the 0.6 s task it
                    # made still runs when the client gives up.
                    read_timeout_seconds=0.5 if how == "client_timeout" else None,
                )
            except MCPError:
                assert how == "client_timeout"
        await anyio.sleep(0.3)  # the cancellation reaches the server (legacy: a notifications/cancelled message)
        [task_id] = await sim_task_ids(one_slot)
        polls = _gets_of(one_slot, task_id)
        await anyio.sleep(0.6)  # past the task's end, when the next poll would have come
        assert _gets_of(one_slot, task_id) == polls

        listed = await c.call_tool("list_tasks", {})
    result = TaskListResult.model_validate(listed.structured_content)
    assert [t.taskId for t in result.tasks] == [task_id]
    assert result.tasks[0].prompt == "a lighthouse" and result.tasks[0].account == "solo@frames.local"
    assert result.tasks[0].status == "SUCCEEDED"  # list_tasks re-read the unfinished task
    assert task_id in text_of(listed)


async def test_list_tasks_is_newest_first_and_filters_by_status(quick_client: Client) -> None:
    # The ledger answers "what did this server start, and how did it end?" without the model keeping ids.
    ok = await quick_client.call_tool("generate_frames", {"text_prompt": "one", "num_images": 1})
    failed = await quick_client.call_tool("generate_frames", {"text_prompt": "two [fail]", "num_images": 1})
    ok_id, failed_id = (TaskResult.model_validate(r.structured_content).taskId for r in (ok, failed))

    everything = TaskListResult.model_validate((await quick_client.call_tool("list_tasks", {})).structured_content)
    assert [t.taskId for t in everything.tasks] == [failed_id, ok_id]
    assert [t.status for t in everything.tasks] == ["FAILED", "SUCCEEDED"]
    assert everything.account is None

    only = await quick_client.call_tool("list_tasks", {"status": "SUCCEEDED"})
    assert [t.taskId for t in TaskListResult.model_validate(only.structured_content).tasks] == [ok_id]


async def test_list_tasks_can_show_the_accounts_own_listing(quick_client: Client, quick: Simulator) -> None:
    # account=true reads GET /v1/runwayml/tasks: tasks other clients created show there, not in the ledger.
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=quick.base_url) as http:  # type: ignore[attr-defined]
        await http.post(
            "/v1/runwayml/frames/create",
            json={"text_prompt": "made elsewhere", "num_images": 1},
            headers={"Authorization": f"Bearer {quick.config.token}"},
        )
    r = await quick_client.call_tool("list_tasks", {"account": True, "limit": 5})
    result = TaskListResult.model_validate(r.structured_content)
    assert result.tasks == []
    assert result.account is not None and [t.prompt for t in result.account] == ["made elsewhere"]
    listing = [q for q in quick.request_log if q.path == "/v1/runwayml/tasks/"]
    assert len(listing) == 1


async def test_get_task_updates_the_ledger(brief_slot: Simulator) -> None:
    # A task picked up with get_task shows its new status in list_tasks, without list_tasks reading it again.
    async with connect(brief_slot, "auto", BRISK_TUNING) as c:
        r = await c.call_tool("generate_frames", {"text_prompt": "later", "num_images": 1, "wait_seconds": 0})
        task_id = TaskResult.model_validate(r.structured_content).taskId
        await c.call_tool("get_task", {"taskId": task_id, "wait_seconds": 10})
        gets = _gets_of(brief_slot, task_id)
        listed = TaskListResult.model_validate((await c.call_tool("list_tasks", {})).structured_content)
    assert listed.tasks[0].status == "SUCCEEDED"
    assert _gets_of(brief_slot, task_id) == gets


async def test_a_stalled_upstream_cannot_hold_a_call_past_its_budget(quick_client: Client, quick: Simulator) -> None:
    # Every GET hangs far longer than the budget: each request is cut to the time left, so the call
    # comes back with its taskId, and the simulator sees the abandoned requests (status 0).
    quick.inject(Fault(kind="read_timeout", method="GET", path="/tasks/user:", delay=60, times=0))
    r = await quick_client.call_tool("generate_frames", {"text_prompt": "a cat", "wait_seconds": 2})
    result = TaskResult.model_validate(r.structured_content)
    assert r.is_error and result.taskId in text_of(r) and "get_task" in text_of(r)
    assert any(q.status == 0 and q.method == "GET" for q in quick.request_log)

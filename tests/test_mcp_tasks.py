"""generate_frames as a native MCP task (io.modelcontextprotocol/tasks), through the SDK's own Client with the
package's client half, in memory, against the simulator. HTTP, stdio, fleets and interop are in
test_mcp_tasks_fleet.py and test_mcp_tasks_interop.py."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.types import CallToolResult

from frames_mcp.config import Settings
from frames_mcp.server.app import build_server
from frames_mcp.server.mcp_tasks import TaskTuning
from frames_mcp.server.tasks_client import TasksClient, cancel_task, get_task, wait_for
from frames_mcp.server.tasks_wire import CreateTaskResult, DetailedTask
from frames_mcp.simulator import Simulator
from frames_mcp.store import Store

from .conftest import BRISK, BRISK_TUNING, creates, running_sim, settings_for, sim_task_ids, text_of

pytestmark = pytest.mark.anyio

CAT = {"text_prompt": "a cat on a windowsill", "num_images": 1}
# Handles that ask the client back 0.05 s after the server's next look at useapi (the default: 0.3 s, and never
# sooner than 0.25 s): a finished task is seen at once. The handle's own pollIntervalMs is checked on the defaults.
QUICK_HANDLES = TaskTuning(poll_margin=0.05, poll_min=0.05)
RUNWAY_ID = re.compile(r"user:\d+-runwayml:[^\s:]+-task:[0-9a-f-]{36}")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A fresh simulator per test whose tasks take 0.1 s (the tests that need a slower task make their own)."""
    with running_sim(**BRISK) as simulator:
        yield simulator


def runway_id_in(message: str | None) -> str:
    """The Runway taskId a status message names (every message does)."""
    found = RUNWAY_ID.search(message or "")
    assert found, message
    return found.group(0)


@asynccontextmanager
async def declaring(
    sim: Simulator,
    *,
    task_tuning: TaskTuning = QUICK_HANDLES,
    store: Store | None = None,
    mode: str = "auto",
    **overrides: Any,
) -> AsyncIterator[Client]:
    """A client that declares the tasks extension, of a fresh server on the simulator."""
    server = build_server(settings_for(sim, **overrides), BRISK_TUNING, task_tuning=task_tuning, store=store)
    async with Client(server, mode=mode, extensions=[TasksClient()]) as c:  # type: ignore[arg-type]
        yield c


async def start(client: Client, name: str = "generate_frames", **arguments: Any) -> Any:
    """tools/call, returning whatever the server answered: a task handle or a CallToolResult."""
    return await client.session.call_tool(name, arguments or CAT, allow_claimed=True)


async def test_the_handle_comes_once_the_useapi_task_exists(sim: Simulator) -> None:
    # "MUST NOT return CreateTaskResult until the task is durably created": the create has happened, and the
    # handle names the Runway task, so a person (or get_task) can find it even if the handle is lost.
    async with declaring(sim, task_tuning=TaskTuning()) as client:
        handle = await start(client)
        assert isinstance(handle, CreateTaskResult)
        assert creates(sim) == 1
        assert handle.status == "working" and handle.result_type == "task"
        assert runway_id_in(handle.status_message) in await sim_task_ids(sim)
        assert handle.ttl_ms == 24 * 3600 * 1000
        assert handle.poll_interval_ms is not None and 250 <= handle.poll_interval_ms <= 30_000


async def test_tasks_get_completes_with_the_synchronous_result_shape(sim: Simulator) -> None:
    # The inlined result is the CallToolResult generate_frames gives without tasks: same blocks, same schema.
    async with declaring(sim) as client:
        final = await wait_for(client.session, await start(client))
    async with Client(build_server(settings_for(sim), BRISK_TUNING)) as plain:
        sync = await plain.call_tool("generate_frames", CAT)
    assert final.status == "completed" and final.result is not None
    tasked = CallToolResult.model_validate(final.result)
    assert not tasked.is_error and not sync.is_error
    assert [c.type for c in tasked.content] == [c.type for c in sync.content]
    assert tasked.structured_content is not None and sync.structured_content is not None
    assert tasked.structured_content.keys() == sync.structured_content.keys()
    assert tasked.structured_content["status"] == "SUCCEEDED"
    assert final.status_message and "SUCCEEDED" in final.status_message
    assert final.poll_interval_ms is None  # nothing left to poll for


async def test_the_client_half_resolves_a_task_transparently(sim: Simulator) -> None:
    # Client(extensions=[TasksClient()]).call_tool is the whole API for most Python users; the SDK re-validates
    # the final result against generate_frames' output schema.
    async with declaring(sim) as client:
        result = await client.call_tool("generate_frames", CAT)
    assert not result.is_error
    assert "SUCCEEDED: 1 image" in text_of(result)
    assert creates(sim) == 1


async def test_working_states_read_like_progress(sim: Simulator) -> None:
    # statusMessage carries what progress notifications carry on the synchronous path (tasks have none).
    seen: list[str] = []
    with running_sim(queue_seconds=0.2, run_seconds=0.8, image_px=32) as slow:
        async with declaring(slow) as client:
            handle = await start(client)
            task: DetailedTask | None = None
            while task is None or task.status == "working":
                await anyio.sleep(0.2)
                task = await get_task(client.session, handle.task_id)
                seen.append(task.status_message or "")
    assert task.status == "completed"
    assert any("generated" in s and "RUNNING" in s for s in seen), seen


async def test_a_call_that_creates_nothing_answers_as_today(sim: Simulator) -> None:
    # A create refused by moderation (422) never created a task: no handle, the same error as without tasks.
    prompt = {"text_prompt": "a [moderate-create] scene", "num_images": 1}
    async with declaring(sim) as client:
        answer = await start(client, **prompt)
    async with Client(build_server(settings_for(sim), BRISK_TUNING)) as plain:
        sync = await plain.call_tool("generate_frames", prompt)
    assert isinstance(answer, CallToolResult) and answer.is_error
    assert text_of(answer) == text_of(sync)


async def test_a_full_local_line_is_not_created_and_not_a_task(sim: Simulator) -> None:
    # maxJobs 1 and one task running: a second call with no time to wait in line creates nothing and says so.
    with running_sim(queue_seconds=0.2, run_seconds=3.0, image_px=32) as slow:
        async with declaring(slow) as client:
            first = await start(client, **CAT, maxJobs=1)
            second = await start(client, **CAT, maxJobs=1, wait_seconds=0)
            assert isinstance(first, CreateTaskResult)
            assert isinstance(second, CallToolResult) and second.is_error
            assert "Not created" in text_of(second)
            assert creates(slow) == 1


async def test_a_moderated_generation_is_completed_with_is_error(sim: Simulator) -> None:
    # The spec: a tool result with isError is still `completed`; `failed` is for protocol errors only.
    async with declaring(sim) as client:
        final = await wait_for(client.session, await start(client, text_prompt="a [moderated] scene", num_images=1))
    assert final.status == "completed"
    result = CallToolResult.model_validate(final.result)
    assert result.is_error
    assert "moderated" in text_of(result)
    assert result.structured_content and result.structured_content["taskId"].startswith("user:1-runwayml:")


async def test_cancel_stops_the_wait_and_says_runway_may_finish(sim: Simulator) -> None:
    with running_sim(queue_seconds=0.2, run_seconds=4.0, image_px=32) as slow:
        async with declaring(slow) as client:
            handle = await start(client)
            await cancel_task(client.session, handle.task_id)
            task = await get_task(client.session, handle.task_id)
            reads = len(slow.request_log)
            await anyio.sleep(0.6)  # past several polls the wait would have made (the first 0.1 s after create)
            assert len(slow.request_log) == reads  # this server polls no more
            assert task.status == "cancelled"
            assert task.status_message and "may still finish" in task.status_message
            runway_id = runway_id_in(task.status_message)
            read = await client.call_tool("get_task", {"taskId": runway_id})  # and get_task still reads it
            assert not read.is_error and runway_id in text_of(read)


async def test_unknown_task_ids_are_invalid_params(sim: Simulator) -> None:
    async with declaring(sim) as client:
        with pytest.raises(MCPError) as e:
            await get_task(client.session, "no-such-task")
    assert e.value.error.code == -32602
    assert "Unknown or expired taskId" in e.value.error.message


async def test_an_expired_handle_is_invalid_params(sim: Simulator) -> None:
    # ttlMs is a promise: once it has passed the handle is gone (get_task still reads the Runway task).
    async with declaring(sim, task_tuning=dataclasses.replace(QUICK_HANDLES, ttl=0.5)) as client:
        handle = await start(client)
        assert handle.ttl_ms == 500
        await anyio.sleep(0.7)
        with pytest.raises(MCPError) as e:
            await get_task(client.session, handle.task_id)
    assert e.value.error.code == -32602


async def test_tasks_methods_need_the_declaration(sim: Simulator) -> None:
    # A client that does not declare the extension on tasks/get gets -32021 (missing required capability).
    async with declaring(sim) as client:
        handle = await start(client)
    async with Client(build_server(settings_for(sim), BRISK_TUNING)) as plain:
        with pytest.raises(MCPError) as e:
            await get_task(plain.session, handle.task_id)
    assert e.value.error.code == -32021


async def test_a_legacy_connection_never_gets_a_task(sim: Simulator) -> None:
    # On 2025-11-25 the SDK drops the claim-bearing extension from the handshake: the call answers inline,
    # and tasks/* do not exist there.
    async with declaring(sim, mode="legacy") as client:
        answer = await start(client)
        assert isinstance(answer, CallToolResult) and not answer.is_error
        with pytest.raises(MCPError) as e:
            await get_task(client.session, "whatever")
    assert e.value.error.code == -32601


async def test_tasks_off_makes_every_call_synchronous(sim: Simulator) -> None:
    async with declaring(sim, tasks=False) as client:
        answer = await start(client)
    assert isinstance(answer, CallToolResult) and "SUCCEEDED" in text_of(answer)


async def test_get_task_with_a_wait_runs_as_a_task_and_without_one_does_not(sim: Simulator) -> None:
    with running_sim(queue_seconds=0.05, run_seconds=0.25, image_px=32) as slow:
        async with declaring(slow) as client:
            first = await wait_for(client.session, await start(client))  # a finished task to read
            runway_id = CallToolResult.model_validate(first.result).structured_content["taskId"]  # type: ignore[index]
            instant = await start(client, "get_task", taskId=runway_id)
            assert isinstance(instant, CallToolResult)  # wait_seconds 0: nothing to wait for
            running = await start(client)  # a running one, read with a wait
            runway_running = runway_id_in(running.status_message)
            waited = await start(client, "get_task", taskId=runway_running, wait_seconds=30)
            assert isinstance(waited, CreateTaskResult)
            final = await wait_for(client.session, waited)
    assert final.status == "completed"
    assert "SUCCEEDED" in text_of(CallToolResult.model_validate(final.result))


async def test_a_replica_takes_over_a_task_whose_owner_stopped(sim: Simulator) -> None:
    # Two servers sharing one handle store (one process here; test_mcp_tasks_fleet does it on Redis): the first
    # stops mid-wait, the second answers tasks/get, follows the Runway task and completes it.
    from frames_mcp.store import open_store

    shared = open_store("memory")
    with running_sim(queue_seconds=0.2, run_seconds=0.8, image_px=32) as slow:
        async with declaring(slow, store=shared) as first:
            handle = await start(first)
        async with declaring(slow, store=shared) as second:
            final = await wait_for(second.session, handle)
    assert final.status == "completed"
    assert "SUCCEEDED" in text_of(CallToolResult.model_validate(final.result))
    assert creates(slow) == 1


async def test_the_removed_and_the_input_methods(sim: Simulator) -> None:
    # SEP-2663 removed tasks/result and tasks/list (-32601: no such method); tasks/update is acknowledged (no
    # frames-mcp task ever waits for input), for the caller's own tasks only.
    from mcp.types import Request, RequestParams, Result

    from frames_mcp.server.tasks_wire import UpdateTaskParams

    class Removed(Request[RequestParams, str]):
        method: str
        params: RequestParams

    class Update(Request[UpdateTaskParams, str]):
        method: str = "tasks/update"
        params: UpdateTaskParams

    async with declaring(sim) as client:
        handle = await start(client)
        for method in ("tasks/result", "tasks/list"):
            with pytest.raises(MCPError) as e:
                await client.session.send_request(Removed(method=method, params=RequestParams()), Result)
            assert e.value.error.code == -32601, method
        ack = await client.session.send_request(Update(params=UpdateTaskParams(task_id=handle.task_id)), Result)
        assert ack.model_dump(exclude_none=True, by_alias=True).keys() <= {"_meta", "resultType"}
        with pytest.raises(MCPError) as e:
            await client.session.send_request(Update(params=UpdateTaskParams(task_id="not-mine")), Result)
        assert e.value.error.code == -32602


async def test_a_call_waiting_in_line_reports_progress_until_its_handle(sim: Simulator) -> None:
    # Before the handle the call is an ordinary open request, so "Queued locally" arrives as progress; once it
    # is a task, nothing more does (tasks carry no progress notifications: the status message does).
    seen: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    with running_sim(queue_seconds=0.05, run_seconds=0.25, image_px=32) as slow:
        async with declaring(slow) as client:
            first = await start(client, **CAT, maxJobs=1)
            second = await client.session.call_tool(
                "generate_frames", {**CAT, "maxJobs": 1}, allow_claimed=True, progress_callback=on_progress
            )
            assert isinstance(first, CreateTaskResult) and isinstance(second, CreateTaskResult)
            heard = len(seen)
            await wait_for(client.session, second)
    assert heard >= 1 and all(m.startswith("Queued locally") for m in seen), seen
    assert len(seen) == heard


async def test_the_poll_hint_follows_the_schedule_the_server_polls_useapi_with() -> None:
    # --demo polls its 2 s simulated runs on a schedule of their own (a 1-10 s window, not real Frames' 8-60 s):
    # pollIntervalMs must come from that schedule, or a client is told to come back 7 s later for a task done in 2.
    settings = Settings(demo=True, wait_seconds=10)
    async with Client(build_server(settings), extensions=[TasksClient()]) as client:  # type: ignore[arg-type]
        handle = await start(client)
        hints, task = [handle.poll_interval_ms], await get_task(client.session, handle.task_id)
        while task.status == "working":
            hints.append(task.poll_interval_ms)
            await anyio.sleep(0.25)
            task = await get_task(client.session, handle.task_id)
    assert task.status == "completed"
    assert all(h is not None and h <= 3_000 for h in hints), hints

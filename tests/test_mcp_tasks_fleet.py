"""MCP tasks over real transports: replicas on streamable HTTP sharing one real Redis (or one SQLite file),
restarts, principals, the Mcp-Name header; and stdio. Replicas are uvicorn servers on loopback, each in its
own thread and event loop, as separate processes would be; the store is the only thing they share."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from frames_mcp.server.app import build_server
from frames_mcp.server.http import MCP_PATH, build_app
from frames_mcp.server.mcp_tasks import TaskTuning
from frames_mcp.server.tasks_client import TasksClient, cancel_task, get_task, wait_for
from frames_mcp.server.tasks_wire import CreateTaskResult, DetailedTask
from frames_mcp.simulator import Simulator
from frames_mcp.store import open_store
from frames_mcp.useapi.transport import shared_tls

from ._redis import RedisServer, own_redis, redis_server, redis_url  # noqa: F401 (fixtures)
from ._tools import clean_env, free_port, stdio_server
from .conftest import FAST_TUNING, creates, running_sim, settings_for, sim_task_ids, text_of

pytestmark = pytest.mark.anyio

CAT = {"text_prompt": "a cat on a windowsill", "num_images": 1}
TOKEN_A = "replica-token-a-5c1e"  # not secrets: only these loopback test servers accept them
TOKEN_B = "replica-token-b-93d0"
QUICK_TAKEOVER = TaskTuning(heartbeat=0.2, stale=1.0)


@pytest.fixture
def redis(redis_url: str) -> str:  # noqa: F811 (the fixture of that name)
    """An empty real Redis for this test's replicas."""
    return redis_url


@pytest.fixture
def slow() -> Iterator[Simulator]:
    """Tasks long enough (about 2 s) for a replica to stop in the middle of one, or to be read still working.
    (Tests that do not care whether the task still runs use conftest's quick `sim`.)"""
    with running_sim(queue_seconds=0.3, run_seconds=1.8, image_px=32) as simulator:
        yield simulator


@contextmanager
def replica(sim: Simulator, store_url: str, token: str = TOKEN_A) -> Iterator[str]:
    """A frames-mcp HTTP replica on a free loopback port, its handles in the store at `store_url`."""
    settings = settings_for(sim, auth_token=token)
    server = build_server(settings, FAST_TUNING, task_tuning=QUICK_TAKEOVER, store=open_store(store_url))
    port = free_port()
    config = uvicorn.Config(build_app(server, settings, host="127.0.0.1"), host="127.0.0.1", port=port, log_config=None)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started:
        assert thread.is_alive() and time.monotonic() < deadline, "replica did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{MCP_PATH}"
    finally:
        runner.should_exit = True
        thread.join(20)


@asynccontextmanager
async def connect(url: str, token: str = TOKEN_A, seen: list[httpx2.Request] | None = None) -> AsyncIterator[Client]:
    async def record(request: httpx2.Request) -> None:
        if seen is not None:
            seen.append(request)

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(verify=shared_tls(), headers=headers, timeout=30, event_hooks={"request": [record]}) as http,
        Client(streamable_http_client(url, http_client=http), extensions=[TasksClient()]) as c,
    ):
        yield c


async def start(client: Client) -> CreateTaskResult:
    handle = await client.session.call_tool("generate_frames", CAT, allow_claimed=True)
    assert isinstance(handle, CreateTaskResult)
    return handle


def result_of(task: DetailedTask) -> CallToolResult:
    assert task.status == "completed", task
    return CallToolResult.model_validate(task.result)


async def test_a_second_replica_answers_tasks_get(slow: Simulator, redis: str) -> None:
    # Behind a load balancer the tasks/get polls land anywhere: B answers from the shared Redis while A waits.
    with replica(slow, redis) as a, replica(slow, redis) as b:
        async with connect(a) as on_a:
            handle = await start(on_a)
        async with connect(b) as on_b:
            task = await get_task(on_b.session, handle.task_id)
            assert task.status == "working"
            final = await wait_for(on_b.session, task)
    assert "SUCCEEDED" in text_of(result_of(final))
    assert creates(slow) == 1


async def test_a_cancel_on_another_replica_stops_the_owner(redis: str) -> None:
    # B records the cancel; A, which waits for the Runway task, sees it at its next write and stops polling,
    # and never overwrites `cancelled` with a result. The requests to useapi are counted from shortly before
    # the Runway task ends (A's heartbeats, every 0.2 s, read the cancel long before, however busy the
    # machine) to a second after it: a poller that went on would have come back for the result meanwhile.
    # A 3.5 s run: on a loaded machine the create, a second client and the cancel took over 1.3 s.
    with (
        running_sim(queue_seconds=0.3, run_seconds=3.5, image_px=32) as slow,
        replica(slow, redis) as a,
        replica(slow, redis) as b,
    ):
        async with connect(a) as on_a:
            handle = await start(on_a)
        async with connect(b) as on_b:
            await cancel_task(on_b.session, handle.task_id)
            [runway_task] = await sim_task_ids(slow)
            ends = slow.finish_time(runway_task)
            assert ends is not None and ends - time.monotonic() > 0.8, "the Runway task ended too soon to tell"
            await anyio.sleep(ends - 0.3 - time.monotonic())
            polled = len(slow.request_log)
            await anyio.sleep(ends + 1.0 - time.monotonic())
            task = await get_task(on_b.session, handle.task_id)
    assert task.status == "cancelled" and task.result is None
    assert len(slow.request_log) == polled


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
async def test_tasks_get_after_a_restart(slow: Simulator, backend: str, tmp_path: Path, request: Any) -> None:
    # The replica that created the task stops mid-wait; the one started after it takes the wait over.
    url = request.getfixturevalue("redis_url") if backend == "redis" else f"sqlite:///{tmp_path / 'state.db'}"
    with replica(slow, url) as first:
        async with connect(first) as c:
            handle = await start(c)
    with replica(slow, url) as second:
        async with connect(second) as c:
            final = await wait_for(c.session, handle)
    assert "SUCCEEDED" in text_of(result_of(final))
    assert creates(slow) == 1


async def test_another_principals_task_does_not_exist(sim: Simulator, redis: str) -> None:
    # A task is visible only to the bearer identity that created it, on every replica; others get -32602
    # exactly as for an id that never existed (working or finished alike: conftest's quick tasks).
    with replica(sim, redis, TOKEN_A) as a, replica(sim, redis, TOKEN_B) as b:
        async with connect(a, TOKEN_A) as owner:
            handle = await start(owner)
        async with connect(b, TOKEN_B) as stranger:
            with pytest.raises(MCPError) as e:
                await get_task(stranger.session, handle.task_id)
            with pytest.raises(MCPError) as unknown:
                await get_task(stranger.session, "never-existed")
        assert e.value.error.code == unknown.value.error.code == -32602
        assert e.value.error.message.replace(handle.task_id, "ID") == unknown.value.error.message.replace(
            "never-existed", "ID"
        )
        async with connect(a, TOKEN_A) as owner:
            assert (await wait_for(owner.session, handle)).status == "completed"


async def test_the_client_half_sends_mcp_name_and_a_mismatch_is_refused(sim: Simulator, redis: str) -> None:
    # SEP-2663: tasks/* carry the taskId in Mcp-Name so a gateway can route without reading the body; a body
    # that disagrees with its header is refused (-32020), as the SDK does for tools/call.
    seen: list[httpx2.Request] = []
    with replica(sim, redis) as url:
        async with connect(url, seen=seen) as c:
            handle = await start(c)
            await get_task(c.session, handle.task_id)
        gets = [r for r in seen if r.headers.get("mcp-method") == "tasks/get"]
        assert gets and all(r.headers.get("mcp-name") == handle.task_id for r in gets)
        answer = _raw_tasks_get(url, handle.task_id, mcp_name="someone-elses-task")
    assert answer["error"]["code"] == -32020


async def test_a_handle_that_cannot_be_recorded_is_never_sent(sim: Simulator, own_redis: RedisServer) -> None:  # noqa: F811
    # "MUST NOT return CreateTaskResult until the task is durably created": with the store down the call goes on
    # and answers synchronously, with the generation's result, as for a client without tasks.
    with replica(sim, own_redis.url) as url:
        own_redis.stop()
        async with connect(url) as c:
            answer = await c.session.call_tool("generate_frames", CAT, allow_claimed=True)
    assert isinstance(answer, CallToolResult) and not answer.is_error
    assert "SUCCEEDED" in text_of(answer)
    assert creates(sim) == 1


def _raw_tasks_get(url: str, task_id: str, *, mcp_name: str) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
    }
    body = {"jsonrpc": "2.0", "id": 7, "method": "tasks/get", "params": {"taskId": task_id, "_meta": meta}}
    headers = {
        "Authorization": f"Bearer {TOKEN_A}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tasks/get",
        "Mcp-Name": mcp_name,
    }
    r = httpx2.post(url, json=body, headers=headers, timeout=10, verify=shared_tls())
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in r.text.splitlines() if line.startswith("data:")]
        return dict(json.loads(data[-1]))
    return dict(r.json())


async def test_stdio_runs_generate_frames_as_a_task(sim: Simulator) -> None:
    # The process that spawned the server is the principal: its own handles resolve, over a real pipe.
    env = clean_env(USEAPI_TOKEN=sim.config.token, USEAPI_BASE_URL=sim.base_url)  # type: ignore[attr-defined]
    params = stdio_server(env)
    async with Client(params, extensions=[TasksClient()]) as c:
        handle = await start(c)
        final = await wait_for(c.session, handle)
        transparent = await c.call_tool("generate_frames", CAT)
    assert "SUCCEEDED" in text_of(result_of(final))
    assert "SUCCEEDED" in text_of(transparent)
    assert creates(sim) == 2

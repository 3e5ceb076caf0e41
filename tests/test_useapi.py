"""The useapi client on its own: parsing what the docs show, the retry rules, and the token's secrecy."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from pydantic import SecretStr

from frames_mcp.useapi.client import UseapiClient, task_path
from frames_mcp.useapi.errors import BadRequestError, BusyError, TransportError, UnauthorizedError, error_for_status
from frames_mcp.useapi.models import FramesRequest, Task
from frames_mcp.useapi.transport import LazyTransport, shared_tls

pytestmark = pytest.mark.anyio

TOKEN = "user:1234-verysecretvalue"
API = "/v1/runwayml"


def test_progress_ratio_as_string_or_number() -> None:
    assert Task.model_validate({"taskId": "t", "progressRatio": "0.42"}).progressRatio == pytest.approx(0.42)
    assert Task.model_validate({"taskId": "t", "progressRatio": 0.5}).progressRatio == 0.5
    assert Task.model_validate({"taskId": "t", "progressRatio": "n/a"}).progressRatio is None


def test_error_as_string_or_object() -> None:
    as_text = Task.model_validate({"taskId": "t", "status": "FAILED", "error": "boom"})
    assert as_text.error is not None and as_text.error.message == "boom"
    as_object = Task.model_validate(
        {"taskId": "t", "status": "FAILED", "error": {"reason": "SAFETY.INPUT.TEXT", "moderation_category": "X"}}
    )
    assert as_object.error is not None and as_object.error.reason == "SAFETY.INPUT.TEXT"


def test_unknown_fields_are_ignored_and_the_task_wrapper_unwrapped() -> None:
    task = Task.model_validate({"task": {"taskId": "t", "status": "running", "newField": 1}})
    assert task.taskId == "t" and task.status == "RUNNING"


def test_both_429_body_shapes() -> None:
    busy = error_for_status(
        429,
        {
            "error": "Account a@b.co is busy executing 5 tasks",
            "runningTasks": {"a@b.co": [{"email": "a@b.co", "taskId": "user:1-runwayml:a@b.co-task:x"}]},
            "code": 429,
        },
    )
    assert isinstance(busy, BusyError) and busy.running_task_ids() == ["user:1-runwayml:a@b.co-task:x"]
    runway = error_for_status(429, {"error": "You have too many tasks running or pending."})
    assert isinstance(runway, BusyError) and runway.running_task_ids() == []


def test_task_path_accepts_only_the_documented_form() -> None:
    good = "user:1234-runwayml:me@example.com-task:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"
    assert task_path(good) == f"/v1/runwayml/tasks/{good}"
    for bad in ("../accounts", good + "/../x", good.replace("task:", "task:../"), good + "?x=1", good + "%2F"):
        with pytest.raises(BadRequestError):
            task_path(bad)


async def test_connection_refused_on_create_is_retried_only_because_nothing_was_sent() -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(200, json={"taskId": "user:1-runwayml:a@b.co-task:x", "status": "PENDING"})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), base_url="http://u") as http:
        client = UseapiClient(http, SecretStr(TOKEN), sleep=_no_sleep)
        task = await client.create_frames(FramesRequest(text_prompt="a"), deadline=float("inf"))
    assert task.taskId.endswith("task:x") and calls == 2


async def test_read_error_after_sending_create_is_never_retried() -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        raise httpx2.ReadError("reset", request=request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), base_url="http://u") as http:
        client = UseapiClient(http, SecretStr(TOKEN), sleep=_no_sleep)
        with pytest.raises(TransportError) as info:
            await client.create_frames(FramesRequest(text_prompt="a"), deadline=float("inf"))
    assert info.value.sent and calls == 1


async def test_token_is_sent_but_never_shown() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["Authorization"])
        return httpx2.Response(401, json={"error": "Unauthorized", "code": 401})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), base_url="http://u") as http:
        client = UseapiClient(http, SecretStr(TOKEN), sleep=_no_sleep)
        with pytest.raises(UnauthorizedError) as info:
            await client.create_frames(FramesRequest(text_prompt="a"))
    assert seen == [f"Bearer {TOKEN}"]
    for shown in (repr(client), repr(client._auth), repr(info.value), str(info.value), info.value.describe()):
        assert "verysecretvalue" not in shown


async def _no_sleep(_: float) -> None:
    return None


async def test_busy_backoff_honours_retry_after_and_cuts_the_documented_wait_to_the_budget() -> None:
    # A 429 is the one create failure worth retrying: Retry-After as given (never cut), else the docs' 10-30 s
    # drawn at random and cut so the retry still fits; no retry at all when it cannot fit.
    async with httpx2.AsyncClient(verify=shared_tls(), base_url="http://u") as http:
        now = [100.0]
        client = UseapiClient(http, SecretStr(TOKEN), clock=lambda: now[0])
        told = BusyError("busy", retry_after=4.0)
        assert 4.0 <= (client.busy_delay(told, until=110.0) or 0) <= 4.4
        assert client.busy_delay(told, until=104.5) is None  # Retry-After does not fit: give up, do not cut it
        silent = BusyError("busy")
        drawn = [client.busy_delay(silent, until=200.0) or 0 for _ in range(50)]
        assert all(10.0 <= d <= 30.0 for d in drawn) and max(drawn) - min(drawn) > 1.0  # jittered
        assert client.busy_delay(silent, until=106.0) == pytest.approx(5.0)  # cut to leave a second for the retry
        assert client.busy_delay(silent, until=101.5) is None  # too short to be worth a retry


IDLE_TIMEOUT = 0.3  # the forgetful server's, standing in for uvicorn's 5 s


@asynccontextmanager
async def forgetful_server(connections: list[int] | None = None) -> AsyncIterator[str]:
    """An HTTP/1.1 server that keeps connections open, but drops one whose next request comes after it was idle
    `IDLE_TIMEOUT`: what a server's idle timeout does to a request sent at the moment it strikes. Each connection
    appends to `connections` once."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connections is not None:
            connections.append(len(connections))
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            for served in itertools.count():
                idle = asyncio.get_running_loop().time()
                head = await reader.readuntil(b"\r\n\r\n")
                if served and asyncio.get_running_loop().time() - idle >= IDLE_TIMEOUT:
                    break
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_post_never_rides_a_connection_left_idle() -> None:
    # A frames/create that fails after being sent cannot be retried (it may have run): 1 call in 240 of the
    # polling benchmark failed so, its create sent on a connection the simulator was closing for idleness. A POST
    # rides neither the reads' pool nor a connection idle longer than a moment (here 0.1 s, under the server's 0.3).
    transport = LazyTransport(post_reuse=0.1)
    async with forgetful_server() as url, httpx2.AsyncClient(base_url=url, transport=transport) as http:
        assert (await http.get(f"{API}/tasks/")).status_code == 200  # leaves a pooled connection
        await asyncio.sleep(IDLE_TIMEOUT + 0.1)
        assert (await http.post(f"{API}/frames/create", json={"text_prompt": "x"})).status_code == 200
        await asyncio.sleep(IDLE_TIMEOUT + 0.1)
        assert (await http.post(f"{API}/frames/create", json={"text_prompt": "y"})).status_code == 200


async def test_back_to_back_posts_share_a_connection() -> None:
    # Creates in a burst (several calls at once) pay one handshake, not one each.
    connections: list[int] = []
    async with (
        forgetful_server(connections) as url,
        httpx2.AsyncClient(base_url=url, transport=LazyTransport()) as http,
    ):
        for prompt in ("x", "y", "z"):
            assert (await http.post(f"{API}/frames/create", json={"text_prompt": prompt})).status_code == 200
    assert len(connections) == 1

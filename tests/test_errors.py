"""Every failure useapi names becomes an isError result the model can act on; no task id is ever lost."""

from __future__ import annotations

import logging
import uuid

import pytest
from mcp import Client
from pydantic import SecretStr

from frames_mcp.jobs.service import Tuning
from frames_mcp.server.app import build_server
from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Fault, Simulator
from frames_mcp.useapi.client import RetryPolicy

from .conftest import BRISK, BRISK_POLLS, connect, creates, settings_for, text_of

pytestmark = pytest.mark.anyio

# The brisk poll schedule, and retries that come as soon as the answer allows: a 5xx read retried after 0.05 s
# (not 0.5 s), a Retry-After honoured down to 0.1 s (not clamped to 2 s). What is retried, and how often, is
# the policy's as it ships; the request timeouts are the real ones.
QUICK_RETRIES = Tuning(schedule=BRISK_POLLS.schedule, retry=RetryPolicy(read_backoff=0.05, retry_after_min=0.1))


SIMULATOR = BRISK  # tasks of 0.1 s: these tests are about how calls end, not how long (conftest's sim)
POLLS = BRISK_POLLS  # the schedule for such tasks (conftest's client)


async def test_wrong_token_is_401_with_what_to_do(sim: Simulator, mode: str) -> None:
    async with Client(build_server(settings_for(sim, token=SecretStr("user:9-wrong"))), mode=mode) as c:  # type: ignore[arg-type]
        r = await c.call_tool("generate_frames", {"text_prompt": "a cat"})
    assert r.is_error
    assert "401" in text_of(r) and "USEAPI_TOKEN" in text_of(r)


async def test_expired_subscription_is_402(sim: Simulator, mode: str) -> None:
    sim.config.expired_tokens.add(sim.config.token)
    async with Client(build_server(settings_for(sim)), mode=mode) as c:  # type: ignore[arg-type]
        r = await c.call_tool("generate_frames", {"text_prompt": "a cat"})
    assert r.is_error and "402" in text_of(r) and "renew" in text_of(r)


async def test_bad_request_from_upstream_is_400(client: Client, sim: Simulator) -> None:
    sim.inject(Fault(kind="status", path="/frames/create", status=400, body={"error": "Unknown account", "code": 400}))
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat"})
    assert r.is_error and "400" in text_of(r) and "Unknown account" in text_of(r)


async def test_out_of_credits_is_412_and_not_retried(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat [no-credits]"})
    assert r.is_error and "412" in text_of(r) and "credits" in text_of(r)
    assert creates(sim) == 1


async def test_moderated_prompt_at_create_is_422(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat [moderate-create]"})
    assert r.is_error and "422" in text_of(r) and "moderation" in text_of(r)
    assert creates(sim) == 1


async def test_unknown_task_is_404(client: Client) -> None:
    task_id = f"user:1-runwayml:demo@frames.local-task:{uuid.uuid4()}"
    r = await client.call_tool("get_task", {"taskId": task_id})
    assert r.is_error and "404" in text_of(r) and task_id in text_of(r)


@pytest.mark.parametrize("status", [500, 502, 503, 596])
async def test_upstream_failure_on_create_is_not_retried(client: Client, sim: Simulator, status: int) -> None:
    # A 5xx on create may have started a task: retrying could pay twice, so the server must not.
    sim.inject(
        Fault(kind="status", path="/frames/create", status=status, body={"error": "upstream broke", "code": status})
    )
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat"})
    assert r.is_error and str(status) in text_of(r)
    assert creates(sim) == 1
    if status == 596:
        assert "re-add the account" in text_of(r)


async def test_busy_429_is_retried_then_succeeds(sim: Simulator, mode: str) -> None:
    # 429 provably did not run, so it is safe to retry; Retry-After shortens the documented 10-30 s wait.
    sim.inject(Fault(kind="status", path="/frames/create", status=429, headers={"Retry-After": "0.2"}, times=2))
    async with connect(sim, mode, QUICK_RETRIES) as client:
        r = await client.call_tool("generate_frames", {"text_prompt": "a cat", "num_images": 1})
    assert not r.is_error, text_of(r)
    assert TaskResult.model_validate(r.structured_content).status == "SUCCEEDED"
    assert creates(sim) == 3


async def test_busy_429_beyond_the_budget_says_nothing_was_charged(client: Client, sim: Simulator) -> None:
    sim.inject(Fault(kind="status", path="/frames/create", status=429, times=5))
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat", "wait_seconds": 2})
    assert r.is_error
    assert "429" in text_of(r) and "busy" in text_of(r).lower()


async def test_upstream_5xx_while_polling_is_retried(sim: Simulator, mode: str) -> None:
    sim.inject(Fault(kind="status", method="GET", path="/tasks/", status=503, times=1))
    async with connect(sim, mode, QUICK_RETRIES) as client:
        r = await client.call_tool("generate_frames", {"text_prompt": "a cat", "num_images": 1})
    assert not r.is_error, text_of(r)
    assert TaskResult.model_validate(r.structured_content).status == "SUCCEEDED"


async def test_failed_task_is_an_error_that_keeps_its_task_id(client: Client) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat [fail]"})
    assert r.is_error
    result = TaskResult.model_validate(r.structured_content)
    assert result.status == "FAILED" and result.error is not None
    assert result.error.reason == "INTERNAL.BAD_OUTPUT.CODE01"
    assert result.taskId in text_of(r) and "INTERNAL.BAD_OUTPUT.CODE01" in text_of(r)


async def test_moderated_task_shows_reason_category_and_message(client: Client) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a cat [moderated]"})
    assert r.is_error
    result = TaskResult.model_validate(r.structured_content)
    assert result.error is not None and result.error.reason == "SAFETY.INPUT.TEXT"
    assert result.error.moderation_category and result.error.message
    text = text_of(r)
    assert "SAFETY.INPUT.TEXT" in text and result.error.moderation_category in text
    assert "do not resend it unchanged" in text


async def test_traversal_task_id_never_reaches_upstream(client: Client, sim: Simulator) -> None:
    for bad in ("../accounts", "user:1-runwayml:a@b.co-task:../../accounts", "user:1-runwayml:a@b.co-task:x?y=1"):
        r = await client.call_tool("get_task", {"taskId": bad})
        assert r.is_error and "taskId" in text_of(r)
    assert sim.request_log == []


async def test_bad_input_is_refused_before_any_request(client: Client, sim: Simulator) -> None:
    for args in (
        {"text_prompt": "x" * 1001},
        {"text_prompt": "a cat", "style": "oil-painting"},
        {"text_prompt": "a cat", "num_images": 2},
        {"text_prompt": "a cat", "diversity": 6},
        {"text_prompt": "a cat", "seed": 0},
        {"text_prompt": "a cat", "replyUrl": "ftp://x"},
        {"text_prompt": "a cat", "wait_seconds": 51},
    ):
        r = await client.call_tool("generate_frames", args)
        assert r.is_error, args
    assert sim.request_log == []


async def test_missing_token_says_how_to_set_it(sim: Simulator, mode: str) -> None:
    async with Client(build_server(settings_for(sim, token=None)), mode=mode) as c:  # type: ignore[arg-type]
        # The server still starts and lists its tools.
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"generate_frames", "get_task", "upload_image", "list_tasks"} <= names
        for name, args in (
            ("generate_frames", {"text_prompt": "a cat"}),
            ("get_task", {"taskId": _any_task_id()}),
            ("describe_image", {"assetId": "user:1-runwayml:demo@frames.local-asset:x"}),
            ("list_tasks", {}),
        ):
            r = await c.call_tool(name, args)
            assert r.is_error and "USEAPI_TOKEN" in text_of(r) and "--demo" in text_of(r)
    assert sim.request_log == []


def _any_task_id() -> str:
    return f"user:1-runwayml:demo@frames.local-task:{uuid.uuid4()}"


async def test_token_never_appears_in_results_or_logs(
    sim: Simulator, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = sim.config.token
    sim.inject(Fault(kind="status", path="/frames/create", status=500, times=1))
    async with connect(sim, mode, BRISK_POLLS) as c:  # the brisk schedule: the failed task is seen sooner
        results = [
            await c.call_tool("generate_frames", {"text_prompt": "a cat"}),
            await c.call_tool("generate_frames", {"text_prompt": "a cat [fail]"}),
            await c.call_tool("generate_frames", {"text_prompt": "a cat [no-credits]"}),
            await c.call_tool("get_task", {"taskId": _any_task_id()}),
        ]
    for r in results:
        assert token not in r.model_dump_json()
    assert token not in caplog.text
    secret_part = token.split("-", 1)[1]
    assert secret_part not in caplog.text

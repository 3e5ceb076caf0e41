"""Recovery of an ambiguous create on an account that already has tasks.

When frames/create fails in a way that may have run, the server looks in the account's own task list for
the task it may have made, and follows it only if it has the same prompt, was created just now, and is not
a task another call already holds. The fault matrix (test_faults.py) always starts on an empty account, so
it never meets these rules; here each rule meets the task it must turn down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from mcp import Client

from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Fault, Simulator
from frames_mcp.useapi.transport import shared_tls

from .conftest import FAST_TUNING, connect, creates, running_sim, sim_task_ids, text_of

pytestmark = pytest.mark.anyio

PROMPT = "a heron at dawn"
HOME, OTHER = "home@frames.local", "other@frames.local"
LOST = Fault(kind="status", method="POST", path="/frames/create", status=503)  # refused before running
LOST_AFTER = Fault(kind="status", method="POST", path="/frames/create", status=503, after=True)  # ran, then 503


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_sim(queue_seconds=0.05, run_seconds=0.15, image_px=32, accounts={HOME: 5, OTHER: 5}) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    async with connect(sim, "auto", FAST_TUNING) as c:
        yield c


async def made_elsewhere(sim: Simulator, prompt: str, email: str = HOME) -> str:
    """A task another client (the Runway web app, another server) created on the account."""
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=sim.base_url) as http:  # type: ignore[attr-defined]
        r = await http.post(
            "/v1/runwayml/frames/create",
            json={"text_prompt": prompt, "num_images": 1, "email": email},
            headers={"Authorization": f"Bearer {sim.config.token}"},
        )
    r.raise_for_status()
    return str(r.json()["taskId"])


def age(sim: Simulator, task_id: str, seconds: float) -> None:
    """Move a simulated task's timestamps (createdAt, updatedAt) `seconds` into the past."""
    sim._tasks[task_id[-36:]].created_wall -= seconds


async def generate(client: Client, **args: object) -> tuple[bool, str, TaskResult | None]:
    r = await client.call_tool(
        "generate_frames", {"text_prompt": PROMPT, "num_images": 1, "email": HOME, "wait_seconds": 5} | args
    )
    structured = None if r.structured_content is None else TaskResult.model_validate(r.structured_content)
    return bool(r.is_error), text_of(r), structured


def assert_not_created(failed: tuple[bool, str, TaskResult | None], decoy: str) -> None:
    is_error, text, structured = failed
    assert is_error and structured is None, text
    assert "most likely not created" in text and "generate_frames again is safe" in text
    assert decoy not in text


async def test_an_old_task_with_the_same_prompt_is_not_taken_for_the_lost_create(
    client: Client, sim: Simulator
) -> None:
    # The account made "a heron at dawn" an hour ago. A create that failed now did not make that task:
    # following it would hand the model old images as new ones.
    old = await made_elsewhere(sim, PROMPT)
    age(sim, old, 3600)
    sim.inject(LOST)
    assert_not_created(await generate(client), old)
    assert creates(sim) == 2


async def test_a_new_task_with_another_prompt_is_not_taken_for_the_lost_create(client: Client, sim: Simulator) -> None:
    # Another client created a task on the account a moment ago, with its own prompt: not ours.
    other = await made_elsewhere(sim, "a lighthouse at night")
    sim.inject(LOST)
    assert_not_created(await generate(client), other)


async def test_a_task_another_call_holds_is_not_taken_for_the_lost_create(client: Client, sim: Simulator) -> None:
    # The model asked twice for the same prompt. The first call's task is this server's already; the second
    # create failed before running, so it has no task, and must not claim the first one's.
    first_error, first_text, first = await generate(client, wait_seconds=0)
    assert not first_error and first is not None, first_text
    sim.inject(LOST)
    assert_not_created(await generate(client), first.taskId)


async def test_a_task_on_another_account_is_not_taken_for_the_lost_create(client: Client, sim: Simulator) -> None:
    # The call named its account: only that account's task list can hold its task, even when another
    # account has just made one with the same prompt.
    elsewhere = await made_elsewhere(sim, PROMPT, email=OTHER)
    sim.inject(LOST)
    assert_not_created(await generate(client), elsewhere)


async def test_among_such_tasks_the_one_the_lost_create_made_is_followed(client: Client, sim: Simulator) -> None:
    # All of the above on one account, and this time the create did run before its answer was lost:
    # the server follows exactly the task it made, to its images, and says how it found it.
    old = await made_elsewhere(sim, PROMPT)
    age(sim, old, 3600)
    await made_elsewhere(sim, "a lighthouse at night")
    await made_elsewhere(sim, PROMPT, email=OTHER)
    _, _, held = await generate(client, wait_seconds=0)
    assert held is not None
    sim.inject(LOST_AFTER)
    is_error, text, result = await generate(client)
    [made, *_] = await sim_task_ids(sim)  # newest first: the task the lost create made
    assert not is_error and result is not None, text
    assert result.taskId == made and result.status == "SUCCEEDED"
    assert "found in the account's task list" in text

"""The durable store as clients see it: tasks that outlive the call, the process and the machine.

Real clients against real servers (in memory, stdio and HTTP subprocesses) on a real SQLite file or a real
Redis server, talking to the simulator over loopback. The backends' own contract is in test_store_backends.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import redis
from mcp import Client

from frames_mcp.jobs.service import Tuning
from frames_mcp.server.results.schemas import TaskListResult, TaskResult
from frames_mcp.simulator import Fault, Simulator
from frames_mcp.store import PendingCreate, open_store
from frames_mcp.useapi.transport import shared_tls

from ._redis import RedisServer
from ._tools import clean_env, entered_together, http_server, http_servers, mcp_over_http, stdio_server
from .conftest import FAST_TUNING, connect, console_script, creates, text_of

pytestmark = pytest.mark.anyio

PROMPT = "a lighthouse keeper's cat watching the storm"


@pytest.fixture(params=["sqlite", "redis"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty durable store: a SQLite file, or a real Redis."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


def listed(result: Any) -> TaskListResult:
    return TaskListResult.model_validate(result.structured_content)


def task_of(result: Any) -> TaskResult:
    return TaskResult.model_validate(result.structured_content)


def server_env(sim: Simulator, store: str, **extra: str) -> dict[str, str]:
    env = {"USEAPI_TOKEN": sim.config.token, "USEAPI_BASE_URL": sim.base_url, "FRAMES_MCP_STORE": store}  # type: ignore[attr-defined]
    return env | {"FRAMES_MCP_WAIT_SECONDS": "20"} | extra


# ---- one server, restarted --------------------------------------------------------------------------------


async def test_a_task_of_an_earlier_run_is_listed_with_its_prompt_and_get_task_finishes_it(
    sim: Simulator, durable: str
) -> None:
    # The restart a client makes all the time: the new server knows the task the old one created.
    async with connect(sim, "auto", FAST_TUNING, store=durable) as first:
        created = task_of(await first.call_tool("generate_frames", {"text_prompt": PROMPT, "wait_seconds": 0}))
    assert created.status in ("PENDING", "RUNNING")
    async with connect(sim, "auto", FAST_TUNING, store=durable) as second:
        tasks = listed(await second.call_tool("list_tasks", {})).tasks
        assert [(t.taskId, t.prompt) for t in tasks] == [(created.taskId, PROMPT)]
        done = task_of(await second.call_tool("get_task", {"taskId": created.taskId, "wait_seconds": 10}))
        assert done.status == "SUCCEEDED" and len(done.artifacts) == 4
        again = listed(await second.call_tool("list_tasks", {"status": "SUCCEEDED"})).tasks
        assert [t.taskId for t in again] == [created.taskId]


async def test_list_tasks_filters_on_the_prompt_text(sim: Simulator, durable: str) -> None:
    async with connect(sim, "auto", FAST_TUNING, store=durable) as c:
        for prompt in ("a red fox in snow", "a blue whale", "Red sky at night"):
            await c.call_tool("generate_frames", {"text_prompt": prompt, "wait_seconds": 0})
        found = listed(await c.call_tool("list_tasks", {"prompt_contains": "RED"})).tasks
    assert [t.prompt for t in found] == ["Red sky at night", "a red fox in snow"]  # newest first


async def test_the_record_keeps_options_artifacts_and_saved_files(sim: Simulator, tmp_path: Path) -> None:
    # What the store promises to keep: the request's options, the artifacts with their assetIds, the files.
    url = f"sqlite://{tmp_path / 'state.db'}"
    out = tmp_path / "out"
    out.mkdir()
    args = {"text_prompt": PROMPT, "aspect_ratio": "1:1", "num_images": 1, "save": True, "preview": False}
    async with connect(sim, "auto", FAST_TUNING, store=url, output_dir=out) as c:
        result = task_of(await c.call_tool("generate_frames", args))
    store = open_store(url)
    try:
        record = await store.records.get_task(result.taskId)
    finally:
        await store.close()
    assert record is not None and record.done and record.status == "SUCCEEDED"
    assert record.options["aspect_ratio"] == "1:1" and record.options["num_images"] == 1
    assert [a.assetId for a in record.artifacts] == [a.assetId for a in result.artifacts] and record.artifacts[
        0
    ].assetId
    assert record.files == [f.path for f in result.files] and len(record.files) == 1


async def test_the_useapi_token_is_never_in_the_store(sim: Simulator, durable: str, tmp_path: Path) -> None:
    # Whatever the store holds (records, pending creates, schema), the token is not in it, on either backend.
    async with connect(sim, "auto", FAST_TUNING, store=durable) as c:
        await c.call_tool("generate_frames", {"text_prompt": PROMPT, "num_images": 1, "wait_seconds": 5})
        await c.call_tool("list_tasks", {})
    everything = _sqlite_bytes(tmp_path) if durable.startswith("sqlite") else _redis_text(durable)
    assert "cat watching the storm" in everything  # what is searched really holds the records
    assert sim.config.token not in everything


def _sqlite_bytes(folder: Path) -> str:
    """The store file with its WAL, as text."""
    return b"".join(p.read_bytes() for p in folder.glob("state.db*")).decode("latin-1")


def _redis_text(url: str) -> str:
    """Every key and value in the Redis, as text."""
    out = []
    with redis.Redis.from_url(url, decode_responses=True) as r:
        for key in r.scan_iter():
            kind = r.type(key)
            value = {
                "string": lambda k: r.get(k),
                "hash": lambda k: r.hgetall(k),
                "zset": lambda k: r.zrange(k, 0, -1, withscores=True),
            }[kind](key)
            out.append(f"{key} {value}")
    return "\n".join(out)


# ---- creates whose outcome was not known -------------------------------------------------------------------

RECHECK = Tuning(**{**FAST_TUNING.__dict__, "recheck_after": 0.0})


async def test_an_unchecked_create_is_resumed_by_the_next_server_on_the_store(sim: Simulator, durable: str) -> None:
    # The create ran but its answer was lost and the task list was down: the call could not tell. The store
    # keeps the question, and the next server on it answers it: the task is listed, with its prompt.
    sim.inject(Fault(kind="status", method="POST", path="/frames/create", status=502, after=True))
    sim.inject(Fault(kind="status", method="GET", path="/v1/runwayml/tasks/", status=503, times=0))
    async with connect(sim, "auto", RECHECK, store=durable) as first:
        r = await first.call_tool("generate_frames", {"text_prompt": PROMPT, "wait_seconds": 2})
    assert r.is_error and "may have been created" in text_of(r)
    sim.clear_faults()
    async with connect(sim, "auto", RECHECK, store=durable) as second:
        tasks = listed(await second.call_tool("list_tasks", {})).tasks
    assert [t.prompt for t in tasks] == [PROMPT]
    assert creates(sim) == 1


async def test_an_unchecked_create_is_resolved_by_a_later_list_tasks(sim: Simulator) -> None:
    # Same question, same server: the result told the model to call list_tasks in a minute, and that call
    # checks again and lists the task. Memory is enough for this (it is one process).
    sim.inject(Fault(kind="status", method="POST", path="/frames/create", status=502, after=True))
    sim.inject(Fault(kind="status", method="GET", path="/v1/runwayml/tasks/", status=503, times=0))
    async with connect(sim, "auto", RECHECK) as c:
        r = await c.call_tool("generate_frames", {"text_prompt": PROMPT, "wait_seconds": 2})
        assert r.is_error and "call list_tasks in a minute" in text_of(r)
        sim.clear_faults()
        tasks = listed(await c.call_tool("list_tasks", {})).tasks
    assert [t.prompt for t in tasks] == [PROMPT]


async def test_a_pending_create_that_did_not_run_is_dropped(sim: Simulator, tmp_path: Path) -> None:
    # A process that died before its create reached useapi: the check finds no such task and forgets it,
    # and nothing is listed.
    url = f"sqlite://{tmp_path / 'state.db'}"
    await _leave_pending(url, sim, "a create that never arrived")
    async with connect(sim, "auto", FAST_TUNING, store=url) as c:
        assert listed(await c.call_tool("list_tasks", {})).tasks == []
    store = open_store(url)
    try:
        assert await store.records.claim_pending(now=time.time() + 3600, hold=1) == []
    finally:
        await store.close()


async def test_a_check_whose_listing_does_not_reach_back_keeps_the_question(sim: Simulator, tmp_path: Path) -> None:
    # The account made 20 tasks since the create was sent (a busy account, a late check): its newest 20 do
    # not reach back, so not finding the task proves nothing. The question stays for a later check.
    url = f"sqlite://{tmp_path / 'state.db'}"
    await _leave_pending(url, sim, "a create that may be further back")
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=sim.base_url) as http:  # type: ignore[attr-defined]
        made = 0
        while made < 20:  # as fast as the account's maxJobs lets them through
            r = await http.post(  # maxJobs 10 (above the account's 5): the 20 go through in two batches
                "/v1/runwayml/frames/create",
                json={"text_prompt": f"someone else's task {made}", "maxJobs": 10},
                headers={"Authorization": f"Bearer {sim.config.token}"},
            )
            if r.status_code == 429:
                await anyio.sleep(0.1)
                continue
            assert r.status_code == 200
            made += 1
    async with connect(sim, "auto", RECHECK, store=url) as c:
        assert listed(await c.call_tool("list_tasks", {})).tasks == []
    store = open_store(url)
    try:
        kept = await store.records.claim_pending(now=time.time() + 60, hold=1)
    finally:
        await store.close()
    assert [p.id for p in kept] == ["left-by-a-dead-process"] and kept[0].checks >= 1  # checked, kept


async def _leave_pending(url: str, sim: Simulator, prompt: str) -> None:
    """What a process killed during a create leaves in the store: the note it wrote before sending."""
    store = open_store(url)
    try:
        await store.records.put_pending(
            PendingCreate(
                id="left-by-a-dead-process",
                upstream=sim.base_url,  # type: ignore[attr-defined]
                account=None,
                prompt=prompt,
                since=time.time() - 5,
                held_until=time.time() - 1,
            )
        )
    finally:
        await store.close()


async def test_a_server_killed_mid_create_leaves_a_check_the_restart_finishes(sim: Simulator, tmp_path: Path) -> None:
    # kill -9 between the create reaching useapi and its answer: the restarted server finds the task. (What
    # the dead process left is written here, and the restarted server runs in this process, as in the two
    # tests above.)
    url = f"sqlite://{tmp_path / 'state.db'}"
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=sim.base_url) as http:  # type: ignore[attr-defined]
        # The create the dead process sent, as useapi ran it.
        r = await http.post(
            "/v1/runwayml/frames/create",
            json={"text_prompt": PROMPT},
            headers={"Authorization": f"Bearer {sim.config.token}"},
        )
        assert r.status_code == 200
    await _leave_pending(url, sim, PROMPT)
    async with connect(sim, "auto", FAST_TUNING, store=url) as c:
        tasks = listed(await c.call_tool("list_tasks", {})).tasks
        assert [t.prompt for t in tasks] == [PROMPT]
        done = task_of(await c.call_tool("get_task", {"taskId": tasks[0].taskId, "wait_seconds": 10}))
    assert done.status == "SUCCEEDED" and creates(sim) == 1


# ---- processes sharing one store --------------------------------------------------------------------------


async def test_a_server_restarted_after_sigkill_lists_and_finishes_its_task(sim: Simulator, tmp_path: Path) -> None:
    # The restart case: created with wait_seconds 0, the server killed with SIGKILL, started again.
    url = f"sqlite://{tmp_path / 'state.db'}"
    with http_server(env=server_env(sim, url)) as server:
        async with mcp_over_http(server) as c:
            created = task_of(await c.call_tool("generate_frames", {"text_prompt": PROMPT, "wait_seconds": 0}))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
    with http_server(env=server_env(sim, url)) as again:
        async with mcp_over_http(again) as c:
            tasks = listed(await c.call_tool("list_tasks", {})).tasks
            assert [(t.taskId, t.prompt) for t in tasks] == [(created.taskId, PROMPT)]
            done = task_of(await c.call_tool("get_task", {"taskId": created.taskId, "wait_seconds": 10}))
    assert done.status == "SUCCEEDED"


async def test_two_stdio_servers_on_one_sqlite_file_see_each_others_tasks(sim: Simulator, tmp_path: Path) -> None:
    # Claude Desktop and Cursor each start their own frames-mcp: one user, one machine, one store.
    url = f"sqlite://{tmp_path / 'state.db'}"
    params = stdio_server(server_env(sim, url))
    async with entered_together(Client(params), Client(params)) as (a, b):  # the two start at once
        made = task_of(await a.call_tool("generate_frames", {"text_prompt": PROMPT, "wait_seconds": 0}))
        seen = listed(await b.call_tool("list_tasks", {})).tasks
        assert [(t.taskId, t.prompt) for t in seen] == [(made.taskId, PROMPT)]
        done = task_of(await b.call_tool("get_task", {"taskId": made.taskId, "wait_seconds": 10}))
        assert done.status == "SUCCEEDED"
        # b's read is in the shared record: a lists the task as finished without polling it itself.
        gets_before = sum(1 for r in sim.request_log if r.method == "GET")
        mine = listed(await a.call_tool("list_tasks", {})).tasks
        assert [(t.status, t.done) for t in mine] == [("SUCCEEDED", True)]
        assert sum(1 for r in sim.request_log if r.method == "GET") == gets_before


async def test_two_replicas_on_one_redis_see_each_others_tasks(sim: Simulator, redis_url: str) -> None:
    # A fleet behind a load balancer: a task created through one replica is listed and finished by another.
    env = server_env(sim, redis_url)
    with http_servers(2, ["--stateless"], env) as (one, two):  # started at once
        async with mcp_over_http(one) as a, mcp_over_http(two) as b:
            made = task_of(await a.call_tool("generate_frames", {"text_prompt": PROMPT, "wait_seconds": 0}))
            seen = listed(await b.call_tool("list_tasks", {})).tasks
            assert [(t.taskId, t.prompt) for t in seen] == [(made.taskId, PROMPT)]
            done = task_of(await b.call_tool("get_task", {"taskId": made.taskId, "wait_seconds": 10}))
            assert done.status == "SUCCEEDED"
            assert [t.status for t in listed(await a.call_tool("list_tasks", {})).tasks] == ["SUCCEEDED"]


# ---- where the state lives ------------------------------------------------------------------------------------


def test_the_default_store_is_a_private_file_in_the_user_state_dir(sim: Simulator, tmp_path: Path) -> None:
    # No setting: SQLite under the platform's user state directory, readable by its owner alone.
    env = server_env(sim, "") | {"XDG_STATE_HOME": str(tmp_path)}
    with http_server(env=env):
        path = tmp_path / "frames-mcp" / "state.db"
        assert path.exists()
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_demo_mode_keeps_nothing_on_disk(tmp_path: Path) -> None:
    # Simulated tasks are not real ones: --demo does not mix them into the user's store.
    with http_server(["--demo"], env={"XDG_STATE_HOME": str(tmp_path)}):
        assert not (tmp_path / "frames-mcp").exists()


# ---- failures ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "says"),
    [
        ("sqlite://relative/state.db", "must be absolute"),
        ("postgres://db.example/frames", "must be memory, sqlite:///ABSOLUTE/PATH or redis://"),
        ("sqlite:///dev/null/state.db", "cannot open the SQLite store"),
        ("redis://127.0.0.1:1/0", "cannot reach the Redis store"),
    ],
)
def test_a_store_that_cannot_be_opened_stops_the_start_with_exit_2(store: str, says: str) -> None:
    # A configuration error, named, before any call is served (not a server that fails every call). In stdio the
    # store opens beside the handshake (test_store_opening): its failure may come after the end of input here.
    proc = subprocess.run(
        [console_script()],
        env=clean_env(FRAMES_MCP_STORE=store, USEAPI_TOKEN="x"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "FRAMES_MCP_STORE" in proc.stderr and says in proc.stderr
    assert proc.stdout == ""


async def test_a_store_that_fails_mid_run_never_costs_a_call_its_result(sim: Simulator, own_redis: RedisServer) -> None:
    # Redis goes away while the server runs: the call still creates, waits and returns its images, with its
    # taskId and a note that the task was not recorded; list_tasks says the records cannot be read.
    async with connect(sim, "auto", FAST_TUNING, store=own_redis.url) as c:
        own_redis.stop()
        r = await c.call_tool("generate_frames", {"text_prompt": PROMPT, "num_images": 1, "wait_seconds": 10})
        result = task_of(r)
        assert not r.is_error and result.status == "SUCCEEDED" and result.taskId
        assert any("could not be recorded" in n for n in result.notes), result.notes
        lists = listed(await c.call_tool("list_tasks", {}))
        assert lists.tasks == [] and lists.storeError
        assert "could not be read" in text_of(await c.call_tool("list_tasks", {}))


async def test_a_store_that_comes_back_is_used_again(sim: Simulator, own_redis: RedisServer) -> None:
    # The failure is not sticky: once Redis answers again (after the short rest), tasks are recorded again.
    tuning = Tuning(**{**FAST_TUNING.__dict__, "store_rest": 0.3})
    async with connect(sim, "auto", tuning, store=own_redis.url) as c:
        own_redis.stop()
        r = await c.call_tool("generate_frames", {"text_prompt": "lost", "num_images": 1, "wait_seconds": 0})
        assert any("could not be recorded" in n for n in task_of(r).notes)
        own_redis.start()
        await anyio.sleep(0.4)  # the ledger leaves a failed store alone for store_rest
        r = await c.call_tool("generate_frames", {"text_prompt": PROMPT, "num_images": 1, "wait_seconds": 0})
        assert not any("could not be recorded" in n for n in task_of(r).notes)
        assert [t.prompt for t in listed(await c.call_tool("list_tasks", {})).tasks] == [PROMPT]


async def test_a_store_that_stops_answering_never_costs_a_call_its_result(
    sim: Simulator, own_redis: RedisServer
) -> None:
    # Redis frozen (SIGSTOP): connections open but nothing answers. Each store operation gives up after its
    # timeout, the ledger then leaves the store alone, and the call still ends with its images and taskId.
    # The timeout is 0.5 s here instead of 2 s, set in the URL (redis-py lets its options override the client's).
    frozen = f"{own_redis.url}?socket_timeout=0.5&socket_connect_timeout=0.5"
    async with connect(sim, "auto", FAST_TUNING, store=frozen) as c:
        assert own_redis.process is not None
        own_redis.process.send_signal(signal.SIGSTOP)
        try:
            r = await c.call_tool("generate_frames", {"text_prompt": PROMPT, "num_images": 1, "wait_seconds": 20})
        finally:
            own_redis.process.send_signal(signal.SIGCONT)
    result = task_of(r)
    assert not r.is_error and result.status == "SUCCEEDED" and result.taskId
    assert any("could not be recorded" in n for n in result.notes), result.notes

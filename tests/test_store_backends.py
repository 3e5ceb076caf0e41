"""The store's records API, the same contract on each backend (memory, SQLite file, a real Redis).

Direct tests of the backends; what a client sees of them (list_tasks after a restart, two processes on one
file, two replicas on one Redis) is in test_store_server.py.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from frames_mcp.store import (
    ArtifactRecord,
    PendingCreate,
    Store,
    StoreError,
    TaskRecord,
    TaskUpdate,
    check_url,
    default_url,
    open_store,
)

from ._tools import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


def record(n: int, prompt: str = "a red fox", **changes: object) -> TaskRecord:
    values: dict[str, object] = {
        "taskId": f"user:1-runwayml:me@example.com-task:{n:04d}",
        "account": "me@example.com",
        "prompt": prompt,
        "options": {"aspect_ratio": "16:9", "diversity": 2},
        "created": 1000.0 + n,
        "status": "PENDING",
        "updated": 1000.0 + n,
    }
    return TaskRecord.model_validate(values | changes)


async def test_a_task_comes_back_as_stored(store: Store) -> None:
    # The record is the one place the task's prompt and options survive: it must round-trip whole.
    r = record(1, artifacts=[ArtifactRecord(index=0, url="https://img.example/0.png", assetId="a:0")])
    await store.records.add_task(r)
    assert await store.records.get_task(r.taskId) == r
    assert await store.records.get_task("user:1-runwayml:me@example.com-task:none") is None


async def test_list_is_newest_first_and_limited(store: Store) -> None:
    for n in (2, 1, 3):
        await store.records.add_task(record(n))
    listed = await store.records.list_tasks(limit=2)
    assert [r.created for r in listed] == [1003.0, 1002.0]


async def test_list_filters_by_status_done_and_prompt_text(store: Store) -> None:
    # The filters list_tasks offers: a status, unfinished only (the refresh), and a piece of the prompt.
    await store.records.add_task(record(1, "A Red Fox in snow", status="SUCCEEDED", done=True))
    await store.records.add_task(record(2, "a blue whale", status="RUNNING"))
    await store.records.add_task(record(3, "red sky at night", status="FAILED", done=True))
    ids = lambda rs: [r.taskId[-1] for r in rs]  # noqa: E731
    assert ids(await store.records.list_tasks(statuses=["succeeded"])) == ["1"]
    assert ids(await store.records.list_tasks(done=False)) == ["2"]
    assert ids(await store.records.list_tasks(text="RED")) == ["3", "1"]
    assert ids(await store.records.list_tasks(text="red", statuses=["FAILED"])) == ["3"]
    assert await store.records.list_tasks(text="100%_") == []


async def test_update_applies_an_observation_and_ignores_unknown_tasks(store: Store) -> None:
    await store.records.add_task(record(1))
    seen = TaskUpdate(status="RUNNING", done=False, progress=0.5, updated=2000.0)
    updated = await store.records.update_task(record(1).taskId, seen)
    assert updated is not None and (updated.status, updated.progress, updated.updated) == ("RUNNING", 0.5, 2000.0)
    assert await store.records.get_task(record(1).taskId) == updated
    assert await store.records.update_task("user:1-runwayml:x@example.com-task:other", seen) is None
    assert await store.records.get_task("user:1-runwayml:x@example.com-task:other") is None


async def test_a_finished_task_never_goes_back_to_running(store: Store) -> None:
    # Several processes poll one task: an older RUNNING poll landing after SUCCEEDED must not undo it.
    await store.records.add_task(record(1))
    done = TaskUpdate(status="SUCCEEDED", done=True, progress=1.0, updated=2001.0, artifacts=[ArtifactRecord(index=0)])
    await store.records.update_task(record(1).taskId, done)
    await store.records.update_task(record(1).taskId, TaskUpdate(status="RUNNING", done=False, updated=2000.0))
    got = await store.records.get_task(record(1).taskId)
    assert got is not None and (got.status, got.done, len(got.artifacts)) == ("SUCCEEDED", True, 1)


async def test_saved_files_accumulate_once_each(store: Store) -> None:
    await store.records.add_task(record(1))
    await store.records.add_files(record(1).taskId, ["/out/a.png", "/out/b.png"])
    await store.records.add_files(record(1).taskId, ["/out/b.png", "/out/c.png"])
    got = await store.records.get_task(record(1).taskId)
    assert got is not None and got.files == ["/out/a.png", "/out/b.png", "/out/c.png"]


def pending(n: int, held_until: float) -> PendingCreate:
    return PendingCreate(id=f"p{n}", account=None, prompt=f"prompt {n}", since=100.0 + n, held_until=held_until)


async def test_claim_hands_out_only_unheld_pending_creates_once(store: Store) -> None:
    # A restart resumes the check of a create its creator no longer holds; two claimers never both get it.
    await store.records.put_pending(pending(1, held_until=50.0))
    await store.records.put_pending(pending(2, held_until=500.0))  # its creator is still checking it
    first = await store.records.claim_pending(now=100.0, hold=30.0)
    assert [(p.id, p.held_until) for p in first] == [("p1", 130.0)]
    assert await store.records.claim_pending(now=101.0, hold=30.0) == []
    later = await store.records.claim_pending(now=600.0, hold=30.0)
    assert [p.id for p in later] == ["p1", "p2"]  # oldest create first


async def test_a_deleted_pending_create_is_not_claimed(store: Store) -> None:
    await store.records.put_pending(pending(1, held_until=0.0))
    await store.records.delete_pending("p1")
    assert await store.records.claim_pending(now=100.0, hold=30.0) == []


async def test_concurrent_claims_split_the_pending_creates(store: Store) -> None:
    # Atomic claim: ten concurrent claimers of five creates get each create exactly once between them.
    for n in range(5):
        await store.records.put_pending(pending(n, held_until=0.0))
    got: list[str] = []

    async def claim() -> None:
        got.extend(p.id for p in await store.records.claim_pending(now=100.0, hold=30.0, limit=1))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(claim)
    assert sorted(got) == [f"p{n}" for n in range(5)]


async def test_keyed_records_put_get_delete(store: Store) -> None:
    await store.records.put_record("mcp-task", "k1", {"state": "working", "n": [1, 2]})
    assert await store.records.get_record("mcp-task", "k1") == {"state": "working", "n": [1, 2]}
    assert await store.records.get_record("other-kind", "k1") is None
    assert await store.records.delete_record("mcp-task", "k1") is True
    assert await store.records.delete_record("mcp-task", "k1") is False
    assert await store.records.get_record("mcp-task", "k1") is None


async def test_keyed_records_expire_after_their_ttl(store: Store) -> None:
    # Issue 12's task handles rely on the TTL: an expired handle must read as unknown.
    await store.records.put_record("mcp-task", "short", {"v": 1}, ttl=0.2)
    await store.records.put_record("mcp-task", "long", {"v": 2}, ttl=60)
    assert await store.records.get_record("mcp-task", "short") == {"v": 1}
    await anyio.sleep(0.35)
    assert await store.records.get_record("mcp-task", "short") is None
    assert await store.records.list_records("mcp-task") == [("long", {"v": 2})]


async def test_list_records_is_newest_first_per_kind(store: Store) -> None:
    for key in ("a", "b", "c"):
        await store.records.put_record("mcp-task", key, {"key": key})
        await anyio.sleep(0.01)
    await store.records.put_record("other", "z", {})
    assert [k for k, _ in await store.records.list_records("mcp-task", limit=2)] == ["c", "b"]


# ---- opening --------------------------------------------------------------------------------------------


async def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    # What a restart relies on: a second open of the same file sees the first one's records.
    url = f"sqlite://{tmp_path / 'state.db'}"
    first = open_store(url)
    await first.records.add_task(record(1))
    await first.records.put_pending(pending(1, held_until=0.0))
    await first.close()
    second = open_store(url)
    try:
        assert await second.records.get_task(record(1).taskId) == record(1)
        assert [p.id for p in await second.records.claim_pending(now=1.0, hold=1.0)] == ["p1"]
    finally:
        await second.close()


async def test_a_sqlite_write_waits_for_another_process_without_stopping_the_event_loop(tmp_path: Path) -> None:
    # Writes run at once on the event loop when the file is free; one that finds another process's write lock
    # waits for it in a worker thread, while every other call of the server goes on.
    path = tmp_path / "state.db"
    store = open_store(f"sqlite://{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process, in the middle of its own transaction
        ticks, written = 0, anyio.Event()

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        async def write() -> None:
            await store.records.add_task(record(1))
            written.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            with anyio.fail_after(5):
                tg.start_soon(write)
                await anyio.sleep(0.3)
                assert ticks >= 10 and not written.is_set()  # the loop went on while the write waited
                other.execute("COMMIT")
                await written.wait()
            assert await store.records.get_task(record(1).taskId) == record(1)
            tg.cancel_scope.cancel()
    finally:
        other.close()
        await store.close()


async def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    # Prompts are the user's own: the file (and its WAL) is readable by its owner alone.
    path = tmp_path / "sub" / "state.db"
    store = open_store(f"sqlite://{path}")
    try:
        await store.records.add_task(record(1))
        for f in (path, path.with_name("state.db-wal")):
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
        assert store.connection.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    finally:
        await store.close()


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    # Downgrading must not silently misread a store a newer frames-mcp migrated.
    url = f"sqlite://{tmp_path / 'state.db'}"
    store = open_store(url)
    store.connection.transact(lambda c: c.execute("UPDATE schema_versions SET version = 99"))
    store.connection.close()
    with pytest.raises(StoreError, match="newer frames-mcp"):
        open_store(url)


def test_two_openers_of_a_new_sqlite_file_at_once_both_open_it(tmp_path: Path) -> None:
    # Two clients spawning their servers at the same moment on a first run: turning the new file to WAL mode at
    # once used to fail one of them ("database is locked") about one time in four. Threads stand in for processes.
    refused: list[StoreError] = []
    for i in range(60):
        url, together = f"sqlite://{tmp_path / f'state{i}.db'}", threading.Barrier(2)

        def open_it(url: str = url, together: threading.Barrier = together) -> None:
            together.wait()
            try:
                open_store(url).connection.close()
            except StoreError as e:
                refused.append(e)

        openers = [threading.Thread(target=open_it) for _ in range(2)]
        for t in openers:
            t.start()
        for t in openers:
            t.join()
    assert not refused, refused[0].message


def test_an_unopenable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        open_store(f"sqlite://{blocker / 'state.db'}")


def test_an_unreachable_redis_is_a_store_error_without_the_password() -> None:
    port = free_port()
    with pytest.raises(StoreError) as caught:
        open_store(f"redis://:hunter2secret@127.0.0.1:{port}/0")
    assert "cannot reach the Redis store" in caught.value.message
    assert "hunter2secret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["sqlite://relative.db", "sqlite:///", "postgres://db/x", "redis://", "", "memory:"],
)
def test_urls_of_other_forms_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        check_url(url)


def test_the_default_is_sqlite_in_the_user_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_url() == f"sqlite://{tmp_path / 'frames-mcp' / 'state.db'}"


async def test_tasks_and_pending_creates_are_kept_apart_by_upstream(store: Store) -> None:
    # A store shared by servers on different useapi base URLs (a simulator, a proxy): each sees only the
    # tasks it can read, and checks only the creates it sent.
    await store.records.add_task(record(1, upstream="https://api.useapi.net"))
    await store.records.add_task(record(2, upstream="http://127.0.0.1:9999"))
    listed = await store.records.list_tasks(upstream="https://api.useapi.net")
    assert [r.taskId[-1] for r in listed] == ["1"]
    await store.records.put_pending(pending(1, 0.0).model_copy(update={"upstream": "https://api.useapi.net"}))
    await store.records.put_pending(pending(2, 0.0).model_copy(update={"upstream": "http://127.0.0.1:9999"}))
    claimed = await store.records.claim_pending(now=10.0, hold=5.0, upstream="http://127.0.0.1:9999")
    assert [p.id for p in claimed] == ["p2"]
    assert [p.id for p in await store.records.claim_pending(now=10.0, hold=5.0)] == ["p1"]


async def test_recording_a_task_can_clear_the_pending_create_it_answers(store: Store) -> None:
    # One write for "the create has its answer": the record appears and the note goes, together.
    await store.records.put_pending(pending(1, held_until=0.0))
    await store.records.add_task(record(1), settles="p1")
    assert await store.records.get_task(record(1).taskId) == record(1)
    assert await store.records.claim_pending(now=100.0, hold=1.0) == []


async def test_a_sqlite_store_of_the_first_schema_is_migrated_and_keeps_its_tasks(tmp_path: Path) -> None:
    # A store written by an earlier frames-mcp (schema 1: no upstream column) opens, migrates, and still
    # serves the tasks it had.
    from frames_mcp.store.sqlite import RECORDS_MIGRATIONS, Database

    path = tmp_path / "state.db"
    old = Database(path)
    old.ensure_schema("records", RECORDS_MIGRATIONS[:1])
    old.transact(
        lambda c: c.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?)",
            (record(1).taskId, 1001.0, "PENDING", 0, "a red fox", record(1).model_dump_json(exclude={"upstream"})),
        )
    )
    old.close()
    store = open_store(f"sqlite://{path}")
    try:
        assert await store.records.get_task(record(1).taskId) == record(1)
        await store.records.add_task(record(2, upstream="https://api.useapi.net"))
        assert [r.taskId for r in await store.records.list_tasks(upstream="https://api.useapi.net")] == [
            record(2).taskId
        ]
        version = store.connection.read(lambda c: c.execute("SELECT version FROM schema_versions").fetchone()[0])
        assert version == len(RECORDS_MIGRATIONS) == 2
    finally:
        await store.close()


async def test_a_redis_store_of_the_first_layout_is_migrated_and_keeps_its_tasks(redis_url: str) -> None:
    # Layout 1 kept a task as one JSON string; opening turns it into the hash the records now read.
    import redis as redis_sync

    with redis_sync.Redis.from_url(redis_url) as r:
        r.hset("frames-mcp:schema", "records", 1)
        r.set(f"frames-mcp:task:{record(1).taskId}", record(1).model_dump_json())
        r.zadd("frames-mcp:tasks", {record(1).taskId: 1001.0})
    store = open_store(redis_url)
    try:
        assert await store.records.get_task(record(1).taskId) == record(1)
        assert [r.taskId for r in await store.records.list_tasks()] == [record(1).taskId]
    finally:
        await store.close()

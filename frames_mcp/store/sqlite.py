"""The SQLite backend, the default: one file per user and machine that every stdio process shares with no
setup. WAL mode (readers never wait for the writer), short transactions that never wait on the event loop (run
there when the file is free, in a worker thread when another process holds it), the file created 0600, and a
schema version per component with forward-only migrations."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from frames_mcp.store.base import Store, StoreError
from frames_mcp.store.records import JsonObject, PendingCreate, TaskRecord, TaskUpdate, merge_files

T = TypeVar("T")
BUSY_TIMEOUT = 5.0  # seconds a write waits for another process's transaction before failing
# Writes between checkpoints (each a few pages): the WAL stays under the 1000 pages at which SQLite would
# checkpoint in the middle of a write, which now runs on the event loop.
CHECKPOINT_EVERY = 100

# Forward-only: entry i takes the component from version i to i + 1. Never edit a shipped entry; append.
RECORDS_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        status TEXT NOT NULL,
        done INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX tasks_by_created ON tasks (created DESC);
    CREATE TABLE pending_creates (
        id TEXT PRIMARY KEY,
        held_until REAL NOT NULL,
        since REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE keyed_records (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        expires REAL,
        stored REAL NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    # 2: which useapi base URL a task or a pending create belongs to.
    """
    ALTER TABLE tasks ADD COLUMN upstream TEXT NOT NULL DEFAULT '';
    ALTER TABLE pending_creates ADD COLUMN upstream TEXT NOT NULL DEFAULT '';
    """,
)


class Database:
    """One connection to the store file, used one transaction at a time: on the event loop without a busy
    timeout when the file is free (`run`), else in a worker thread with it (`transact`, `read`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create the file 0600 before SQLite does (it would use the umask); its -wal and -shm files
            # take the database file's permissions.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
            self._conn.create_function("casefold", 1, _casefold, deterministic=True)
            _wal(self._conn)
            self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INT)")
            self._conn.execute("PRAGMA busy_timeout = 0")  # from here on, only `_patient` waits (see `run`)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the SQLite store {path}: {e}") from None
        self._lock = threading.Lock()
        self._writes = 0

    def ensure_schema(self, component: str, migrations: Sequence[str]) -> None:
        """Bring `component`'s tables to the newest version; refuses a store written by a newer frames-mcp."""

        def migrate(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
            version = 0 if row is None else int(row[0])
            if version > len(migrations):
                raise StoreError(
                    f"the store {self.path} was written by a newer frames-mcp ({component} schema version {version},"
                    f" this one knows {len(migrations)}): upgrade frames-mcp or point FRAMES_MCP_STORE elsewhere"
                )
            for step in migrations[version:]:
                for statement in (s for s in step.split(";") if s.strip()):
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_versions VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = ?",
                (component, len(migrations), len(migrations)),
            )

        sql = "SELECT version FROM schema_versions WHERE component = ?"
        row = self.read(lambda c: c.execute(sql, (component,)).fetchone())
        if row is not None and int(row[0]) == len(migrations):
            return  # the usual start: nothing to migrate, so no write transaction either
        self.transact(migrate)  # checks again under the write lock: another process may be migrating too

    def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so two
        processes' read-modify-write never interleave)."""
        with self._lock:
            try:
                with self._patient() as conn:
                    conn.execute("BEGIN IMMEDIATE")
                    return _commit(conn, fn)
            except sqlite3.Error as e:
                raise StoreError(f"the SQLite store {self.path} failed: {e}") from None

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                with self._patient() as conn:
                    return fn(conn)
            except sqlite3.Error as e:
                raise StoreError(f"the SQLite store {self.path} failed: {e}") from None

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """`transact` (or `read`) on the event loop when the file is free: a short transaction takes tens of
        microseconds, a hop to a worker thread several times that, and a generation makes five. When another
        process holds the write lock (or this connection is in use), in a worker thread with the busy timeout,
        so a busy file never blocks the event loop."""
        done = self._at_once(fn, write)
        if done is None:
            done = (await anyio.to_thread.run_sync(self.transact if write else self.read, fn),)
        if write:
            self._writes += 1
            if self._writes % CHECKPOINT_EVERY == 0:
                await anyio.to_thread.run_sync(self._checkpoint)
        return done[0]

    def _at_once(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> tuple[T] | None:
        """`fn`'s result if it ran here and now without waiting; None when the file or the connection was busy
        (then nothing of it ran, or, for a read, nothing it did counts)."""
        if not self._lock.acquire(blocking=False):
            return None
        conn = self._conn
        try:
            try:
                return self._now(conn, fn, write)
            finally:
                if conn.in_transaction:  # a failed COMMIT
                    conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise StoreError(f"the SQLite store {self.path} failed: {e}") from None
        finally:
            self._lock.release()

    @staticmethod
    def _now(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], write: bool) -> tuple[T] | None:
        try:
            if not write:
                return (fn(conn),)
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if _busy(e):
                return None  # a read is run again in the worker thread; a write has not begun
            raise
        return (_commit(conn, fn),)

    @contextlib.contextmanager
    def _patient(self) -> Iterator[sqlite3.Connection]:
        """The connection with the busy timeout, for a transaction that may wait on another process (the
        connection has none otherwise, so a transaction on the event loop never waits). Under `_lock`."""
        self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        try:
            yield self._conn
        finally:
            self._conn.execute("PRAGMA busy_timeout = 0")

    def _checkpoint(self) -> None:
        """Copy the WAL back into the file now, in a worker thread: otherwise the write that makes it long does it,
        on the event loop. A failure is left to the next one (SQLite's own, at 1000 pages, is the safety net)."""
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqliteRecords:
    def __init__(self, db: Database, *, wall: Callable[[], float] = time.time) -> None:
        self._db = db
        self._wall = wall

    # ---- tasks ---------------------------------------------------------------------------------------

    async def add_task(self, record: TaskRecord, settles: str | None = None) -> None:
        def add(c: sqlite3.Connection) -> None:
            _put_task(c, record)
            if settles is not None:
                c.execute("DELETE FROM pending_creates WHERE id = ?", (settles,))

        await self._db.run(add)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await self._db.run(lambda c: _get_task(c, task_id), write=False)

    async def update_task(self, task_id: str, update: TaskUpdate) -> TaskRecord | None:
        def change(c: sqlite3.Connection) -> TaskRecord | None:
            found = _get_task(c, task_id)
            if found is None:
                return None
            merged = update.apply(found)
            _put_task(c, merged)
            return merged

        return await self._db.run(change)

    async def add_files(self, task_id: str, paths: Sequence[str]) -> None:
        def change(c: sqlite3.Connection) -> None:
            found = _get_task(c, task_id)
            if found is not None:
                found.files = merge_files(found.files, paths)
                _put_task(c, found)

        await self._db.run(change)

    async def list_tasks(
        self,
        *,
        statuses: Sequence[str] | None = None,
        done: bool | None = None,
        text: str | None = None,
        upstream: str | None = None,
        limit: int = 20,
    ) -> list[TaskRecord]:
        where, args = ["1"], list[object]()
        if statuses is not None:
            wanted = sorted({s.upper() for s in statuses})
            where.append(f"status IN ({','.join('?' * len(wanted))})" if wanted else "0")
            args += wanted
        if done is not None:
            where.append("done = ?")
            args.append(int(done))
        if text is not None:
            where.append("instr(casefold(prompt), ?) > 0")
            args.append(text.casefold())
        if upstream is not None:
            where.append("upstream = ?")
            args.append(upstream)
        sql = f"SELECT data FROM tasks WHERE {' AND '.join(where)} ORDER BY created DESC, rowid DESC LIMIT ?"  # noqa: S608 (fixed text; values are parameters)
        args.append(limit)
        rows = await self._db.run(lambda c: c.execute(sql, args).fetchall(), write=False)
        return [TaskRecord.model_validate_json(row[0]) for row in rows]

    # ---- pending creates -----------------------------------------------------------------------------

    async def put_pending(self, pending: PendingCreate) -> None:
        row = (pending.id, pending.held_until, pending.since, pending.upstream, pending.model_dump_json())
        await self._db.run(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO pending_creates (id, held_until, since, upstream, data) VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )

    async def delete_pending(self, pending_id: str) -> None:
        await self._db.run(lambda c: c.execute("DELETE FROM pending_creates WHERE id = ?", (pending_id,)))

    async def claim_pending(
        self, now: float, hold: float, limit: int = 20, upstream: str | None = None
    ) -> list[PendingCreate]:
        def claim(c: sqlite3.Connection) -> list[PendingCreate]:
            rows = c.execute(
                "SELECT data FROM pending_creates WHERE held_until <= ? AND (? IS NULL OR upstream = ?) "
                "ORDER BY since LIMIT ?",
                (now, upstream, upstream, limit),
            ).fetchall()
            claimed = [
                PendingCreate.model_validate_json(r[0]).model_copy(update={"held_until": now + hold}) for r in rows
            ]
            c.executemany(
                "UPDATE pending_creates SET held_until = ?, data = ? WHERE id = ?",
                [(p.held_until, p.model_dump_json(), p.id) for p in claimed],
            )
            return claimed

        return await self._db.run(claim)

    # ---- keyed records with a lifetime ---------------------------------------------------------------

    async def put_record(self, kind: str, key: str, value: JsonObject, ttl: float | None = None) -> None:
        now = self._wall()
        row = (kind, key, None if ttl is None else now + ttl, now, json.dumps(value))

        def put(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM keyed_records WHERE expires <= ?", (now,))
            c.execute(
                "INSERT OR REPLACE INTO keyed_records (kind, key, expires, stored, data) VALUES (?, ?, ?, ?, ?)", row
            )

        await self._db.run(put)

    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        sql = "SELECT data FROM keyed_records WHERE kind = ? AND key = ? AND (expires IS NULL OR expires > ?)"
        row = await self._db.run(lambda c: c.execute(sql, (kind, key, self._wall())).fetchone(), write=False)
        return None if row is None else _object(row[0])

    async def delete_record(self, kind: str, key: str) -> bool:
        now = self._wall()

        def delete(c: sqlite3.Connection) -> bool:
            row = c.execute("DELETE FROM keyed_records WHERE kind = ? AND key = ? RETURNING expires", (kind, key))
            expires = [r[0] for r in row.fetchall()]
            return any(e is None or e > now for e in expires)

        return await self._db.run(delete)

    async def list_records(self, kind: str, limit: int = 100) -> list[tuple[str, JsonObject]]:
        sql = (
            "SELECT key, data FROM keyed_records WHERE kind = ? AND (expires IS NULL OR expires > ?) "
            "ORDER BY stored DESC, rowid DESC LIMIT ?"
        )
        rows = await self._db.run(lambda c: c.execute(sql, (kind, self._wall(), limit)).fetchall(), write=False)
        return [(str(k), _object(v)) for k, v in rows]


def _commit(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn` inside the write transaction just begun: committed, or rolled back if it raises."""
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _busy(e: sqlite3.OperationalError) -> bool:
    return e.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _wal(conn: sqlite3.Connection) -> None:
    """WAL mode. Two processes turning a new file to WAL at once can get "database is locked" at once: SQLite
    skips the busy timeout where waiting could deadlock. So it is tried again, for as long as the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if not _busy(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def open_sqlite(path: Path) -> Store:
    db = Database(path)
    try:
        db.ensure_schema("records", RECORDS_MIGRATIONS)
    except StoreError:
        db.close()
        raise

    async def close() -> None:
        db.close()

    return Store("sqlite", str(path), SqliteRecords(db), connection=db, closer=close)


def _put_task(c: sqlite3.Connection, r: TaskRecord) -> None:
    c.execute(
        "INSERT INTO tasks (task_id, created, status, done, prompt, upstream, data) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (task_id) DO UPDATE SET "
        "created = excluded.created, status = excluded.status, done = excluded.done, prompt = excluded.prompt, "
        "upstream = excluded.upstream, data = excluded.data",
        (r.taskId, r.created, r.status, int(r.done), r.prompt, r.upstream, r.model_dump_json()),
    )


def _get_task(c: sqlite3.Connection, task_id: str) -> TaskRecord | None:
    row = c.execute("SELECT data FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else TaskRecord.model_validate_json(row[0])


def _object(text: str) -> JsonObject:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _casefold(value: object) -> str | None:
    return value.casefold() if isinstance(value, str) else None

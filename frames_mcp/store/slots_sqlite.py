"""The admission line in a SQLite file, shared by every process of one machine that opens it.

Each operation is one short `BEGIN IMMEDIATE` transaction (SQLite serialises writers across processes;
the busy timeout makes a writer wait its turn) run in a worker thread, one at a time per process. Every
transaction that reads the line first sweeps the tickets and slots of owners whose lease has ended.
The tables are transient leases, so a change of their shape drops and recreates them (`SCHEMA`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio

from frames_mcp.store.slots import DEFAULT_LEASE, WATCH_EVERY, SlotsError, Standing, Versioned, new_owner

T = TypeVar("T")
SCHEMA = 1
_TABLES = ("slot_owners", "slot_line", "slot_held", "slot_version")
_CREATE = """
CREATE TABLE IF NOT EXISTS slot_owners (owner TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS slot_line (
    ticket INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, owner TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS slot_line_account ON slot_line (account, ticket);
CREATE TABLE IF NOT EXISTS slot_held (
    slot INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, owner TEXT NOT NULL,
    task_id TEXT, check_at REAL);
CREATE INDEX IF NOT EXISTS slot_held_account ON slot_held (account);
CREATE INDEX IF NOT EXISTS slot_held_task ON slot_held (task_id);
CREATE TABLE IF NOT EXISTS slot_version (
    id INTEGER PRIMARY KEY CHECK (id = 0), schema INTEGER NOT NULL, version INTEGER NOT NULL);
"""


class SqliteSlots:
    def __init__(
        self,
        path: str | Path,
        *,
        lease: float = DEFAULT_LEASE,
        watch_every: float = WATCH_EVERY,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.lease = lease
        self.owner = new_owner()
        self._wall = wall
        self._lock = anyio.Lock()
        try:
            self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._tx(_create)
        except sqlite3.Error as e:
            raise SlotsError(f"could not open the admission tables in {path}: {e}") from None
        self._watch = Versioned(self._read_version, watch_every)

    # ---- plumbing --------------------------------------------------------------------------------------

    def _tx(self, body: Callable[[sqlite3.Cursor], T]) -> T:
        cur = self._db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            result = body(cur)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return result

    async def _run(self, body: Callable[[sqlite3.Cursor], T]) -> T:
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(self._tx, body)
            except sqlite3.Error as e:
                raise SlotsError(f"the admission line in SQLite failed: {e}") from None

    def _bump(self, cur: sqlite3.Cursor) -> int:
        (version,) = cur.execute("UPDATE slot_version SET version = version + 1 RETURNING version").fetchone()
        return int(version)

    def _touch(self, cur: sqlite3.Cursor, now: float) -> None:
        cur.execute(
            "INSERT INTO slot_owners VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET expires = excluded.expires",
            (self.owner, now + self.lease),
        )

    def _sweep(self, cur: sqlite3.Cursor, now: float) -> None:
        """Drop the tickets and slots of owners whose lease ended (a process that died)."""
        dead = [row[0] for row in cur.execute("SELECT owner FROM slot_owners WHERE expires < ?", (now,))]
        if not dead:
            return
        marks = ",".join("?" * len(dead))
        cur.execute(f"DELETE FROM slot_line WHERE owner IN ({marks})", dead)  # noqa: S608 (placeholders only)
        cur.execute(f"DELETE FROM slot_held WHERE owner IN ({marks})", dead)  # noqa: S608
        cur.execute(f"DELETE FROM slot_owners WHERE owner IN ({marks})", dead)  # noqa: S608
        self._bump(cur)

    def _version(self, cur: sqlite3.Cursor) -> int:
        return int(cur.execute("SELECT version FROM slot_version").fetchone()[0])

    async def _read_version(self) -> int:
        return await self._run(self._version)

    async def _change(self, body: Callable[[sqlite3.Cursor], bool]) -> None:
        """Run a change; when it changed something, bump the version and wake this process's waiters."""

        def tx(cur: sqlite3.Cursor) -> int | None:
            return self._bump(cur) if body(cur) else None

        version = await self._run(tx)
        if version is not None:
            self._watch.bump(version)

    # ---- the line ----------------------------------------------------------------------------------------

    async def join(self, account: str) -> str:
        def tx(cur: sqlite3.Cursor) -> tuple[str, int]:
            self._touch(cur, self._wall())
            cur.execute("INSERT INTO slot_line (account, owner) VALUES (?, ?)", (account, self.owner))
            return str(cur.lastrowid), self._bump(cur)

        ticket, version = await self._run(tx)
        self._watch.bump(version)
        return ticket

    async def take(self, account: str, ticket: str, limit: int) -> Standing:
        def tx(cur: sqlite3.Cursor) -> Standing:
            now = self._wall()
            self._sweep(cur, now)
            (held,) = cur.execute("SELECT COUNT(*) FROM slot_held WHERE account = ?", (account,)).fetchone()
            if cur.execute("SELECT 1 FROM slot_line WHERE ticket = ?", (int(ticket),)).fetchone() is None:
                return Standing(None, 0, held, False, None, self._version(cur))
            (ahead,) = cur.execute(
                "SELECT COUNT(*) FROM slot_line WHERE account = ? AND ticket < ?", (account, int(ticket))
            ).fetchone()
            if ahead < limit - held:
                cur.execute("DELETE FROM slot_line WHERE ticket = ?", (int(ticket),))
                cur.execute("INSERT INTO slot_held (account, owner) VALUES (?, ?)", (account, self.owner))
                slot = str(cur.lastrowid)
                self._touch(cur, now)
                return Standing(slot, 0, held + 1, True, None, self._bump(cur))
            (check,) = cur.execute("SELECT MIN(check_at) FROM slot_held WHERE account = ?", (account,)).fetchone()
            return Standing(None, ahead, held, True, check, self._version(cur))

        standing = await self._run(tx)
        self._watch.bump(standing.version)
        return standing

    async def leave(self, account: str, ticket: str) -> None:
        await self._change(
            lambda cur: cur.execute("DELETE FROM slot_line WHERE ticket = ?", (int(ticket),)).rowcount > 0
        )

    async def bind(self, account: str, slot: str, task_id: str) -> None:
        await self._run(
            lambda cur: cur.execute("UPDATE slot_held SET task_id = ? WHERE slot = ?", (task_id, int(slot)))
        )

    async def abandon(self, account: str, slot: str, check_at: float) -> None:
        await self._change(
            lambda cur: (
                cur.execute("UPDATE slot_held SET check_at = ? WHERE slot = ?", (check_at, int(slot))).rowcount > 0
            )
        )

    async def release(self, account: str, slot: str) -> None:
        await self._change(lambda cur: cur.execute("DELETE FROM slot_held WHERE slot = ?", (int(slot),)).rowcount > 0)

    async def finished(self, task_id: str) -> bool:
        found = False

        def body(cur: sqlite3.Cursor) -> bool:
            nonlocal found
            found = cur.execute("DELETE FROM slot_held WHERE task_id = ?", (task_id,)).rowcount > 0
            return found

        await self._change(body)
        return found

    async def due(self, account: str, now: float, later: float) -> list[str]:
        def tx(cur: sqlite3.Cursor) -> list[str]:
            rows = cur.execute(
                "UPDATE slot_held SET check_at = ? WHERE account = ? AND check_at <= ? AND task_id IS NOT NULL "
                "RETURNING task_id",
                (later, account, now),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._run(tx)

    async def counts(self, account: str) -> tuple[int, int]:
        def tx(cur: sqlite3.Cursor) -> tuple[int, int]:
            self._sweep(cur, self._wall())
            (held,) = cur.execute("SELECT COUNT(*) FROM slot_held WHERE account = ?", (account,)).fetchone()
            (waiting,) = cur.execute("SELECT COUNT(*) FROM slot_line WHERE account = ?", (account,)).fetchone()
            return int(held), int(waiting)

        return await self._run(tx)

    async def renew(self) -> None:
        await self._run(lambda cur: self._touch(cur, self._wall()))

    async def wait(self, version: int, within: float) -> None:
        await self._watch.wait(version, within)

    async def aclose(self) -> None:
        async with self._lock:
            self._db.close()


def _create(cur: sqlite3.Cursor) -> None:
    exists = cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'slot_version'").fetchone()
    if exists and cur.execute("SELECT schema FROM slot_version").fetchone() != (SCHEMA,):
        for table in _TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in _CREATE.split(";"):
        if statement.strip():
            cur.execute(statement)
    cur.execute("INSERT OR IGNORE INTO slot_version VALUES (0, ?, 0)", (SCHEMA,))

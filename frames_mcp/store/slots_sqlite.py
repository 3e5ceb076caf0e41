"""The admission line in the SQLite store, shared by every process of one machine that opens the file.

Each operation is one short `BEGIN IMMEDIATE` transaction on the store's own connection (sqlite.Database:
SQLite serialises writers across processes; the busy timeout makes a writer wait its turn), run in a worker
thread. Every transaction that reads the line first sweeps the tickets and slots of owners whose lease ended.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from frames_mcp.store.slots import DEFAULT_LEASE, WATCH_EVERY, Standing, Versioned, new_id
from frames_mcp.store.sqlite import Database

T = TypeVar("T")

# Forward-only, like the records' migrations: entry i takes the slots tables from version i to i + 1.
SLOTS_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE slot_owners (owner TEXT PRIMARY KEY, expires REAL NOT NULL);
    CREATE TABLE slot_line (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, ticket TEXT NOT NULL UNIQUE, account TEXT NOT NULL,
        owner TEXT NOT NULL
    );
    CREATE INDEX slot_line_account ON slot_line (account, seq);
    CREATE TABLE slot_held (
        slot TEXT PRIMARY KEY, account TEXT NOT NULL, owner TEXT NOT NULL, task_id TEXT, check_at REAL
    );
    CREATE INDEX slot_held_account ON slot_held (account);
    CREATE INDEX slot_held_task ON slot_held (task_id);
    CREATE TABLE slot_version (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);
    INSERT INTO slot_version VALUES (0, 0);
    """,
)
Conn = sqlite3.Connection


class SqliteSlots:
    def __init__(
        self,
        db: Database,
        *,
        lease: float = DEFAULT_LEASE,
        watch_every: float = WATCH_EVERY,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.lease = lease
        self.owner = new_id()
        self._db = db
        self._wall = wall
        db.ensure_schema("slots", SLOTS_MIGRATIONS)
        self._watch = Versioned(self._read_version, watch_every)

    # ---- plumbing --------------------------------------------------------------------------------------

    async def _run(self, body: Callable[[Conn], T]) -> T:
        return await self._db.run(body)

    def _bump(self, c: Conn, by: int = 1) -> int:
        (version,) = c.execute("UPDATE slot_version SET version = version + ? RETURNING version", (by,)).fetchone()
        return int(version)

    def _touch(self, c: Conn, now: float) -> None:
        c.execute(
            "INSERT INTO slot_owners VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET expires = excluded.expires",
            (self.owner, now + self.lease),
        )

    def _sweep(self, c: Conn, now: float) -> None:
        """Drop the tickets and slots of owners whose lease ended (a process that died)."""
        dead = [row[0] for row in c.execute("SELECT owner FROM slot_owners WHERE expires < ?", (now,))]
        if not dead:
            return
        marks = ",".join("?" * len(dead))
        gone = c.execute(f"DELETE FROM slot_line WHERE owner IN ({marks})", dead).rowcount  # noqa: S608
        gone += c.execute(f"DELETE FROM slot_held WHERE owner IN ({marks})", dead).rowcount  # noqa: S608
        c.execute(f"DELETE FROM slot_owners WHERE owner IN ({marks})", dead)  # noqa: S608 (placeholders only)
        self._bump(c, max(1, gone))  # one step per place or slot gone (see Standing.version)

    def _version(self, c: Conn) -> int:
        return int(c.execute("SELECT version FROM slot_version").fetchone()[0])

    async def _read_version(self) -> int:
        return await self._db.run(self._version, write=False)

    async def _change(self, body: Callable[[Conn], bool]) -> None:
        """Run a change; when it changed something, bump the version and wake this process's waiters."""

        def tx(c: Conn) -> int | None:
            return self._bump(c) if body(c) else None

        version = await self._run(tx)
        if version is not None:
            self._watch.bump(version)

    # ---- the line ----------------------------------------------------------------------------------------

    def _join(self, c: Conn, account: str, ticket: str) -> None:
        self._touch(c, self._wall())
        c.execute("INSERT INTO slot_line (ticket, account, owner) VALUES (?, ?, ?)", (ticket, account, self.owner))
        # no version bump: a place at the end of the line changes nobody's standing

    async def join(self, account: str, ticket: str) -> None:
        await self._run(lambda c: self._join(c, account, ticket))

    async def take(self, account: str, ticket: str, limit: int, slot: str, *, join: bool = False) -> Standing:
        def tx(c: Conn) -> Standing:
            now = self._wall()
            if join:
                self._join(c, account, ticket)
            self._sweep(c, now)
            (held,) = c.execute("SELECT COUNT(*) FROM slot_held WHERE account = ?", (account,)).fetchone()
            mine = c.execute("SELECT seq FROM slot_line WHERE ticket = ?", (ticket,)).fetchone()
            if mine is None:
                return Standing(None, 0, held, False, None, self._version(c))
            (ahead,) = c.execute(
                "SELECT COUNT(*) FROM slot_line WHERE account = ? AND seq < ?", (account, mine[0])
            ).fetchone()
            if ahead < limit - held:
                c.execute("DELETE FROM slot_line WHERE ticket = ?", (ticket,))
                c.execute("INSERT INTO slot_held (slot, account, owner) VALUES (?, ?, ?)", (slot, account, self.owner))
                self._touch(c, now)
                return Standing(slot, 0, held + 1, True, None, self._bump(c))
            (check,) = c.execute("SELECT MIN(check_at) FROM slot_held WHERE account = ?", (account,)).fetchone()
            (lapse,) = c.execute("SELECT MIN(expires) FROM slot_owners WHERE owner != ?", (self.owner,)).fetchone()
            lapse_in = None if lapse is None else max(0.0, lapse - now)
            return Standing(None, ahead, held, True, check, self._version(c), lapse_in)

        standing = await self._run(tx)
        self._watch.bump(standing.version)
        return standing

    async def leave(self, account: str, ticket: str) -> None:
        await self._change(lambda c: c.execute("DELETE FROM slot_line WHERE ticket = ?", (ticket,)).rowcount > 0)

    async def abandon(self, account: str, slot: str, task_id: str, check_at: float) -> None:
        sql = "UPDATE slot_held SET task_id = ?, check_at = ? WHERE slot = ?"
        await self._change(lambda c: c.execute(sql, (task_id, check_at, slot)).rowcount > 0)

    async def release(self, account: str, slot: str) -> None:
        await self._change(lambda c: c.execute("DELETE FROM slot_held WHERE slot = ?", (slot,)).rowcount > 0)

    async def finished(self, task_id: str) -> bool:
        found = False

        def body(c: Conn) -> bool:
            nonlocal found
            found = c.execute("DELETE FROM slot_held WHERE task_id = ?", (task_id,)).rowcount > 0
            return found

        await self._change(body)
        return found

    async def due(self, account: str, now: float, later: float) -> list[str]:
        def tx(c: Conn) -> list[str]:
            rows = c.execute(
                "UPDATE slot_held SET check_at = ? WHERE account = ? AND check_at <= ? AND task_id IS NOT NULL "
                "RETURNING task_id",
                (later, account, now),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._run(tx)

    async def counts(self, account: str) -> tuple[int, int]:
        def tx(c: Conn) -> tuple[int, int]:
            self._sweep(c, self._wall())
            (held,) = c.execute("SELECT COUNT(*) FROM slot_held WHERE account = ?", (account,)).fetchone()
            (waiting,) = c.execute("SELECT COUNT(*) FROM slot_line WHERE account = ?", (account,)).fetchone()
            return int(held), int(waiting)

        return await self._run(tx)

    async def renew(self) -> None:
        await self._run(lambda c: self._touch(c, self._wall()))

    async def wait(self, version: int, within: float) -> None:
        await self._watch.wait(version, within)

    async def aclose(self) -> None:
        """The connection is the store's: it closes it."""

"""The Redis backend, for a fleet: every replica pointed at one Redis shares the task records (and, through
the slots half, the admission line). redis-py's asyncio client; every operation is bounded by a socket
timeout, so a Redis that stops answering fails a call's bookkeeping instead of hanging it.

Keys (all under KEY_PREFIX): task:<taskId> (a hash: each field of the record, JSON-encoded, so an observation
is one atomic script call), tasks (sorted set taskId -> created), pending:<id> (JSON), pending (sorted set id ->
held_until), rec:<kind>:<key> (JSON with a TTL), recs:<kind> (sorted set key -> stored), schema (hash component
-> version)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis as redis_sync
import redis.asyncio as redis_async
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError, WatchError
from redis.retry import Retry as SyncRetry

from frames_mcp.store.base import Store, StoreError
from frames_mcp.store.records import JsonObject, PendingCreate, TaskRecord, TaskUpdate, matches, merge_files

KEY_PREFIX = "frames-mcp:"
TIMEOUT = 2.0  # seconds for one Redis round trip, connect included
RETRIES = 1  # one quick retry of a dropped connection (the client's default, 10 with backoff, could hold a call)
# The records' key layout: 1 kept each task as one JSON string, 2 as a hash of its fields. Bump it, with a step
# in _MIGRATIONS, when a layout changes.
SCHEMA = {"records": 2}
SCAN_PAGE = 200  # list_tasks reads the newest records in pages of this many and filters them here
SCAN_MAX = 10_000  # and looks no further back than this many tasks

# An observation of a known task, in one round trip: never from final back to unfinished, `updated` only forward,
# progress/artifacts/error only when the observation has them. ARGV: status, done, progress, updated, artifacts,
# error (JSON, "" for none). Returns the record's fields, or nothing for an unknown task.
_OBSERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
if not (redis.call('HGET', KEYS[1], 'done') == 'true' and ARGV[2] == 'false') then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'done', ARGV[2])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[3]) end
  if tonumber(ARGV[4]) > tonumber(redis.call('HGET', KEYS[1], 'updated') or '0') then
    redis.call('HSET', KEYS[1], 'updated', ARGV[4])
  end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'artifacts', ARGV[5]) end
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[6]) end
end
return redis.call('HGETALL', KEYS[1])
"""

# Atomically hand out the pending creates nobody holds: held_until <= now becomes now + hold. ARGV: now,
# now + hold, limit, the pending key prefix, the upstream wanted ("" for any).
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, id in ipairs(ids) do
  if #out >= tonumber(ARGV[3]) then break end
  local data = redis.call('GET', ARGV[4] .. id)
  if not data then
    redis.call('ZREM', KEYS[1], id)
  elseif ARGV[5] == '' or cjson.decode(data)['upstream'] == ARGV[5] then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(out, data)
  end
end
return out
"""


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisRecords:
    def __init__(self, client: redis_async.Redis, *, wall: Callable[[], float] = time.time) -> None:
        self._r = client
        self._wall = wall
        self._claim = client.register_script(_CLAIM)
        self._observe = client.register_script(_OBSERVE)

    # ---- tasks ---------------------------------------------------------------------------------------

    async def add_task(self, record: TaskRecord, settles: str | None = None) -> None:
        key = _task(record.taskId)
        async with _errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=_fields(record))
            pipe.zadd(KEY_PREFIX + "tasks", {record.taskId: record.created})
            if settles is not None:
                pipe.delete(_pending(settles))
                pipe.zrem(KEY_PREFIX + "pending", settles)
            await pipe.execute()

    async def get_task(self, task_id: str) -> TaskRecord | None:
        async with _errors():
            fields = await self._r.hgetall(_task(task_id))
        return _record(fields)

    async def update_task(self, task_id: str, update: TaskUpdate) -> TaskRecord | None:
        def dumped(value: object) -> str:
            return "" if value is None else json.dumps(value)

        seen = update.model_dump(mode="json")
        args = [json.dumps(update.status), json.dumps(update.done), dumped(seen["progress"]), repr(update.updated)]
        args += [dumped(seen["artifacts"]), dumped(seen["error"])]
        async with _errors():
            flat = await self._observe(keys=[_task(task_id)], args=args)
        return _record(dict(zip(flat[::2], flat[1::2], strict=True)))

    async def add_files(self, task_id: str, paths: Sequence[str]) -> None:
        """Read-modify-write of the files under WATCH (rare: a save); a write in between makes it retry."""
        key = _task(task_id)
        async with _errors(), self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    if not await pipe.exists(key):
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return
                    files = json.loads(await pipe.hget(key, "files") or "[]")
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, "files", json.dumps(merge_files(files, paths)))
                    await pipe.execute()
                    return
                except WatchError:
                    continue

    async def list_tasks(
        self,
        *,
        statuses: Sequence[str] | None = None,
        done: bool | None = None,
        text: str | None = None,
        upstream: str | None = None,
        limit: int = 20,
    ) -> list[TaskRecord]:
        picked: list[TaskRecord] = []
        async with _errors():
            for start in range(0, SCAN_MAX, SCAN_PAGE):
                ids = await self._r.zrevrange(KEY_PREFIX + "tasks", start, start + SCAN_PAGE - 1)
                if not ids:
                    break
                async with self._r.pipeline(transaction=False) as pipe:
                    for i in ids:
                        pipe.hgetall(_task(str(i)))
                    pages = await pipe.execute()
                for fields in pages:
                    record = _record(fields)
                    if record is not None and matches(record, statuses, done, text, upstream):
                        picked.append(record)
                if len(picked) >= limit or len(ids) < SCAN_PAGE:
                    break
        return picked[:limit]

    # ---- pending creates -----------------------------------------------------------------------------

    async def put_pending(self, pending: PendingCreate) -> None:
        async with _errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.set(_pending(pending.id), pending.model_dump_json())
            pipe.zadd(KEY_PREFIX + "pending", {pending.id: pending.held_until})
            await pipe.execute()

    async def delete_pending(self, pending_id: str) -> None:
        async with _errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.delete(_pending(pending_id))
            pipe.zrem(KEY_PREFIX + "pending", pending_id)
            await pipe.execute()

    async def claim_pending(
        self, now: float, hold: float, limit: int = 20, upstream: str | None = None
    ) -> list[PendingCreate]:
        args: list[str | int] = [repr(now), repr(now + hold), limit, KEY_PREFIX + "pending:", upstream or ""]
        async with _errors():
            found = await self._claim(keys=[KEY_PREFIX + "pending"], args=args)
        claimed = [PendingCreate.model_validate_json(d).model_copy(update={"held_until": now + hold}) for d in found]
        return sorted(claimed, key=lambda p: p.since)

    # ---- keyed records with a lifetime ---------------------------------------------------------------

    async def put_record(self, kind: str, key: str, value: JsonObject, ttl: float | None = None) -> None:
        async with _errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.set(_rec(kind, key), json.dumps(value), px=None if ttl is None else max(1, int(ttl * 1000)))
            pipe.zadd(f"{KEY_PREFIX}recs:{kind}", {key: self._wall()})
            await pipe.execute()

    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        async with _errors():
            data = await self._r.get(_rec(kind, key))
        return None if data is None else _object(str(data))

    async def delete_record(self, kind: str, key: str) -> bool:
        async with _errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.delete(_rec(kind, key))
            pipe.zrem(f"{KEY_PREFIX}recs:{kind}", key)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def list_records(self, kind: str, limit: int = 100) -> list[tuple[str, JsonObject]]:
        index = f"{KEY_PREFIX}recs:{kind}"
        async with _errors():
            keys = [str(k) for k in await self._r.zrevrange(index, 0, -1)]
            values = await self._r.mget([_rec(kind, k) for k in keys]) if keys else []
            gone = [k for k, v in zip(keys, values, strict=True) if v is None]
            if gone:  # expired records leave their index entry behind; tidy it here
                await self._r.zrem(index, *gone)
        out = [(k, _object(str(v))) for k, v in zip(keys, values, strict=True) if v is not None]
        return out[:limit]


def open_redis(url: str) -> Store:
    """Check the server answers and knows our schema (with a short-lived synchronous client: the asyncio one
    binds to the event loop that first uses it), then hand back an asyncio client for the server's loop."""
    where = redact(url)
    options: dict[str, Any] = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT, "decode_responses": True}
    try:
        with redis_sync.Redis.from_url(url, **options, retry=SyncRetry(NoBackoff(), 0)) as probe:
            probe.ping()
            for component, version in SCHEMA.items():
                probe.hsetnx(KEY_PREFIX + "schema", component, version)
                stored = int(probe.hget(KEY_PREFIX + "schema", component) or 0)
                if stored > version:
                    raise StoreError(
                        f"the Redis store {where} was written by a newer frames-mcp ({component} schema version "
                        f"{stored}, this one knows {version}): upgrade frames-mcp or use another database"
                    )
                for step in range(stored, version):
                    _MIGRATIONS[component, step + 1](probe)
                    probe.hset(KEY_PREFIX + "schema", component, step + 1)
        retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), RETRIES)
        client = redis_async.Redis.from_url(url, **options, retry=retry)
    except (RedisError, OSError, ValueError) as e:
        raise StoreError(f"cannot reach the Redis store {where}: {_reason(e, url)}") from None

    async def close() -> None:
        await client.aclose()

    return Store("redis", where, RedisRecords(client), connection=client, closer=close)


def _tasks_as_hashes(r: redis_sync.Redis) -> None:
    """records 1 -> 2: each task's JSON string becomes a hash of its fields (safe to run twice, or in two
    processes at once: a key already a hash is left alone)."""
    for key in r.scan_iter(match=KEY_PREFIX + "task:*"):
        if r.type(key) == "string":
            data = r.get(key)
            with r.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if data:
                    pipe.hset(key, mapping={k: json.dumps(v) for k, v in json.loads(str(data)).items()})
                pipe.execute()


_MIGRATIONS: dict[tuple[str, int], Callable[[redis_sync.Redis], None]] = {("records", 2): _tasks_as_hashes}


class _errors:
    """Turn the client's failures into StoreError (without the URL, which may carry a password)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> None:
        if isinstance(e, RedisError | OSError):
            raise StoreError(f"the Redis store failed: {type(e).__name__}: {e}") from None


def _reason(e: BaseException, url: str) -> str:
    text = str(e) or type(e).__name__
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def _fields(record: TaskRecord) -> dict[Any, Any]:
    return {name: json.dumps(value) for name, value in record.model_dump(mode="json").items()}


def _record(fields: dict[Any, Any]) -> TaskRecord | None:
    return TaskRecord.model_validate({k: json.loads(v) for k, v in fields.items()}) if fields else None


def _task(task_id: str) -> str:
    return f"{KEY_PREFIX}task:{task_id}"


def _pending(pending_id: str) -> str:
    return f"{KEY_PREFIX}pending:{pending_id}"


def _rec(kind: str, key: str) -> str:
    return f"{KEY_PREFIX}rec:{kind}:{key}"


def _object(text: str) -> JsonObject:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}

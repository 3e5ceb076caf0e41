"""The admission line in Redis, shared by every replica of a fleet that points at the same server.

Each operation is one Lua script, so it is atomic on the server; leases are timed by Redis's own clock
(TIME), so replicas on machines whose clocks disagree still agree on who is alive. Keys, with P the prefix
(frames-mcp:slots:):
  P:owners          zset  owner -> lease end          P:own:<owner>   set of its tickets and slots
  P:line:<account>  zset  ticket -> order joined      P:held:<account> hash slot -> owner
  P:task:<account>  hash  slot -> taskId              P:orphan:<account> zset slot -> next check
  P:bytask          hash  taskId -> slot|account      P:seq, P:version counters
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from frames_mcp.store.base import StoreError
from frames_mcp.store.redis import KEY_PREFIX
from frames_mcp.store.slots import DEFAULT_LEASE, WATCH_EVERY, Standing, Versioned, new_id

PREFIX = KEY_PREFIX + "slots:"

# ARGV[1] prefix, ARGV[2] owner, ARGV[3] lease seconds; the op's own arguments follow.
_PRELUDE = """
local P, owner, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function bump() return redis.call('INCR', P .. 'version') end
local function touch() redis.call('ZADD', P .. 'owners', now + lease, owner) end
local function drop_slot(account, slot)
  local who = redis.call('HGET', P .. 'held:' .. account, slot)
  if not who then return false end
  local task = redis.call('HGET', P .. 'task:' .. account, slot)
  if task then redis.call('HDEL', P .. 'bytask', task) end
  redis.call('HDEL', P .. 'task:' .. account, slot)
  redis.call('ZREM', P .. 'orphan:' .. account, slot)
  redis.call('HDEL', P .. 'held:' .. account, slot)
  redis.call('SREM', P .. 'own:' .. who, 's|' .. slot .. '|' .. account)
  return true
end
local function sweep()
  local dead = redis.call('ZRANGEBYSCORE', P .. 'owners', '-inf', '(' .. now)
  if #dead == 0 then return end
  local gone = 1
  for _, o in ipairs(dead) do
    for _, ref in ipairs(redis.call('SMEMBERS', P .. 'own:' .. o)) do
      gone = gone + 1
      local kind, id, account = string.match(ref, '^(%a)|(%x+)|(.*)$')
      if kind == 'l' then redis.call('ZREM', P .. 'line:' .. account, id) else drop_slot(account, id) end
    end
    redis.call('DEL', P .. 'own:' .. o)
    redis.call('ZREM', P .. 'owners', o)
  end
  redis.call('INCRBY', P .. 'version', gone)  -- one step per place or slot gone (see Standing.version)
end
"""

_JOIN = """
local account, ticket = ARGV[4], ARGV[5]
touch()
redis.call('ZADD', P .. 'line:' .. account, redis.call('INCR', P .. 'seq'), ticket)
redis.call('SADD', P .. 'own:' .. owner, 'l|' .. ticket .. '|' .. account)
return 1
"""

_TAKE = """
local account, ticket, limit, slot = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
if ARGV[8] == '1' then
  touch()
  redis.call('ZADD', P .. 'line:' .. account, redis.call('INCR', P .. 'seq'), ticket)
  redis.call('SADD', P .. 'own:' .. owner, 'l|' .. ticket .. '|' .. account)
end
sweep()
local held = redis.call('HLEN', P .. 'held:' .. account)
local rank = redis.call('ZRANK', P .. 'line:' .. account, ticket)
if not rank then return {0, held, 0, tonumber(redis.call('GET', P .. 'version') or 0), '', ''} end
if rank < limit - held then
  redis.call('ZREM', P .. 'line:' .. account, ticket)
  redis.call('SREM', P .. 'own:' .. owner, 'l|' .. ticket .. '|' .. account)
  redis.call('HSET', P .. 'held:' .. account, slot, owner)
  redis.call('SADD', P .. 'own:' .. owner, 's|' .. slot .. '|' .. account)
  touch()
  return {0, held + 1, 1, bump(), slot, ''}
end
local first = redis.call('ZRANGE', P .. 'orphan:' .. account, 0, 0, 'WITHSCORES')
local lapse = ''
local owners = redis.call('ZRANGE', P .. 'owners', 0, 1, 'WITHSCORES')
for i = 1, #owners, 2 do
  if owners[i] ~= owner then lapse = tostring(math.max(0, tonumber(owners[i + 1]) - now)) break end
end
return {rank, held, 1, tonumber(redis.call('GET', P .. 'version') or 0), '', first[2] or '', lapse}
"""

_LEAVE = """
local account, ticket = ARGV[4], ARGV[5]
if redis.call('ZREM', P .. 'line:' .. account, ticket) == 0 then return 0 end
redis.call('SREM', P .. 'own:' .. owner, 'l|' .. ticket .. '|' .. account)
return bump()
"""

_ABANDON = """
local account, slot, task, check_at = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('HEXISTS', P .. 'held:' .. account, slot) == 0 then return 0 end
redis.call('HSET', P .. 'task:' .. account, slot, task)
redis.call('HSET', P .. 'bytask', task, slot .. '|' .. account)
redis.call('ZADD', P .. 'orphan:' .. account, check_at, slot)
return bump()
"""

_RELEASE = """
if drop_slot(ARGV[4], ARGV[5]) then return bump() end
return 0
"""

_FINISHED = """
local ref = redis.call('HGET', P .. 'bytask', ARGV[4])
if not ref then return 0 end
local slot, account = string.match(ref, '^(%x+)|(.*)$')
if drop_slot(account, slot) then return bump() end
return 0
"""

_DUE = """
local account, at, later = ARGV[4], ARGV[5], ARGV[6]
local key = P .. 'orphan:' .. account
local tasks = {}
for _, slot in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', at)) do
  local task = redis.call('HGET', P .. 'task:' .. account, slot)
  if task then
    redis.call('ZADD', key, later, slot)
    table.insert(tasks, task)
  end
end
return tasks
"""

_COUNTS = """
sweep()
return {redis.call('HLEN', P .. 'held:' .. ARGV[4]), redis.call('ZCARD', P .. 'line:' .. ARGV[4])}
"""

_RENEW = """
touch()
return 1
"""


class RedisSlots:
    def __init__(
        self,
        redis: Redis,
        *,
        lease: float = DEFAULT_LEASE,
        watch_every: float = WATCH_EVERY,
        prefix: str = PREFIX,
        owns_connection: bool = False,
    ) -> None:
        self.lease = lease
        self.owner = new_id()
        self._redis = redis
        self._prefix = prefix
        self._owns = owns_connection
        self._scripts = {
            name: redis.register_script(_PRELUDE + body)
            for name, body in {
                "join": _JOIN,
                "take": _TAKE,
                "leave": _LEAVE,
                "abandon": _ABANDON,
                "release": _RELEASE,
                "finished": _FINISHED,
                "due": _DUE,
                "counts": _COUNTS,
                "renew": _RENEW,
            }.items()
        }
        self._watch = Versioned(self._read_version, watch_every)

    async def _call(self, name: str, *args: str | int | float) -> Any:
        try:
            return await self._scripts[name](args=[self._prefix, self.owner, self.lease, *args])
        except (RedisError, OSError) as e:
            raise StoreError(f"the admission line in Redis failed: {type(e).__name__}: {e}") from None

    async def _change(self, name: str, *args: str | int | float) -> bool:
        version = int(await self._call(name, *args))
        self._watch.bump(version)
        return version > 0

    async def _read_version(self) -> int:
        try:
            return int(await self._redis.get(self._prefix + "version") or 0)
        except (RedisError, OSError) as e:
            raise StoreError(f"the admission line in Redis failed: {type(e).__name__}: {e}") from None

    async def join(self, account: str, ticket: str) -> None:
        await self._call("join", account, ticket)  # no version bump: the end of the line moves nobody

    async def take(self, account: str, ticket: str, limit: int, slot: str, *, join: bool = False) -> Standing:
        answer = await self._call("take", account, ticket, limit, slot, int(join))
        ahead, held, placed, version, taken, check, *lapse = answer
        self._watch.bump(int(version))
        return Standing(
            slot=_text(taken) or None,
            ahead=int(ahead),
            held=int(held),
            placed=bool(placed),
            next_check=float(_text(check)) if _text(check) else None,
            version=int(version),
            lapse_in=float(_text(lapse[0])) if lapse and _text(lapse[0]) else None,
        )

    async def leave(self, account: str, ticket: str) -> None:
        await self._change("leave", account, ticket)

    async def abandon(self, account: str, slot: str, task_id: str, check_at: float) -> None:
        await self._change("abandon", account, slot, task_id, repr(check_at))

    async def release(self, account: str, slot: str) -> None:
        await self._change("release", account, slot)

    async def finished(self, task_id: str) -> bool:
        return await self._change("finished", task_id)

    async def due(self, account: str, now: float, later: float) -> list[str]:
        return [_text(t) for t in await self._call("due", account, repr(now), repr(later))]

    async def counts(self, account: str) -> tuple[int, int]:
        held, waiting = await self._call("counts", account)
        return int(held), int(waiting)

    async def renew(self) -> None:
        await self._call("renew")

    async def wait(self, version: int, within: float) -> None:
        await self._watch.wait(version, within)

    async def aclose(self) -> None:
        if self._owns:
            await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

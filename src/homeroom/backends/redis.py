"""The gate's shared state in Redis or Redis Cluster (docs/gate.md#shared-state, backends/gate.py).

Keys of one lane of one gate share a hash tag, so each atomic step is one small Lua script on one
cluster slot; keys of one gate (policy, lease, health) share another:

    hr:{national:pupils}:n        hash: issued horizon ceiling redeemed prequeue frozen_base
                                  frozen_count released born
    hr:{national:pupils}:r:<c>    redeemed bitmap, numbers c·BITMAP_CHUNK_BITS ..
    hr:{national:pupils}:x:<c>    "left" bitmap, same chunking
    hr:{national:pupils}:a        hash: expiry bucket (10 s, backends/gate.py) → active passes
    hr:{national:pupils}:h        list of "at:horizon" history steps, oldest first
    hr:{national}:policy          GatePolicy as JSON
    hr:{national}:lease           controller lease holder, with a PX expiry
    hr:{national}:health          hash: holder → "<until ms> <Health JSON>"
    hr:{national:who:<account>}   a signed-in person's place (PersonRecord.encode), with a TTL;
                                  one hash tag per person, so records spread over the cluster

Lane hashes and bitmaps never expire (they are what makes a number redeemable once); the active
hash expires ACTIVE_TTL_S after its last write, so an abandoned gate leaves no buckets behind.
Person records expire with the ticket or pass they describe.

Failures are raised as BackendUnavailable, fast: the client sends a command again at most once,
after a connection error (a stale pooled connection, a cluster topology change), never after a
timeout on one server (a cluster client also retries once after a timeout). A retried `issue`
whose first reply was lost skips numbers, which is harmless; a retried `redeem` whose first
reply was lost answers DUPLICATE, as the caller's own retry would. The pool reconnects by itself
once Redis is back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, cast
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, NoScriptError, RedisClusterException, RedisError

from homeroom.backends.coalesce import Coalescer
from homeroom.backends.gate import (
    BITMAP_CHUNK_BITS,
    BackendUnavailable,
    ClaimWindow,
    Issued,
    LaneCounters,
    PersonRecord,
    PrequeueFreeze,
    RedeemOutcome,
)
from homeroom.core.adaptive import Health
from homeroom.core.history import History, Step
from homeroom.core.lanes import LANES, Lane
from homeroom.core.policy import GatePolicy

Client: TypeAlias = "Redis | RedisCluster"

ACTIVE_TTL_S = 3 * 86_400  # active buckets outlive any pass; an idle gate's hash then goes away
SOCKET_TIMEOUT_S = 1.0  # a dead or stuck Redis fails a call within this, never hangs a tick
MAX_IN_FLIGHT = 64  # calls at once per store; more wait their turn (Redis answers in ~0.1 ms)


# The first write of a lane's state stamps when it began (the caller's time, when it gives
# one): a lane hash that is gone and made again says the store lost it (docs/gate.md).
def _stamp_born(at: int) -> str:
    """Lua: stamp KEYS[1] (a lane hash) with `born` = ARGV[at] if it does not exist yet."""
    return f"""
if ARGV[{at}] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'born', ARGV[{at}])
end
"""


# KEYS: lane hash. ARGV: count, prequeue (1/0), at ('' for none).
# Returns {first, last, prequeue, horizon}.
ISSUE = (
    _stamp_born(3)
    + """
local n, count = KEYS[1], tonumber(ARGV[1])
if ARGV[2] == '1' and redis.call('HEXISTS', n, 'frozen_base') == 0 then
  -- pre-queue numbers: ranked at opening, never admitted here
  local last = redis.call('HINCRBY', n, 'prequeue', count)
  return {last - count + 1, last, 1, tonumber(redis.call('HGET', n, 'horizon') or '0')}
end
local last = redis.call('HINCRBY', n, 'issued', count)
local first = last - count + 1
local hc = redis.call('HMGET', n, 'horizon', 'ceiling')
local horizon, ceiling = tonumber(hc[1] or '0'), tonumber(hc[2] or '0')
-- nobody waits ahead: admit at once, up to the controller's ceiling
if horizon >= first - 1 and math.min(last, ceiling) > horizon then
  horizon = math.min(last, ceiling)
  redis.call('HSET', n, 'horizon', horizon)
end
return {first, last, 0, horizon}
"""
)

# KEYS: lane hash, redeemed chunk, active hash. ARGV: number, bit, expiry bucket, active ttl.
# Returns 0 ok, 1 not yet, 2 duplicate.
REDEEM = """
-- KEYS: counters, redeemed chunk, active buckets, left chunk; ARGV: ttl, (number, bit, bucket)*
-- Many redeems of one lane and chunk in one call; each one is decided on its own.
local hr = redis.call('HMGET', KEYS[1], 'horizon', 'released')
local horizon, released = tonumber(hr[1] or '0'), tonumber(hr[2] or '0')
local out, done = {}, 0
for i = 2, #ARGV, 3 do
  local number = tonumber(ARGV[i])
  if number < 1 or number > horizon then
    out[#out + 1] = 1
  elseif number <= released then
    out[#out + 1] = 3  -- its claim lapsed: the place went back to the pool
  -- SETBIT returns the old bit: whoever sets it first wins, on any number of processes
  elseif redis.call('SETBIT', KEYS[2], ARGV[i + 1], 1) == 1 then
    out[#out + 1] = redis.call('GETBIT', KEYS[4], ARGV[i + 1]) == 1 and 4 or 2
  else
    redis.call('HINCRBY', KEYS[3], ARGV[i + 2], 1)
    done = done + 1
    out[#out + 1] = 0
  end
end
if done > 0 then
  redis.call('HINCRBY', KEYS[1], 'redeemed', done)
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
return out
"""

# KEYS: left chunk, active hash. ARGV: bit, old bucket, new bucket, active ttl. Returns 1 or 0.
RENEW = """
if redis.call('GETBIT', KEYS[1], ARGV[1]) == 1 then return 0 end  -- the holder left
redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS: left chunk, active hash. ARGV: bit, bucket, active ttl. Returns 1 the first time only.
LEAVE = """
if redis.call('SETBIT', KEYS[1], ARGV[1], 1) == 1 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: lane hash, active hash, history. ARGV: now bucket. Read only.
# Returns {issued, horizon, ceiling, redeemed, prequeue, frozen_base, frozen_count, born, active,
# steps}.
COUNTERS = """
local out = redis.call('HMGET', KEYS[1], 'issued', 'horizon', 'ceiling', 'redeemed',
  'prequeue', 'frozen_base', 'frozen_count', 'born')
local now, active = tonumber(ARGV[1]), 0
local buckets = redis.call('HGETALL', KEYS[2])
for i = 1, #buckets, 2 do
  if tonumber(buckets[i]) > now then active = active + tonumber(buckets[i + 1]) end
end
out[9] = active
out[10] = redis.call('LRANGE', KEYS[3], 0, -1)
return out
"""

# KEYS: lane hash, active hash, history. ARGV: horizon, ceiling, at, keep_s, now bucket.
# Idempotent for the same arguments, as History.record is.
WINDOW = """
-- KEYS: counters, active buckets, then the redeemed chunks; ARGV: now_bucket, low,
-- then per chunk (chunk base number, first bit, last bit). One atomic read of a lane.
local horizon = tonumber(redis.call('HGET', KEYS[1], 'horizon') or '0')
local now, active = tonumber(ARGV[1]), 0
local buckets = redis.call('HGETALL', KEYS[2])
for i = 1, #buckets, 2 do
  if tonumber(buckets[i]) > now then active = active + tonumber(buckets[i + 1]) end
end
local redeemed = 0
for k = 3, #KEYS do
  local j = 3 + (k - 3) * 3
  local base, first, last = tonumber(ARGV[j]), tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2])
  last = math.min(last, horizon - base)  -- nothing above the horizon can be redeemed
  if last >= first then
    redeemed = redeemed + redis.call('BITCOUNT', KEYS[k], first, last, 'BIT')
  end
end
return {horizon, active, redeemed}
"""
ADVANCE = (
    _stamp_born(3)
    + """
local n, h = KEYS[1], KEYS[3]
local horizon = math.max(tonumber(redis.call('HGET', n, 'horizon') or '0'), tonumber(ARGV[1]))
redis.call('HSET', n, 'horizon', horizon, 'ceiling', math.max(horizon, tonumber(ARGV[2])))
local released = tonumber(redis.call('HGET', n, 'released') or '0')
if tonumber(ARGV[6]) > released then redis.call('HSET', n, 'released', ARGV[6]) end
-- a step where the horizon moved past the last one recorded
local last = redis.call('LINDEX', h, -1)
if not last or horizon > tonumber(string.match(last, ':(%-?%d+)$')) then
  redis.call('RPUSH', h, ARGV[3] .. ':' .. horizon)
end
-- drop steps older than keep_s, keeping one so the horizon at the window's start is known
local cut = tonumber(ARGV[3]) - tonumber(ARGV[4])
while redis.call('LLEN', h) >= 2 do
  local second = redis.call('LINDEX', h, 1)
  if tonumber(string.match(second, '^(%-?%d+)')) > cut then break end
  redis.call('LPOP', h)
end
-- expired active buckets
local now, buckets = tonumber(ARGV[5]), redis.call('HKEYS', KEYS[2])
for _, bucket in ipairs(buckets) do
  if tonumber(bucket) <= now then redis.call('HDEL', KEYS[2], bucket) end
end
return 1
"""
)

# KEYS: lane hash. ARGV: at ('' for none). Returns {base, count}, the first freeze's on every
# later call.
FREEZE = (
    _stamp_born(1)
    + """
local n = KEYS[1]
local f = redis.call('HMGET', n, 'frozen_base', 'frozen_count')
if f[1] then return {tonumber(f[1]), tonumber(f[2])} end
local count = tonumber(redis.call('HGET', n, 'prequeue') or '0')
local base = redis.call('HINCRBY', n, 'issued', count) - count
redis.call('HSET', n, 'frozen_base', base, 'frozen_count', count)
return {base, count}
"""
)

# KEYS: lease. ARGV: holder, ttl ms. Returns 1 if holder holds the lease.
LEASE = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Reports expire by the server's clock, so processes need no synchronised clocks.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: health hash. ARGV: holder, ttl ms, Health JSON.
REPORT_HEALTH = (
    _NOW_MS
    + """
local until_ms = now + tonumber(ARGV[2])
local keep_until = until_ms
-- forget lapsed reports, so dead processes do not pile up
local reports = redis.call('HGETALL', KEYS[1])
for i = 1, #reports, 2 do
  local other = tonumber(string.match(reports[i + 1], '^(%d+)'))
  if other <= now then redis.call('HDEL', KEYS[1], reports[i])
  elseif other > keep_until then keep_until = other end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', until_ms) .. ' ' .. ARGV[3])
redis.call('PEXPIREAT', KEYS[1], string.format('%d', keep_until))
return 1
"""
)

# KEYS: health hash. Returns the JSON of every live report. Read only.
HEALTH = (
    _NOW_MS
    + """
local out = {}
local reports = redis.call('HVALS', KEYS[1])
for _, report in ipairs(reports) do
  local until_ms, body = string.match(report, '^(%d+) (.*)$')
  if tonumber(until_ms) > now then table.insert(out, body) end
end
return out
"""
)

# KEYS: person record. ARGV: over, value ('' deletes), ttl s. Compare and set on the place:
# write when there is no record, or when `over` is not empty and the record starts with it.
# Returns the value held afterwards (false when none).
HOLD_PERSON = """
local cur = redis.call('GET', KEYS[1])
local over = ARGV[1]
if cur and (over == '' or string.sub(cur, 1, #over) ~= over) then return cur end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return ARGV[2]
"""

_OUTCOMES = (
    RedeemOutcome.OK,
    RedeemOutcome.NOT_YET,
    RedeemOutcome.DUPLICATE,
    RedeemOutcome.LAPSED,
    RedeemOutcome.LEFT,
)


class RedisKeys:
    """Key names; one hash tag per lane of a gate, another per gate."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def lane(self, gate: str, lane: Lane) -> str:
        return f"{self.prefix}:{{{gate}:{lane.value}}}"

    def counters(self, gate: str, lane: Lane) -> str:
        return self.lane(gate, lane) + ":n"

    def redeemed(self, gate: str, lane: Lane, chunk: int) -> str:
        return f"{self.lane(gate, lane)}:r:{chunk}"

    def left(self, gate: str, lane: Lane, chunk: int) -> str:
        return f"{self.lane(gate, lane)}:x:{chunk}"

    def active(self, gate: str, lane: Lane) -> str:
        return self.lane(gate, lane) + ":a"

    def history(self, gate: str, lane: Lane) -> str:
        return self.lane(gate, lane) + ":h"

    def gate(self, gate: str, what: str) -> str:
        return f"{self.prefix}:{{{gate}}}:{what}"

    def person(self, gate: str, who: str) -> str:
        return f"{self.prefix}:{{{gate}:who:{who}}}"


class RedisGateStore:
    """A GateStore on one Redis server or a Redis Cluster; behaves as MemoryGateStore."""

    def __init__(self, client: Client, where: str, prefix: str = "hr") -> None:
        self._client = client
        self._where = where  # for messages: nodes without credentials
        self.keys = RedisKeys(prefix)
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        register = client.register_script
        self._issue, self._redeem = register(ISSUE), register(REDEEM)
        self._renew, self._leave = register(RENEW), register(LEAVE)
        self._counters, self._advance = register(COUNTERS), register(ADVANCE)
        self._freeze, self._lease = register(FREEZE), register(LEASE)
        self._window = register(WINDOW)
        self._report_health, self._health = register(REPORT_HEALTH), register(HEALTH)
        self._hold_person = register(HOLD_PERSON)
        self._redeems: Coalescer[tuple[str, Lane, int], tuple[int, int, int], RedeemOutcome]
        self._redeems = Coalescer(self._redeem_batch, max_batch=256)

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "hr", socket_timeout: float = SOCKET_TIMEOUT_S
    ) -> RedisGateStore:
        """`redis://HOST:PORT[/DB]` for one server, `redis+cluster://HOST:PORT,...` for a
        cluster (optionally `redis+cluster://USER:PASSWORD@HOST:PORT,...`)."""
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
            "max_connections": MAX_IN_FLIGHT,  # per node on a cluster
        }
        if url.startswith("redis+cluster://"):
            username, password, nodes = _parse_cluster_url(url)
            where = "redis+cluster://" + ",".join(f"{n.host}:{n.port}" for n in nodes)
            client: Client = RedisCluster(
                startup_nodes=nodes, username=username, password=password, **options
            )
            return cls(client, where, prefix)
        if url.startswith("redis://"):
            single = Redis.from_url(url, **options)
            kwargs = single.connection_pool.connection_kwargs
            where = f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
            return cls(single, where, prefix)
        scheme = url.partition("://")[0]  # the rest may hold a password
        raise ValueError(f"not a Redis URL: scheme {scheme!r}, expected redis or redis+cluster")

    @asynccontextmanager
    async def _io(self, what: str) -> AsyncIterator[None]:
        """One call: at most MAX_IN_FLIGHT at once (a burst waits for a connection instead of
        failing with MaxConnectionsError), and the client's failures translated into
        BackendUnavailable, at this boundary only."""
        async with self._in_flight:
            try:
                if isinstance(self._client, RedisCluster):
                    # Learn the topology before sending: redis-py 8.1 races when concurrent
                    # commands find the cluster client uninitialised (AttributeError).
                    await self._client.initialize()
                yield
            except (RedisError, RedisClusterException, OSError) as exc:
                raise BackendUnavailable(
                    f"gate store {self._where} unavailable ({what}): {type(exc).__name__}: {exc}"
                ) from exc

    async def _eval_lanes(
        self, script: AsyncScript, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Run an idempotent script once per lane, in one pipeline (`eval_pipelined`)."""
        return await eval_pipelined(self._client, script, calls)

    async def get_policy(self, gate: str) -> GatePolicy | None:
        async with self._io("get policy"):
            raw = await self._client.get(self.keys.gate(gate, "policy"))
        return None if raw is None else GatePolicy.from_dict(json.loads(raw))

    async def set_policy(self, gate: str, policy: GatePolicy) -> None:
        async with self._io("set policy"):
            await self._client.set(self.keys.gate(gate, "policy"), json.dumps(policy.to_dict()))

    async def issue(
        self, gate: str, lane: Lane, count: int, prequeue: bool, at: int | None = None
    ) -> Issued:
        async with self._io("issue"):
            first, last, pre, horizon = await self._issue(
                [self.keys.counters(gate, lane)], [count, int(prequeue), _at(at)]
            )
        return Issued(int(first), int(last), bool(pre), int(horizon))

    async def redeem(self, gate: str, lane: Lane, number: int, expiry_bucket: int) -> RedeemOutcome:
        chunk, bit = divmod(number, BITMAP_CHUNK_BITS)
        return await self._redeems.call((gate, lane, chunk), (number, bit, expiry_bucket))

    async def _redeem_batch(
        self, key: tuple[str, Lane, int], calls: list[tuple[int, int, int]]
    ) -> list[RedeemOutcome]:
        """Concurrent redeems of one lane and bitmap chunk: one script call for them all."""
        gate, lane, chunk = key
        keys = [
            self.keys.counters(gate, lane),
            self.keys.redeemed(gate, lane, chunk),
            self.keys.active(gate, lane),
            self.keys.left(gate, lane, chunk),
        ]
        args: list[int] = [ACTIVE_TTL_S]
        for number, bit, bucket in calls:
            args += (number, bit, bucket)
        async with self._io("redeem"):
            outcomes = await self._redeem(keys, args)
        return [_OUTCOMES[int(o)] for o in outcomes]

    async def renew(
        self, gate: str, lane: Lane, number: int, old_bucket: int, new_bucket: int
    ) -> bool:
        chunk, bit = divmod(number, BITMAP_CHUNK_BITS)
        keys = [self.keys.left(gate, lane, chunk), self.keys.active(gate, lane)]
        async with self._io("renew"):
            moved = await self._renew(keys, [bit, old_bucket, new_bucket, ACTIVE_TTL_S])
        return bool(moved)

    async def leave(self, gate: str, lane: Lane, number: int, bucket: int) -> bool:
        chunk, bit = divmod(number, BITMAP_CHUNK_BITS)
        keys = [self.keys.left(gate, lane, chunk), self.keys.active(gate, lane)]
        async with self._io("leave"):
            first = await self._leave(keys, [bit, bucket, ACTIVE_TTL_S])
        return bool(first)

    def _lane_keys(self, gate: str, lane: Lane) -> list[str]:
        k = self.keys
        return [k.counters(gate, lane), k.active(gate, lane), k.history(gate, lane)]

    async def counters(self, gate: str, now_bucket: int) -> dict[Lane, LaneCounters]:
        calls = [(self._lane_keys(gate, lane), [now_bucket]) for lane in LANES]
        async with self._io("read counters"):
            replies = await self._eval_lanes(self._counters, calls)
        return {lane: _lane_counters(reply) for lane, reply in zip(LANES, replies, strict=True)}

    async def redeemed_between(self, gate: str, lane: Lane, low: int, high: int) -> int:
        low = max(low + 1, 0)  # the range is (low, high]; numbers start at 1
        if high < low:
            return 0
        async with self._io("count redeemed"):
            pipe = self._client.pipeline(transaction=False)
            for chunk in range(low // BITMAP_CHUNK_BITS, high // BITMAP_CHUNK_BITS + 1):
                start = max(low - chunk * BITMAP_CHUNK_BITS, 0)
                end = min(high - chunk * BITMAP_CHUNK_BITS, BITMAP_CHUNK_BITS - 1)
                pipe.bitcount(self.keys.redeemed(gate, lane, chunk), start, end, mode="BIT")
            return sum(int(n) for n in await pipe.execute())

    async def window(
        self, gate: str, lane: Lane, low: int, high: int, now_bucket: int
    ) -> ClaimWindow:
        keys = [self.keys.counters(gate, lane), self.keys.active(gate, lane)]
        args: list[int] = [now_bucket, low]
        first_number = max(low + 1, 1)
        if high >= first_number:
            for chunk in range(first_number // BITMAP_CHUNK_BITS, high // BITMAP_CHUNK_BITS + 1):
                base = chunk * BITMAP_CHUNK_BITS
                keys.append(self.keys.redeemed(gate, lane, chunk))
                args += (base, max(first_number - base, 0), min(high - base, BITMAP_CHUNK_BITS - 1))
        async with self._io("claim window"):
            horizon, active, redeemed = await self._window(keys, args)
        return ClaimWindow(int(horizon), max(0, int(active)), int(redeemed))

    async def advance(
        self,
        gate: str,
        horizons: dict[Lane, int],
        ceilings: dict[Lane, int],
        at: int,
        keep_s: int,
        now_bucket: int,
        released: dict[Lane, int] | None = None,
    ) -> None:
        # A lane left out keeps its horizon (max with 0) and gets ceiling = horizon, as in memory.
        calls = [
            (
                self._lane_keys(gate, lane),
                [
                    horizons.get(lane, 0),
                    ceilings.get(lane, 0),
                    at,
                    keep_s,
                    now_bucket,
                    (released or {}).get(lane, 0),
                ],
            )
            for lane in LANES
        ]
        async with self._io("advance"):
            await self._eval_lanes(self._advance, calls)

    async def freeze_prequeue(self, gate: str, lane: Lane, at: int | None = None) -> PrequeueFreeze:
        async with self._io("freeze pre-queue"):
            base, count = await self._freeze([self.keys.counters(gate, lane)], [_at(at)])
        return PrequeueFreeze(base=int(base), count=int(count))

    async def reset_prequeue(self, gate: str) -> None:
        async with self._io("reset pre-queue"):
            pipe = self._client.pipeline(transaction=False)
            for lane in LANES:
                pipe.hdel(self.keys.counters(gate, lane), "prequeue", "frozen_base", "frozen_count")
            await pipe.execute()

    async def person(self, gate: str, who: str) -> PersonRecord | None:
        async with self._io("read person"):
            raw = await self._client.get(self.keys.person(gate, who))
        return None if raw is None else PersonRecord.decode(str(raw))

    async def people(self, gate: str, whos: Sequence[str]) -> dict[str, PersonRecord]:
        if not whos:
            return {}
        async with self._io("read people"):
            # One GET per person in one pipeline: a cluster client sends one round trip per
            # node (the keys have one hash tag each, so no MGET across slots).
            pipe = self._client.pipeline(transaction=False)
            for who in whos:
                pipe.get(self.keys.person(gate, who))
            raws = await pipe.execute()
        found = {who: PersonRecord.decode(raw) for who, raw in zip(whos, raws, strict=True) if raw}
        return {who: record for who, record in found.items() if record is not None}

    async def hold_person(
        self, gate: str, who: str, record: PersonRecord, ttl_s: int, over: str = ""
    ) -> PersonRecord:
        async with self._io("hold person"):
            raw = await self._hold_person(
                [self.keys.person(gate, who)], [over, record.encode(), max(1, ttl_s)]
            )
        held = PersonRecord.decode(raw) if raw else None
        return record if held is None else held

    async def forget_person(self, gate: str, who: str, over: str) -> None:
        if not over:
            return
        async with self._io("forget person"):
            await self._hold_person([self.keys.person(gate, who)], [over, "", 1])

    async def acquire_lease(self, gate: str, holder: str, ttl_s: float) -> bool:
        ttl_ms = max(1, round(ttl_s * 1000))
        async with self._io("acquire lease"):
            held = await self._lease([self.keys.gate(gate, "lease")], [holder, ttl_ms])
        return bool(held)

    async def report_health(self, gate: str, holder: str, health: Health, ttl_s: int) -> None:
        body = json.dumps(
            {"p95_ms": health.p95_ms, "error_rate": health.error_rate, "samples": health.samples}
        )
        async with self._io("report health"):
            await self._report_health(
                [self.keys.gate(gate, "health")], [holder, max(1, ttl_s * 1000), body]
            )

    async def health(self, gate: str) -> list[Health]:
        async with self._io("read health"):
            bodies = await self._health([self.keys.gate(gate, "health")])
        return [_health(json.loads(body)) for body in bodies]

    async def ping(self) -> None:
        async with self._io("ping"):
            await self._client.ping()

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        except (RedisError, RedisClusterException, OSError) as exc:
            raise BackendUnavailable(f"gate store {self._where}: close failed: {exc}") from exc


def _at(at: int | None) -> int | str:
    return "" if at is None else int(at)


def _lane_counters(reply: list[Any]) -> LaneCounters:
    issued, horizon, ceiling, redeemed, prequeue, base, count, born, active, steps = reply
    return LaneCounters(
        issued=int(issued or 0),
        horizon=int(horizon or 0),
        ceiling=int(ceiling or 0),
        redeemed=int(redeemed or 0),
        active=max(0, int(active)),
        prequeue=int(prequeue or 0),
        frozen=None if base is None else PrequeueFreeze(base=int(base), count=int(count)),
        history=History(tuple(_step(s) for s in steps)),
        born=int(born or 0),
    )


def _step(raw: str) -> Step:
    at, _, horizon = raw.partition(":")
    return Step(int(at), int(horizon))


def _health(data: dict[str, Any]) -> Health:
    return Health(
        p95_ms=float(data["p95_ms"]),
        error_rate=float(data["error_rate"]),
        samples=int(data["samples"]),
    )


def _parse_cluster_url(url: str) -> tuple[str | None, str | None, list[ClusterNode]]:
    """`redis+cluster://[USER[:PASSWORD]@]HOST:PORT,HOST:PORT,...` → user, password, nodes."""
    rest = url.removeprefix("redis+cluster://").rstrip("/")
    username: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes: list[ClusterNode] = []
    for part in rest.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"cluster node must be HOST:PORT, got {part!r} in the Redis URL")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    return username, password, nodes


async def eval_pipelined(
    client: Client, script: AsyncScript, calls: Sequence[tuple[list[str], list[Any]]]
) -> list[Any]:
    """Run an idempotent script once per (keys, args), in one pipeline.

    A cluster pipeline is split by slot, one round trip per node; redis-py refuses EVALSHA in
    it, so it carries the script's text. On one server EVALSHA is used, and a server that lost
    its script cache (a restart) gets the script and the whole batch again.
    """
    cluster = isinstance(client, RedisCluster)
    body = cast(str, script.script)  # every script here is registered from a str
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        for keys, args in calls:
            if cluster:
                pipe.eval(body, len(keys), *keys, *args)
            else:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
        try:
            return list(await pipe.execute())
        except NoScriptError:
            if attempt == 2:
                raise
            await client.script_load(body)
    raise AssertionError("unreachable")

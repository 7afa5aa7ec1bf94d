"""Which Janus instance each class lives on, shared by every gateway process (docs/av.md#placement).

A class is placed once, on the instance with the fewest classes among those the asking gateway
can reach, and every gateway then uses that one: a class is never split between instances.
`place(room, urls, lost)` answers the class's instance, placing it if it has none, or if its
instance is `lost` or not among `urls` (the caller could not reach it): then it moves to the
least-loaded of `urls`. Each answer renews the placement's lease (`ttl_s`); a class nobody asked
about for that long is forgotten, so an instance's count is of classes that use it.

Memory (one process) and Redis (a hash, one script: the choice and the write are one step, so
two gateways placing the same class at once agree).

The store also sums what several gateways share about one thing: each class's pupils on each
rung (`rungs`, for the teachers) and each instance's work (`share`: the parts of its load,
docs/av.md#instance-ceilings), with the instance's ceiling state beside it, which `swap`
changes only from the state its caller read, so two gateways stepping it at once agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from homeroom.backends.redis import SOCKET_TIMEOUT_S, _parse_cluster_url

TTL_S = 6 * 3600  # a placement nobody renewed for this long is forgotten


class Placement(Protocol):
    async def place(self, room: str, urls: Sequence[str], lost: str = "") -> str | None:
        """The class's instance (placed now if need be); None when `urls` is empty."""
        ...

    async def rungs(
        self, room: str, origin: str, counts: dict[str, int], ttl_s: float
    ) -> dict[str, int]:
        """Store this gateway's counts of pupils on each rung for `room` (for `ttl_s`); answer
        the sum over every gateway's that has not expired (the teachers' `av.rungs`)."""
        ...

    async def share(
        self, url: str, origin: str, part: dict[str, int], ttl_s: float
    ) -> tuple[dict[str, int], str | None]:
        """Store this gateway's part of instance `url`'s work (for `ttl_s`); answer the sum of
        every gateway's part not expired, and the instance's state (None: none yet). The state
        lives as long as someone shares: nobody for three times `ttl_s`, and it is forgotten."""
        ...

    async def swap(self, url: str, expect: str | None, new: str, ttl_s: float) -> str | None:
        """Set instance `url`'s state to `new` if it is `expect` now (None: it has none);
        answer the state held afterwards: `new`, or what another gateway wrote first."""
        ...

    async def aclose(self) -> None: ...


def _sum(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for rung, n in part.items():
            out[rung] = out.get(rung, 0) + n
    return out


def _least(load: dict[str, int], urls: Sequence[str]) -> str | None:
    best: str | None = None
    for url in urls:  # ties: the first named, so the order of the setting decides
        if best is None or load.get(url, 0) < load.get(best, 0):
            best = url
    return best


@dataclass
class MemoryPlacement:
    clock: Callable[[], float]
    ttl_s: float = TTL_S
    placed: dict[str, tuple[str, float]] = field(default_factory=dict)  # room → url, until
    counted: dict[str, dict[str, tuple[dict[str, int], float]]] = field(default_factory=dict)
    shared: dict[str, dict[str, tuple[dict[str, int], float]]] = field(default_factory=dict)
    states: dict[str, tuple[str, float]] = field(default_factory=dict)  # url → state, until

    async def place(self, room: str, urls: Sequence[str], lost: str = "") -> str | None:
        now = self.clock()
        current = self.placed.get(room)
        if current is not None and current[1] > now and current[0] != lost and current[0] in urls:
            self.placed[room] = (current[0], now + self.ttl_s)
            return current[0]
        self.placed = {r: p for r, p in self.placed.items() if p[1] > now and r != room}
        load: dict[str, int] = {}
        for url, _ in self.placed.values():
            load[url] = load.get(url, 0) + 1
        best = _least(load, urls)
        if best is not None:
            self.placed[room] = (best, now + self.ttl_s)
        return best

    async def rungs(
        self, room: str, origin: str, counts: dict[str, int], ttl_s: float
    ) -> dict[str, int]:
        return _keep(self.counted.setdefault(room, {}), origin, counts, self.clock(), ttl_s)

    async def share(
        self, url: str, origin: str, part: dict[str, int], ttl_s: float
    ) -> tuple[dict[str, int], str | None]:
        now = self.clock()
        total = _keep(self.shared.setdefault(url, {}), origin, part, now, ttl_s)
        state = self._state(url, now)
        if state is not None:
            self.states[url] = (state, now + 3 * ttl_s)
        return total, state

    async def swap(self, url: str, expect: str | None, new: str, ttl_s: float) -> str | None:
        now = self.clock()
        if self._state(url, now) == expect:
            self.states[url] = (new, now + 3 * ttl_s)
        return self._state(url, now)

    def _state(self, url: str, now: float) -> str | None:
        held = self.states.get(url)
        if held is None or held[1] <= now:
            self.states.pop(url, None)
            return None
        return held[0]

    async def aclose(self) -> None:
        self.placed.clear()
        self.counted.clear()
        self.shared.clear()
        self.states.clear()


def _keep(
    parts: dict[str, tuple[dict[str, int], float]],
    origin: str,
    counts: dict[str, int],
    now: float,
    ttl_s: float,
) -> dict[str, int]:
    """Keep `origin`'s counts until `now + ttl_s`, forget the expired, answer the sum."""
    parts[origin] = (counts, now + ttl_s)
    for other, (_, until) in list(parts.items()):
        if until <= now:
            del parts[other]
    return _sum(c for c, _ in parts.values())


# KEYS: the placements hash. ARGV: room, now (s), ttl (s), lost url ('' none), the urls the
# caller reaches. Values are "<url> <until>". Returns the class's url, or false (no urls).
PLACE = """
local room, now, ttl, lost = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local function split(v) local u, t = string.match(v, '^(.*) (%d+)$'); return u, tonumber(t) end
local cur = redis.call('HGET', KEYS[1], room)
if cur then
  local url, till = split(cur)
  if url ~= lost and till > now then
    for i = 5, #ARGV do
      if ARGV[i] == url then
        redis.call('HSET', KEYS[1], room, url .. ' ' .. (now + ttl))
        return url
      end
    end
  end
end
local load = {}
for i = 5, #ARGV do load[ARGV[i]] = 0 end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local url, till = split(all[i + 1])
  if till <= now then redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] ~= room and load[url] then load[url] = load[url] + 1 end
end
local best = nil
for i = 5, #ARGV do
  if best == nil or load[ARGV[i]] < load[best] then best = ARGV[i] end
end
if best == nil then return false end
redis.call('HSET', KEYS[1], room, best .. ' ' .. (now + ttl))
return best
"""


# KEYS: the room's counts hash. ARGV: origin, "<json> <until>", now, ttl. Returns every value.
RUNGS = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('HVALS', KEYS[1])
"""


# KEYS: the instance's parts hash, its state. ARGV: origin, "<json> <until>", now, the state's
# new until, the keys' expiry (s). The state is "<text> <until>", refreshed while not expired.
# Returns every part and the state (nil: none).
SHARE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
local state = redis.call('GET', KEYS[2])
if state then
  local text, till = string.match(state, '^(.*) (%S+)$')
  if tonumber(till) > tonumber(ARGV[3]) then
    state = text .. ' ' .. ARGV[4]
    redis.call('SET', KEYS[2], state, 'EX', ARGV[5])
  else
    redis.call('DEL', KEYS[2])
    state = false
  end
end
return {redis.call('HVALS', KEYS[1]), state}
"""


# KEYS: the instance's state. ARGV: the state expected ('' none), the new "<text> <until>", now,
# the key's expiry (s). Returns the state held afterwards (nil: none).
SWAP = """
local cur = redis.call('GET', KEYS[1])
local text = nil
if cur then
  local t, till = string.match(cur, '^(.*) (%S+)$')
  if tonumber(till) > tonumber(ARGV[3]) then text = t else cur = false end
end
if (text == nil and ARGV[1] == '') or text == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
  return ARGV[2]
end
return cur
"""


class RedisPlacement:
    """Placements in one hash, `hr:av:placed`: room → "<url> <until>"; the counts and shares
    beside it (`hr:av:rungs:{room}`, `hr:av:load:{url}` and `hr:av:ceiling:{url}`)."""

    def __init__(
        self, client: Any, clock: Callable[[], float], prefix: str = "hr", ttl_s: int = TTL_S
    ) -> None:
        self._client = client
        self._clock = clock
        self.key = f"{prefix}:av:placed"
        self.ttl_s = ttl_s
        self._script = client.register_script(PLACE)
        self._rungs = client.register_script(RUNGS)
        self._share = client.register_script(SHARE)
        self._swap = client.register_script(SWAP)
        self._base = self.key.removesuffix("placed")

    @classmethod
    def from_url(cls, url: str, clock: Callable[[], float], **kwargs: Any) -> RedisPlacement:
        """`redis://HOST:PORT[/DB]` or `redis+cluster://[USER:PASSWORD@]HOST:PORT,...`."""
        options: dict[str, Any] = {
            "socket_timeout": SOCKET_TIMEOUT_S,
            "socket_connect_timeout": SOCKET_TIMEOUT_S,
            "decode_responses": True,
        }
        client: Any
        if url.startswith("redis+cluster://"):
            username, password, nodes = _parse_cluster_url(url)
            client = RedisCluster(
                startup_nodes=nodes, username=username, password=password, **options
            )
        else:
            client = Redis.from_url(url, **options)
        return cls(client, clock, **kwargs)

    async def place(self, room: str, urls: Sequence[str], lost: str = "") -> str | None:
        if not urls:
            return None
        now = int(self._clock())
        answer = await self._script(keys=[self.key], args=[room, now, self.ttl_s, lost, *urls])
        return str(answer) if answer else None

    async def rungs(
        self, room: str, origin: str, counts: dict[str, int], ttl_s: float
    ) -> dict[str, int]:
        """`hr:av:rungs:{room}`: gateway → "<json> <until>"; an expired part is skipped (a
        gateway that died), and the key goes with the class."""
        now = self._clock()
        key = f"{self._base}rungs:{{{room}}}"
        values = await self._rungs(
            keys=[key], args=[origin, _part(counts, now + ttl_s), now, _expiry(ttl_s)]
        )
        return _sum(_parts(values, now))

    async def share(
        self, url: str, origin: str, part: dict[str, int], ttl_s: float
    ) -> tuple[dict[str, int], str | None]:
        """`hr:av:load:{url}`: gateway → "<json> <until>", as the counts; the state beside it
        in `hr:av:ceiling:{url}` (one hash tag: one slot of a cluster, for the script)."""
        now = self._clock()
        keys = [f"{self._base}load:{{{url}}}", f"{self._base}ceiling:{{{url}}}"]
        args = [origin, _part(part, now + ttl_s), now, now + 3 * ttl_s, _expiry(ttl_s)]
        values, state = await self._share(keys=keys, args=args)
        return _sum(_parts(values, now)), _text(state)

    async def swap(self, url: str, expect: str | None, new: str, ttl_s: float) -> str | None:
        now = self._clock()
        key = f"{self._base}ceiling:{{{url}}}"
        value = f"{new} {now + 3 * ttl_s}"
        args = [expect or "", value, now, _expiry(ttl_s)]
        return _text(await self._swap(keys=[key], args=args))

    async def aclose(self) -> None:
        await self._client.aclose()


def _part(counts: dict[str, int], until: float) -> str:
    return f"{json.dumps(counts, separators=(',', ':'))} {until}"


def _parts(values: Iterable[Any], now: float) -> list[dict[str, int]]:
    """The parts (`"<json> <until>"`) not expired at `now`: a gateway that died is skipped."""
    parts = []
    for text in values:
        body, _, until = str(text).rpartition(" ")
        if float(until) > now:
            parts.append({str(k): int(v) for k, v in json.loads(body).items()})
    return parts


def _text(state: Any) -> str | None:
    """A state's text, without the `until` the store keeps beside it."""
    return str(state).rpartition(" ")[0] if state else None


def _expiry(ttl_s: float) -> int:
    """How long Redis keeps a key nobody writes: three times the parts' time to live."""
    return max(1, int(ttl_s * 3))

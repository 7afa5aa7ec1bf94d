"""Which Janus instance each class lives on, shared by every gateway process (docs/av.md#placement).

A class is placed once, on the instance with the fewest classes among those the asking gateway
can reach, and every gateway then uses that one: a class is never split between instances.
`place(room, urls, lost)` answers the class's instance, placing it if it has none, or if its
instance is `lost` or not among `urls` (the caller could not reach it): then it moves to the
least-loaded of `urls`. Each answer renews the placement's lease (`ttl_s`); a class nobody asked
about for that long is forgotten, so an instance's count is of classes that use it.

Memory (one process) and Redis (a hash, one script: the choice and the write are one step, so
two gateways placing the same class at once agree).
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
        now = self.clock()
        mine = self.counted.setdefault(room, {})
        mine[origin] = (counts, now + ttl_s)
        for other, (_, until) in list(mine.items()):
            if until <= now:
                del mine[other]
        return _sum(c for c, _ in mine.values())

    async def aclose(self) -> None:
        self.placed.clear()
        self.counted.clear()


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


class RedisPlacement:
    """Placements in one hash, `hr:av:placed`: room → "<url> <until>"."""

    def __init__(
        self, client: Any, clock: Callable[[], float], prefix: str = "hr", ttl_s: int = TTL_S
    ) -> None:
        self._client = client
        self._clock = clock
        self.key = f"{prefix}:av:placed"
        self.ttl_s = ttl_s
        self._script = client.register_script(PLACE)
        self._rungs = client.register_script(RUNGS)

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
        value = f"{json.dumps(counts, separators=(',', ':'))} {now + ttl_s}"
        key = f"{self.key.removesuffix('placed')}rungs:{{{room}}}"
        values = await self._rungs(keys=[key], args=[origin, value, now, max(1, int(ttl_s * 3))])
        parts = []
        for text in values:
            body, _, until = str(text).rpartition(" ")
            if float(until) > now:
                parts.append({str(k): int(v) for k, v in json.loads(body).items()})
        return _sum(parts)

    async def aclose(self) -> None:
        await self._client.aclose()

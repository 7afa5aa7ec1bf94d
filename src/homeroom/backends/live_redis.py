"""The rooms' logs on Redis or Redis Cluster: a stream per room, fanned out on a sharded channel.

The guarantees are RoomLog's (backends/live.py); how they are kept: docs/live.md#many-processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError, RedisClusterException, RedisError

from homeroom.backends.live import Deliver, Entry
from homeroom.backends.redis import SOCKET_TIMEOUT_S, Client, _parse_cluster_url, eval_pipelined

log = logging.getLogger("homeroom.live")

LOG_ENTRIES = 10_000  # entries a room's log keeps (XADD MAXLEN ~): far more than a lesson makes
LOG_IDLE_TTL_S = 3600  # a room's keys go this long after its last append or heartbeat
KEEPALIVE_S = 5.0  # a subscription quiet this long is pinged; twice: the connection is dead
WRITE_BATCH = 256  # entries one pipelined round trip carries
QUEUE_MAX = 100_000  # entries waiting while Redis is away; past this, new ones are dropped
PAGE = 1000  # entries one XRANGE reads
# Room opens and catch-ups reading Redis at once; more wait their turn. redis-py's pool raises
# MaxConnectionsError past its 100 connections instead of waiting, so a gateway opening a few
# hundred rooms at once (the receiving side of a drain, a reconnect storm) failed them with 1011.
MAX_READS = 32
SLOT_REFRESH_S = 5.0  # how often the subscriptions are checked against the cluster's slot map

# KEYS: log, epoch, writers, channel. ARGV: expected epoch ('' = none), new epoch, ttl s.
# Starts a new log when the epoch is the expected one (none: a new room; or a log that lost its
# oldest entries); returns the epoch in force afterwards. The log's first entry names its epoch:
# a log whose first entry is not that marker was trimmed.
NEW_EPOCH = """
local cur, want = redis.call('GET', KEYS[2]), ARGV[1]
if want == '' then want = false end
if cur ~= want then return cur end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
local marker = '{"op":"epoch","e":"' .. ARGV[2] .. '"}'
local id = redis.call('XADD', KEYS[1], '*', 'e', marker)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SPUBLISH', KEYS[4], id .. ' ' .. marker)
return ARGV[2]
"""

# KEYS: log, epoch, writers, channel. ARGV: epoch, writer, n, entry JSON, max entries, ttl s.
# Returns the entry's id, '' for a retry of an entry already in, false if the epoch is not the
# one the writer follows (the log was lost). `n` grows with every entry a writer sends, so a
# batch sent again after a lost reply adds each entry once.
APPEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
if tonumber(ARGV[3]) <= tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0') then return '' end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('SPUBLISH', KEYS[4], id .. ' ' .. ARGV[4])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return id
"""

# KEYS: log, epoch, writers, channel. ARGV: epoch followed, id last delivered, new epoch, ttl s,
# time. A follower that delivered the entry `id` finds it gone while the epoch is the one it
# follows: a failover to a replica that had not got the last entries (docs/live.md#epoch-
# regression). Unless the entry is there after all, or the epoch already changed, this starts a
# new epoch whose log is the entries that survived (so the room keeps its chat, polls, board and
# the client ids it has seen), then a `gone` of every process that appended to it: everyone
# comes back through a new join. Returns the epoch in force afterwards.
REGRESS = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.call('GET', KEYS[2]) end
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) > 0 then return ARGV[1] end
local kept = redis.call('XRANGE', KEYS[1], '-', '+')
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
local marker = '{"op":"epoch","e":"' .. ARGV[3] .. '"}'
local id = redis.call('XADD', KEYS[1], '*', 'e', marker)
local origins, seen = {}, {}
for i = 2, #kept do
  local text = kept[i][2][2]
  redis.call('XADD', KEYS[1], '*', 'e', text)
  local ok, entry = pcall(cjson.decode, text)
  if ok and type(entry) == 'table' and type(entry.o) == 'string' and entry.o ~= ''
      and not seen[entry.o] then
    seen[entry.o] = true
    origins[#origins + 1] = entry.o
  end
end
for _, origin in ipairs(origins) do
  redis.call('XADD', KEYS[1], '*', 'e',
    '{"op":"gone","g":' .. cjson.encode(origin) .. ',"t":' .. ARGV[5] .. ',"o":""}')
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SPUBLISH', KEYS[4], id .. ' ' .. marker)
return ARGV[3]
"""

StreamId = tuple[int, int]


class LogLost(Exception):
    """The log a replica follows is gone (a new epoch, or trimmed past what it has)."""


def _sid(text: str) -> StreamId:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Follow:
    room: str
    deliver: Deliver
    channel: str
    epoch: str = ""
    last: StreamId = (0, 0)
    buffer: list[tuple[StreamId, str]] | None = field(default_factory=list)  # None: live
    feed: _Feed | None = None


class _Feed:
    """One subscription connection to one Redis node; it never reconnects by itself."""

    def __init__(self, owner: RedisLog, key: tuple[str, int], client: Redis) -> None:
        self.owner, self.key, self.client = owner, key, client
        self.pubsub: PubSub = client.pubsub()
        self.confirm: dict[str, asyncio.Future[None]] = {}
        self.channels: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.connect()  # type: ignore[no-untyped-call]
        self.task = asyncio.create_task(self._read())

    async def subscribe(self, channel: str) -> None:
        """SSUBSCRIBE, and wait for Redis to confirm: messages published after that come here."""
        confirmed = self.confirm[channel] = asyncio.get_running_loop().create_future()
        self.channels.add(channel)
        await self.pubsub.ssubscribe(channel)
        await asyncio.wait_for(confirmed, self.owner.timeout_s * 2)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        with contextlib.suppress(RedisError, OSError):
            await self.pubsub.sunsubscribe(channel)

    async def _read(self) -> None:
        quiet = 0
        try:
            while True:
                message = await self.pubsub.get_message(timeout=KEEPALIVE_S)
                if message is None:
                    quiet += 1
                    if quiet >= 2:
                        raise ConnectionError("subscription does not answer")
                    await self.pubsub.ping()
                    continue
                quiet = 0
                self._message(message)
        except (RedisError, OSError, RuntimeError) as exc:
            log.warning("room log: subscription to %s:%s lost: %s", *self.key, exc)
        finally:
            self.owner._feed_lost(self)

    def _message(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], str(message.get("channel"))
        if kind == "smessage":
            self.owner._received(channel, message["data"])
        elif kind == "ssubscribe":
            confirmed = self.confirm.pop(channel, None)
            if confirmed is None:  # subscribed again behind our back: catch up
                self.owner._resubscribed(channel)
            elif not confirmed.done():
                confirmed.set_result(None)
        elif kind == "sunsubscribe" and channel in self.channels:  # e.g. its slot moved
            self.channels.discard(channel)
            self.owner._slots = []  # read the slot map again before subscribing
            self.owner._unsubscribed(channel)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self.pubsub.aclose()
        with contextlib.suppress(RedisError, OSError, RuntimeError):
            await self.client.aclose()


class RedisLog:
    """A RoomLog on one Redis server or a Redis Cluster (docs/live.md#many-processes).

    Keys of a room share a hash tag, so each step is one script on one cluster slot:

        hr:{lr:<room>}:log     stream: the room's entries, each a JSON field `e`; the first one
                               is the marker of the epoch the log belongs to
        hr:{lr:<room>}:epoch   the epoch
        hr:{lr:<room>}:w       hash: writer → the last entry number it added (exactly once)
        hr:{lr:<room>}:ch      sharded channel: "<stream id> <json>" of each entry added
        hr:live:proc:<origin>  a gateway process's heartbeat, with a short TTL

    `append` queues; one writer task sends the queue in order, one APPEND script per entry,
    pipelined, and sends a batch again (once added, whatever happens) until Redis answers.
    `open` subscribes, then reads the epoch and the history; what arrives meanwhile is
    buffered and delivered after it, by stream id, so nothing is missed or repeated. A lost
    subscription is made again and caught up from the stream. A log that lost entries this
    replica needs is *lost* here: `deliver` gets `{"op": "lost"}` and the room is no longer
    followed; the hub lets its copy go and its clients reconnect to the room's new epoch.
    A replica opening a log whose oldest entries were trimmed cannot rebuild the room, so it
    starts a new epoch, and every replica of the old one loses it.
    """

    def __init__(
        self,
        client: Client,
        connect: Callable[[str, int, str], Redis],
        *,
        prefix: str = "hr",
        max_entries: int = LOG_ENTRIES,
        idle_ttl_s: int = LOG_IDLE_TTL_S,
        timeout_s: float = SOCKET_TIMEOUT_S,
        epoch: Callable[[], str] = lambda: secrets.token_hex(8),
        slot_refresh_s: float = SLOT_REFRESH_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._connect = connect  # a subscription client for one node: host, port, client name
        self.prefix, self.max_entries, self.idle_ttl_s = prefix, max_entries, idle_ttl_s
        self.timeout_s = timeout_s
        self._new_epoch_id = epoch
        self.writer = secrets.token_hex(8)  # this replica, in the rooms' writers hashes
        self._n = 0
        self._follows: dict[str, _Follow] = {}  # by room
        self._channels: dict[str, _Follow] = {}  # by channel
        self._feeds: dict[tuple[str, int], _Feed] = {}
        self._starting: dict[tuple[str, int], asyncio.Future[_Feed]] = {}  # being connected
        self._queue: deque[tuple[str, str, int, str]] = deque()  # room, epoch, n, json
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reads = asyncio.Semaphore(MAX_READS)
        self._refreshed = 0.0
        self._closed = False
        self._append_script = client.register_script(APPEND)
        self._epoch_script = client.register_script(NEW_EPOCH)
        self._regress_script = client.register_script(REGRESS)
        self.slot_refresh_s = slot_refresh_s
        self._clock = clock
        self._slots: list[tuple[int, int, str, int]] = []  # first, last, host, port of primary
        self._watch: asyncio.Task[None] | None = None
        self._slots_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, prefix: str = "hr", **kwargs: Any) -> RedisLog:
        """`redis://HOST:PORT[/DB]` or `redis+cluster://[USER:PASSWORD@]HOST:PORT,...`."""
        timeout = kwargs.get("timeout_s", SOCKET_TIMEOUT_S)
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        }
        feed_options = {**options, "retry": Retry(NoBackoff(), 0), "socket_keepalive": True}
        if url.startswith("redis+cluster://"):
            username, password, nodes = _parse_cluster_url(url)
            cluster = RedisCluster(
                startup_nodes=nodes, username=username, password=password, **options
            )

            def connect(host: str, port: int, name: str) -> Redis:
                return Redis(
                    host=host,
                    port=port,
                    username=username,
                    password=password,
                    client_name=name,
                    **feed_options,
                )

            return cls(cluster, connect, prefix=prefix, **kwargs)
        if url.startswith("redis://"):
            single = Redis.from_url(url, **options)
            return cls(
                single,
                lambda host, port, name: Redis.from_url(url, client_name=name, **feed_options),
                prefix=prefix,
                **kwargs,
            )
        scheme = url.partition("://")[0]
        raise ValueError(f"not a Redis URL: scheme {scheme!r}, expected redis or redis+cluster")

    # -- keys -------------------------------------------------------------------------------

    def _keys(self, room: str) -> list[str]:
        tag = f"{self.prefix}:{{lr:{room}}}"
        return [f"{tag}:log", f"{tag}:epoch", f"{tag}:w", f"{tag}:ch"]

    def heartbeat_key(self, origin: str) -> str:
        return f"{self.prefix}:live:proc:{origin}"

    # -- RoomLog ----------------------------------------------------------------------------

    async def open(self, room: str, deliver: Deliver) -> tuple[str, list[Entry]]:
        await self.close(room)
        keys = self._keys(room)
        follow = self._follows[room] = self._channels[keys[3]] = _Follow(room, deliver, keys[3])
        try:
            async with self._reads:
                await self._subscribe(follow)
                history = await self._read_history(follow, keys)
        except BaseException:
            self._forget(follow)
            raise
        asyncio.get_running_loop().call_soon(self._flush, follow)
        self._start_watch()
        return follow.epoch, history

    def append(self, room: str, entry: Entry) -> None:
        follow = self._follows.get(room)
        if follow is None or not follow.epoch:
            log.warning("room log: %s is not open here, entry dropped", room)
            return
        if len(self._queue) >= QUEUE_MAX:
            log.error("room log: Redis is away and the queue is full, entry dropped")
            return
        self._n += 1
        self._queue.append((room, follow.epoch, self._n, json.dumps(entry, separators=(",", ":"))))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever())
        self._wake.set()

    async def close(self, room: str) -> None:
        follow = self._follows.get(room)
        if follow is None:
            return
        feed = follow.feed
        self._forget(follow)
        if feed is not None:
            await feed.unsubscribe(follow.channel)

    async def aclose(self) -> None:
        self._closed = True
        with contextlib.suppress(TimeoutError):  # what is queued (leaves, mostly) goes out first
            await asyncio.wait_for(self._drained(), self.timeout_s)
        for task in [self._writer, self._watch, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._follows.clear()
        self._channels.clear()
        for feed in list(self._feeds.values()):
            await feed.aclose()
        self._feeds.clear()
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await self._client.aclose()

    async def _drained(self) -> None:
        while self._queue and self._writer is not None and not self._writer.done():
            await asyncio.sleep(0.01)

    # -- heartbeats -------------------------------------------------------------------------

    async def beat(self, origin: str, ttl_s: float) -> None:
        """This gateway process is alive for `ttl_s`; the rooms it follows stay kept too."""
        now = time.monotonic()
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self.heartbeat_key(origin), "1", px=max(1, round(ttl_s * 1000)))
        if now - self._refreshed >= self.idle_ttl_s / 4:
            self._refreshed = now
            for room in self._follows:
                for key in self._keys(room)[:3]:
                    pipe.expire(key, self.idle_ttl_s)
        await pipe.execute()

    async def alive(self, origins: Iterable[str]) -> set[str]:
        """Which of `origins` have a heartbeat."""
        wanted = sorted(set(origins))
        if not wanted:
            return set()
        pipe = self._client.pipeline(transaction=False)
        for origin in wanted:
            pipe.exists(self.heartbeat_key(origin))
        found = await pipe.execute()
        return {origin for origin, n in zip(wanted, found, strict=True) if n}

    # -- following --------------------------------------------------------------------------

    async def _subscribe(self, follow: _Follow) -> None:
        feed = await self._feed_for(follow.channel)
        follow.feed = feed
        await feed.subscribe(follow.channel)

    async def _feed_for(self, channel: str) -> _Feed:
        if isinstance(self._client, RedisCluster):
            key = self._owner(channel) or await self._slots_for(channel)
        else:
            kwargs = self._client.connection_pool.connection_kwargs
            key = (str(kwargs.get("host")), int(kwargs.get("port", 6379)))
        feed = self._feeds.get(key)
        if feed is not None and feed.task is not None and not feed.task.done():
            return feed
        # One connection a node: the rooms opening while it connects wait for that one (and
        # share its failure) instead of each making its own, of which all but the last would
        # stay open, unused, and a restarted gateway opening its rooms at once made hundreds.
        starting = self._starting.get(key)
        if starting is None:
            starting = self._starting[key] = asyncio.ensure_future(self._start_feed(key))
            starting.add_done_callback(lambda _: self._starting.pop(key, None))
        return await asyncio.shield(starting)

    async def _start_feed(self, key: tuple[str, int]) -> _Feed:
        feed = _Feed(self, key, self._connect(*key, f"hr-live-{self.writer}"))
        try:
            await feed.start()
        except BaseException:
            await feed.aclose()
            raise
        if self._closed:  # closed while it connected: nothing may follow on it any more
            await feed.aclose()
            raise ConnectionError("the room log is closed")
        self._feeds[key] = feed
        return feed

    # -- the cluster's slot map: subscriptions follow a failover --------------------------------

    def _owner(self, channel: str) -> tuple[str, int] | None:
        """The primary serving `channel`'s slot in the slot map last read, if any."""
        slot = key_slot(channel.encode())
        for first, last, host, port in self._slots:
            if first <= slot <= last:
                return host, port
        return None

    async def _slots_for(self, channel: str) -> tuple[str, int]:
        """The owner of `channel`'s slot, reading the slot map once for every room that asks at
        the same time (after a failover, all of a node's rooms do)."""
        async with self._slots_lock:
            return self._owner(channel) or await self._refresh_slots(channel)

    async def _refresh_slots(self, channel: str | None = None) -> tuple[str, int]:
        """Read CLUSTER SLOTS from the first node that answers (the nodes the client knows,
        then those it started from); return the owner of `channel`'s slot if one is given.

        redis-py's cluster client refreshes its own map only after one of its commands failed,
        and a subscription is a connection of this module's: so the map the subscriptions go
        by is read here, after a lost subscription, an unsolicited `sunsubscribe`, and every
        `slot_refresh_s` (docs/live.md#a-redis-primary-dies).
        """
        assert isinstance(self._client, RedisCluster)
        await self._client.initialize()
        nodes = [*self._client.get_nodes(), *self._client.startup_nodes]
        error: Exception | None = None
        for node in nodes:
            try:
                reply = await asyncio.wait_for(
                    node.execute_command("CLUSTER", "SLOTS"), self.timeout_s
                )
            except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
                error = exc
                continue
            slots = []
            for first, last, primary, *_ in reply:
                host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
                slots.append((int(first), int(last), host or str(node.host), int(primary[1])))
            if slots:
                self._slots = slots
                break
        else:
            raise RedisClusterException(f"no node answers CLUSTER SLOTS: {error}")
        if channel is None:
            return "", 0
        owner = self._owner(channel)
        if owner is None:
            raise RedisClusterException(f"no node serves {channel}")
        return owner

    async def _watch_slots(self) -> None:
        """Every `slot_refresh_s`: a followed room whose slot moved to another primary (a
        failover that left the old one up, without a `sunsubscribe`) subscribes again there."""
        while True:
            await asyncio.sleep(self.slot_refresh_s)
            try:
                await self._refresh_slots()
            except (RedisError, RedisClusterException, OSError) as exc:
                log.warning("room log: cannot read the cluster's slot map: %s", exc)
                continue
            self._move_followers()

    def _move_followers(self) -> None:
        for follow in list(self._follows.values()):
            feed = follow.feed
            if feed is None or not follow.epoch or follow.buffer is not None:
                continue
            owner = self._owner(follow.channel)
            if owner is not None and owner != feed.key:
                log.warning(
                    "room log: %s moved from %s:%s to %s:%s", follow.room, *feed.key, *owner
                )
                self._spawn(feed.unsubscribe(follow.channel))
                self._unsubscribed(follow.channel)

    def _start_watch(self) -> None:
        if isinstance(self._client, RedisCluster) and (self._watch is None or self._watch.done()):
            self._watch = asyncio.create_task(self._watch_slots())

    async def _read_history(self, follow: _Follow, keys: list[str]) -> list[Entry]:
        """The epoch and the entries so far; a log that lost its oldest entries starts anew."""
        expected = ""
        for _ in range(5):
            epoch = await self._epoch_script(
                keys, [expected, self._new_epoch_id(), self.idle_ttl_s]
            )
            if not epoch:  # it went between two steps: start again
                expected = ""
                continue
            raw = await self._range(keys[0], "-")
            marker = json.loads(raw[0][1]) if raw else {}
            if marker == {"op": "epoch", "e": epoch}:
                follow.epoch, follow.last = epoch, raw[-1][0]
                return [json.loads(text) for _, text in raw[1:]]
            log.warning("room log: %s lost its oldest entries: a new epoch", follow.room)
            expected = str(epoch)
        raise LogLost(f"room {follow.room}: no stable epoch")

    async def _range(self, key: str, start: str) -> list[tuple[StreamId, str]]:
        """Every entry from `start` ("-" or "(<id>"), a page at a time."""
        out: list[tuple[StreamId, str]] = []
        while True:
            page: list[tuple[str, dict[str, str]]] = await self._client.xrange(
                key, start, "+", count=PAGE
            )  # type: ignore[assignment]  # decode_responses: str
            out += [(_sid(sid), fields["e"]) for sid, fields in page]
            if len(page) < PAGE:
                return out
            start = "(" + page[-1][0]

    def _flush(self, follow: _Follow) -> None:
        """Deliver what arrived while the history was read, and go live."""
        if self._follows.get(follow.room) is not follow or follow.buffer is None:
            return
        buffered, follow.buffer = follow.buffer, None
        for sid, text in buffered:
            if not self._take(follow, sid, text):
                return

    def _received(self, channel: str, data: str) -> None:
        follow = self._channels.get(channel)
        if follow is None:
            return
        sid_text, _, text = data.partition(" ")
        if follow.buffer is not None:
            follow.buffer.append((_sid(sid_text), text))
        else:
            self._take(follow, _sid(sid_text), text)

    def _take(self, follow: _Follow, sid: StreamId, text: str) -> bool:
        """Deliver one entry unless already delivered; False when the log turned out lost."""
        if sid <= follow.last:
            return True
        follow.last = sid
        entry = json.loads(text)
        if entry.get("op") == "epoch":
            if entry.get("e") == follow.epoch:
                return True
            self._lose(follow)
            return False
        follow.deliver(follow.room, entry)
        return True

    def _lose(self, follow: _Follow) -> None:
        if self._follows.get(follow.room) is not follow:
            return
        log.warning("room log: %s was lost here (epoch %s)", follow.room, follow.epoch)
        feed = follow.feed
        self._forget(follow)
        if feed is not None:
            self._spawn(feed.unsubscribe(follow.channel))
        follow.deliver(follow.room, {"op": "lost"})

    def _forget(self, follow: _Follow) -> None:
        if self._follows.get(follow.room) is follow:
            del self._follows[follow.room]
            self._channels.pop(follow.channel, None)

    # -- lost subscriptions -----------------------------------------------------------------

    def _feed_lost(self, feed: _Feed) -> None:
        if self._closed:
            return
        if self._feeds.get(feed.key) is feed:
            del self._feeds[feed.key]
        self._slots = []  # the node may be gone: read the slot map again before subscribing
        self._spawn(feed.aclose())
        for follow in list(self._follows.values()):
            if follow.feed is feed and follow.epoch:
                self._unsubscribed(follow.channel)

    def _unsubscribed(self, channel: str) -> None:
        """A followed room's subscription is gone: subscribe again, then catch up."""
        follow = self._channels.get(channel)
        if follow is None or not follow.epoch:
            return
        follow.feed = None
        if follow.buffer is None:
            follow.buffer = []
            self._spawn(self._recover(follow))

    def _resubscribed(self, channel: str) -> None:
        follow = self._channels.get(channel)
        if follow is not None and follow.epoch and follow.buffer is None:
            follow.buffer = []
            self._spawn(self._catch_up_until_done(follow, subscribe=False))

    async def _recover(self, follow: _Follow) -> None:
        await self._catch_up_until_done(follow, subscribe=True)

    async def _catch_up_until_done(self, follow: _Follow, *, subscribe: bool) -> None:
        backoff = 0.05
        while self._follows.get(follow.room) is follow:
            try:
                async with self._reads:
                    if subscribe:
                        await self._subscribe(follow)
                        subscribe = False
                    await self._catch_up(follow)
                return
            except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
                log.warning("room log: %s: cannot catch up yet: %s", follow.room, exc)
                if follow.feed is None:  # perhaps the wrong node (MOVED): read the map again
                    self._slots = []
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _catch_up(self, follow: _Follow) -> None:
        keys = self._keys(follow.room)
        last = "-".join(map(str, follow.last))
        pipe = self._client.pipeline(transaction=False)
        pipe.get(keys[1])
        pipe.xrange(keys[0], "-", "+", count=1)
        pipe.xrange(keys[0], last, last)
        epoch, first, there = await pipe.execute()
        if epoch != follow.epoch or not first or _sid(first[0][0]) > follow.last:
            self._lose(follow)  # a new epoch, or trimmed past what this replica has
            return
        if not there:  # delivered here, gone from Redis: a failover lost the log's last entries
            await self._regressed(follow, keys, last)
            return
        missed = await self._range(keys[0], "(" + last)
        if self._follows.get(follow.room) is not follow:
            return
        buffered = follow.buffer or []
        follow.buffer = None
        for sid, text in [*missed, *buffered]:
            if not self._take(follow, sid, text):
                return

    async def _regressed(self, follow: _Follow, keys: list[str], last: str) -> None:
        """The log no longer has an entry this replica delivered, yet keeps its epoch: its
        clients saw events that the others will number differently. Start a new epoch (once,
        whoever notices first), and lose the old one here (docs/live.md#epoch-regression)."""
        epoch = await self._regress_script(
            keys,
            [follow.epoch, last, self._new_epoch_id(), self.idle_ttl_s, repr(self._clock())],
        )
        if epoch == follow.epoch:  # the entry was there after all: catch up as usual
            follow.buffer = follow.buffer or []
            await self._catch_up(follow)
            return
        log.warning(
            "room log: %s lost entries up to %s in a failover: new epoch %s",
            follow.room,
            last,
            epoch,
        )
        self._lose(follow)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the writer -------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue[i] for i in range(min(WRITE_BATCH, len(self._queue)))]
                try:
                    replies = await self._send(batch)
                except (RedisError, RedisClusterException, OSError) as exc:
                    log.warning(
                        "room log: cannot append yet (%d queued): %s", len(self._queue), exc
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.05
                for _ in batch:
                    self._queue.popleft()
                for (room, epoch, _, _), reply in zip(batch, replies, strict=True):
                    follow = self._follows.get(room)
                    if reply is None and follow is not None and follow.epoch == epoch:
                        self._lose(follow)  # Redis forgot the log this replica follows

    async def _send(self, batch: list[tuple[str, str, int, str]]) -> list[Any]:
        """One pipelined round trip (one per node on a cluster): `eval_pipelined`."""
        calls = [
            (self._keys(room), [epoch, self.writer, n, text, self.max_entries, self.idle_ttl_s])
            for room, epoch, n, text in batch
        ]
        return await eval_pipelined(self._client, self._append_script, calls)

"""Fixtures of the gate-store contract: one fresh store per test, on every backend.

`memory` runs in the fast tier. `redis` uses the Redis on 127.0.0.1:6379 when it answers (a
private server otherwise) and `cluster` one private 3-primary Redis Cluster per session; both are
marked slow. Each Redis test gets its own key prefix, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from homeroom.backends.gate import GateStore
from homeroom.backends.memory import MemoryGateStore
from homeroom.backends.redis import RedisGateStore
from tests.redis_servers import RedisClusterProcesses, RedisServer, ping

SHARED_REDIS_PORT = 6379


class FakeClock:
    """The memory store's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """A store under test, and what a test needs around it."""

    kind: str  # memory, redis or cluster
    store: GateStore
    url: str = ""
    prefix: str = ""
    clock: FakeClock | None = None
    opened: list[GateStore] = field(default_factory=list)

    def peer(self) -> GateStore:
        """Another process's view of the same state (the memory store is its own peer)."""
        if self.clock is not None:
            return self.store
        store = RedisGateStore.from_url(self.url, prefix=self.prefix)
        self.opened.append(store)
        return store

    async def elapse(self, seconds: float) -> None:
        """Let `seconds` pass: the fake clock moves, or real time passes."""
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)

    async def eventually(self, check: Callable[[], Awaitable[bool]], within_s: float) -> None:
        """Poll `check` while time passes, until it holds; fail after `within_s`."""
        step, waited = 0.02, 0.0
        while not await check():
            if waited > within_s:
                raise AssertionError(f"still false after {within_s} s")
            await self.elapse(step)
            waited += step

    async def admin(self) -> Redis | RedisCluster:
        """A plain client on the same server(s), for set-up and clean-up."""
        if self.kind == "cluster":
            hosts = self.url.removeprefix("redis+cluster://").split(",")
            host, _, port = hosts[0].rpartition(":")
            return RedisCluster(host=host, port=int(port), decode_responses=True)
        return Redis.from_url(self.url, decode_responses=True)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if ping(SHARED_REDIS_PORT):
        yield f"redis://127.0.0.1:{SHARED_REDIS_PORT}/0"
        return
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with RedisClusterProcesses(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster.url


async def _open(request: pytest.FixtureRequest, kind: str) -> AsyncIterator[Backend]:
    if kind == "memory":
        clock = FakeClock()
        yield Backend(kind, MemoryGateStore(clock=clock), clock=clock)
        return
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    prefix = f"hr-test-{uuid.uuid4().hex[:12]}"
    backend = Backend(kind, RedisGateStore.from_url(url, prefix=prefix), url=url, prefix=prefix)
    backend.opened.append(backend.store)
    try:
        yield backend
    finally:
        for store in backend.opened:
            await store.aclose()
        await _delete_prefix(backend)


async def _delete_prefix(backend: Backend) -> None:
    admin = await backend.admin()
    try:
        keys = [key async for key in admin.scan_iter(match=f"{backend.prefix}:*", count=1000)]
        for key in keys:
            await admin.unlink(key)
    finally:
        await admin.aclose()


ALL = [
    pytest.param("memory"),
    pytest.param("redis", marks=pytest.mark.slow),
    pytest.param("cluster", marks=pytest.mark.slow),
]
REDIS_ONLY = ALL[1:]


@pytest.fixture(params=ALL)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async for opened in _open(request, request.param):
        yield opened


@pytest.fixture(params=REDIS_ONLY)
async def redis_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async for opened in _open(request, request.param):
        yield opened


@pytest.fixture
def store(backend: Backend) -> GateStore:
    return backend.store

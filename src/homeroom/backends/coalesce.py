"""Coalescing: concurrent calls that share a key become one backend round trip, order kept.

While a batch for a key is in flight, new calls for that key wait and form the next batch, so
under load one call serves many requests and when idle a call goes out at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
A = TypeVar("A")
R = TypeVar("R")


class Coalescer(Generic[K, A, R]):
    def __init__(
        self, run: Callable[[K, list[A]], Awaitable[list[R]]], max_batch: int = 1024
    ) -> None:
        self._run = run
        self._max = max_batch
        self._pending: dict[K, list[tuple[A, asyncio.Future[R]]]] = {}
        self._running: set[K] = set()

    async def call(self, key: K, arg: A) -> R:
        """Run `arg` in the next batch for `key`; its own result, or the batch's exception."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((arg, fut))
        if key not in self._running:
            self._running.add(key)
            asyncio.get_running_loop().create_task(self._drain(key))
        return await fut

    async def _drain(self, key: K) -> None:
        try:
            while self._pending.get(key):
                queue = self._pending[key]
                batch, self._pending[key] = queue[: self._max], queue[self._max :]
                try:
                    results = await self._run(key, [arg for arg, _ in batch])
                except Exception as exc:  # every waiter of the batch learns why
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._running.discard(key)
            if not self._pending.get(key):
                self._pending.pop(key, None)

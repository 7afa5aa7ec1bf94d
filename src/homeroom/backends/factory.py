"""Choose the gate store from a URL: configuration, not code, decides the scale (ARCHITECTURE.md)."""

from __future__ import annotations

from homeroom.backends.gate import GateStore
from homeroom.backends.memory import MemoryGateStore
from homeroom.backends.redis import RedisGateStore

SCHEMES = ("memory://", "redis://", "redis+cluster://")


def open_gate_store(url: str) -> GateStore:
    """`memory://` (one process), `redis://HOST:PORT[/DB]` or `redis+cluster://HOST:PORT,...`.

    Nothing is connected yet: the first call on the store does, and reports BackendUnavailable.
    """
    if url.startswith("memory://"):
        return MemoryGateStore()
    if url.startswith(("redis://", "redis+cluster://")):
        return RedisGateStore.from_url(url)
    # Name the scheme only: the rest of a URL may hold a password.
    what = f"scheme {url.partition('://')[0]!r}" if "://" in url else "a value that is not a URL"
    raise ValueError(
        f"unsupported gate store URL ({what}): expected one of {', '.join(SCHEMES)},"
        " for example memory:// or redis://127.0.0.1:6379/0"
    )

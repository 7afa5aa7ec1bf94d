"""A small keep-alive HTTP/1.1 load generator for the benchmarks (loopback only, bounded).

Runs in its own process (`python bench/loadgen.py SPEC.json`), pinned by the caller, and prints
one JSON result: responses by status, elapsed time, and, if asked, the bodies of some responses.
Each connection sends one request at a time; requests are taken from a shared list in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

MAX_DURATION_S = 600


def _allowed(host: str) -> None:
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise SystemExit(f"loadgen: refusing non-loopback target {host}")


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    cursor: list[int],
    stop_at: float,
    statuses: Counter[int],
    keep: list[bytes],
    keep_max: int,
    order: list[tuple[int, int]],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < stop_at:
            i = cursor[0]
            if i >= len(requests):
                return
            cursor[0] = i + 1
            writer.write(requests[i])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            statuses[status] += 1
            if len(keep) < keep_max:
                keep.append(body)
            order.append((i, status))
    except (ConnectionError, asyncio.IncompleteReadError):
        statuses[-1] += 1
    finally:
        writer.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    targets = [(t["host"], int(t["port"])) for t in spec["targets"]]
    for host, _ in targets:
        _allowed(host)
    raw = [r.encode("latin-1") for r in spec["requests"]]
    repeat = int(spec.get("repeat", 1))
    requests = raw * repeat
    connections = int(spec.get("connections", 64))
    duration = min(float(spec.get("duration_s", 10)), MAX_DURATION_S)
    statuses: Counter[int] = Counter()
    keep: list[bytes] = []
    order: list[tuple[int, int]] = []
    cursor = [0]
    start = time.monotonic()
    stop_at = start + duration
    tasks = [
        _connection(
            *targets[c % len(targets)],
            requests,
            cursor,
            stop_at,
            statuses,
            keep,
            int(spec.get("keep_bodies", 0)),
            order,
        )
        for c in range(connections)
    ]
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    out: dict[str, Any] = {
        "elapsed_s": elapsed,
        "sent": cursor[0],
        "statuses": {str(k): v for k, v in statuses.items()},
        "bodies": [b.decode("latin-1") for b in keep],
    }
    if spec.get("keep_order"):
        out["order"] = order
    return out


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()

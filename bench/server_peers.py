"""The homeroom app under other HTTP servers, the peers of `homeroom run` (docs/server.md).

`python bench/server_peers.py SERVER` serves `create_app(load_settings())` on HOMEROOM_HOST and
HOMEROOM_PORT with SERVER: `uvicorn` (uvicorn + httptools as homeroom ran it before the door,
with no deadline for a head), `hypercorn` (h11, its keep-alive timer bounds a head), or `granian`
(Rust, hyper's header read timeout; GRANIAN_HTTP1_HEADER_READ_TIMEOUT in ms, default 30,000).
Used by bench/gate_bench.py and bench/door_bench.py; not by homeroom itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("uvicorn", "hypercorn", "granian")


def command(name: str) -> list[str] | None:
    """The command that serves the app under `name`: one of SERVERS, or "homeroom" (None: the
    caller's `homeroom run`)."""
    if name == "homeroom":
        return None
    return [str(Path(sys.executable).with_name("python")), str(Path(__file__).resolve()), name]


def app() -> Any:
    """The application, built from the HOMEROOM_* environment (granian's factory)."""
    from homeroom.app import create_app
    from homeroom.config import load_settings

    return create_app(load_settings())


def _uvicorn(host: str, port: int, level: str) -> None:
    import uvicorn

    config = uvicorn.Config(
        app(),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=level,
        server_header=False,
        backlog=4096,
    )
    uvicorn.Server(config).run()


def _hypercorn(host: str, port: int, level: str) -> None:
    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.backlog = 4096
    config.accesslog = None
    config.loglevel = level.upper()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(app(), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    uvloop.run(main())


def _granian(host: str, port: int, level: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    argv = [
        str(Path(sys.executable).with_name("granian")),
        "--interface", "asgi", "--host", host, "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "1", "--no-ws", "--backlog", "4096",
        "--log-level", level, "--factory", "bench.server_peers:app",
    ]  # fmt: skip
    os.execve(argv[0], argv, env)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVERS:
        print(f"usage: server_peers.py {{{','.join(SERVERS)}}}", file=sys.stderr)
        return 2
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]
    host = os.environ.get("HOMEROOM_HOST", "127.0.0.1")
    port = int(os.environ.get("HOMEROOM_PORT", "8000"))
    level = os.environ.get("HOMEROOM_LOG_LEVEL", "warning")
    {"uvicorn": _uvicorn, "hypercorn": _hypercorn, "granian": _granian}[argv[0]](host, port, level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

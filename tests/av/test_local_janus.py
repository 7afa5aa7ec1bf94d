"""`homeroom janus`, the Janus of `make run`: its settings for the gateway, its secrets kept, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from homeroom.av.client import JanusClient
from tests.gate_process import HOMEROOM
from tests.janus_servers import need_janus
from tests.redis_servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def started(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    proc = subprocess.Popen(
        [HOMEROOM, "janus", "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL
    )
    env = folder / ".homeroom" / "janus.env"
    deadline = time.monotonic() + 40
    while not (env.exists() and env.read_text().count("\n") == 3):
        assert proc.poll() is None, "homeroom janus exited"
        assert time.monotonic() < deadline, "no .homeroom/janus.env"
        time.sleep(0.2)
    return proc, dict(line.split("=", 1) for line in env.read_text().split())


def stopped(proc: subprocess.Popen[bytes], folder: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not (folder / ".homeroom" / "janus.env").exists()  # nothing stale for the next run


async def test_homeroom_janus_gives_the_gateway_its_settings_and_keeps_its_secrets(
    tmp_path: Path,
) -> None:
    need_janus()
    port = free_port()
    proc, env = started(tmp_path, port)
    try:
        assert env["HOMEROOM_JANUS_URLS"] == f"ws://127.0.0.1:{port}"
        kept = tmp_path / ".homeroom" / "janus-secrets"
        assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
        # the secret written for the gateway opens a session (Janus refuses one without it)
        async with await JanusClient.connect(
            env["HOMEROOM_JANUS_URLS"], env["HOMEROOM_JANUS_API_SECRET"]
        ) as client:
            session = await client.create_session()
            await session.destroy()
    finally:
        stopped(proc, tmp_path)
    # a second run keeps the secrets the first made
    proc, again = started(tmp_path, port)
    try:
        assert again == env
    finally:
        stopped(proc, tmp_path)

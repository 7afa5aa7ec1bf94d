"""Real Janus instances for the tests: Debian's janus on a configuration homeroom writes, on free ports."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from homeroom.av.janusconfig import JanusSettings
from homeroom.av.process import JanusProcess
from tests.redis_servers import free_port


def need_janus() -> None:
    """Skip, saying why, where Debian's janus is not installed (`make test` installs it)."""
    if shutil.which("janus") is None and not Path("/usr/bin/janus").exists():
        pytest.skip("Debian's janus is not installed: `scripts/need janus` (make test does it)")


def settings(**changes: Any) -> JanusSettings:
    """A fresh instance's settings: its own folder, ports and secrets."""
    values: dict[str, Any] = {
        "folder": Path(tempfile.mkdtemp(prefix="homeroom-janus-")),
        "api_secret": secrets.token_urlsafe(24),
        "admin_key": secrets.token_urlsafe(24),
        "ws_port": free_port(),
        "rtp_ports": (42_000, 42_999),
    }
    return JanusSettings(**{**values, **changes})


@contextmanager
def janus_instance(**changes: Any) -> Iterator[JanusProcess]:
    """A started Janus, stopped (and its folder removed) at the end."""
    need_janus()
    process = JanusProcess(settings(**changes))
    try:
        yield process.start()
    finally:
        process.stop()
        shutil.rmtree(process.settings.folder, ignore_errors=True)

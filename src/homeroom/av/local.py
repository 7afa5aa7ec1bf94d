"""`homeroom janus`: one Janus for `make run`, its secrets kept in .homeroom, its settings written for `homeroom live` (docs/av.md#make-run).

The secrets are made once and kept in `.homeroom/janus-secrets` (mode 0600), so that a restart
keeps them; once Janus answers, `.homeroom/janus.env` holds the three settings `homeroom live`
needs (`HOMEROOM_JANUS_URLS`, `_API_SECRET`, `_ADMIN_KEY`), which the Makefile reads before
starting the gateway. The process stays in the foreground and stops Janus on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from pathlib import Path

from homeroom.av.janusconfig import JanusSettings
from homeroom.av.process import JanusProcess

FOLDER = Path(".homeroom")
SECRETS = FOLDER / "janus-secrets"
ENV = FOLDER / "janus.env"


def kept_secrets(path: Path = SECRETS) -> tuple[str, str]:
    """(api_secret, admin_key): those kept in `path`, else new ones, kept there (0600)."""
    try:
        found = dict(line.split("=", 1) for line in path.read_text().split())
        return found["api_secret"], found["admin_key"]
    except (OSError, ValueError, KeyError):
        pass
    api_secret, admin_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"api_secret={api_secret}\nadmin_key={admin_key}\n")
    return api_secret, admin_key


def env_lines(settings: JanusSettings) -> str:
    """What `homeroom live` needs to drive this Janus, as `NAME=value` lines."""
    return (
        f"HOMEROOM_JANUS_URLS={settings.url}\n"
        f"HOMEROOM_JANUS_API_SECRET={settings.api_secret}\n"
        f"HOMEROOM_JANUS_ADMIN_KEY={settings.admin_key}\n"
    )


def run(port: int = 8188, folder: Path = FOLDER / "janus") -> int:
    """Start Janus, write `.homeroom/janus.env`, wait for SIGTERM or SIGINT, stop it."""
    api_secret, admin_key = kept_secrets()
    folder.mkdir(parents=True, exist_ok=True)
    settings = JanusSettings(folder.resolve(), api_secret, admin_key, ws_port=port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ENV.unlink(missing_ok=True)
    janus = JanusProcess(settings).start()
    try:
        fd = os.open(ENV, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(env_lines(settings))
        print(f"homeroom: Janus on {settings.url} (log: {janus.log_path})", flush=True)
        while not stop.wait(1.0):
            if not janus.running():
                print(f"homeroom: Janus stopped:\n{janus.log_tail()}", flush=True)
                return 1
        return 0
    finally:
        ENV.unlink(missing_ok=True)
        janus.stop()

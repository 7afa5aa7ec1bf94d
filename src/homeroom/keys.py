"""The deployment's keys: where each secret that several processes must share comes from.

A key is derived, with a label of its own, from HOMEROOM_SECRET_KEYS when set (every process of
a deployment then holds the same one, and no two uses share a key); without it, the embedded
default keeps a random key in `.homeroom/`, created once, so that the processes `make run`
starts in one folder agree and a restart keeps it (docs/configuration.md#decisions).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from homeroom.config import Settings

LIVE_SECRET_FILE = Path(".homeroom") / "live-secret"
SESSION_SECRET_FILE = Path(".homeroom") / "session-secret"


def session_key(settings: Settings, folder: Path | None = None) -> bytes:
    """The key of sign-in session cookies (and, derived from it, of the pre-sign-in forms)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    if settings.secret_keys is not None:
        material = settings.secret_keys.get_secret_value().encode()
        return hashlib.blake2b(material, key=b"homeroom.session", digest_size=32).digest()
    path = SESSION_SECRET_FILE if folder is None else folder / SESSION_SECRET_FILE.name
    return _kept(path)


def live_join_key(settings: Settings, folder: Path | None = None) -> bytes:
    """The key of live join tokens: the school app signs them, the gateway checks them."""
    if settings.secret_keys is not None:
        material = settings.secret_keys.get_secret_value().encode()
        return hashlib.blake2b(material, key=b"homeroom.live.join", digest_size=32).digest()
    path = LIVE_SECRET_FILE if folder is None else folder / LIVE_SECRET_FILE.name
    return _kept(path)


def _kept(path: Path) -> bytes:
    """The key in `path`, made once: of two processes starting at once, one file wins."""
    with contextlib.suppress(OSError, ValueError):
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_bytes(32).hex())
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)  # atomic: the first process's key is everyone's
    finally:
        draft.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())

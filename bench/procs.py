"""The processes a bench starts: each pinned to a core, in a session of its own, all stopped on exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
from typing import Any

STARTED: list[subprocess.Popen[Any]] = []


def start(argv: list[str], cpu: str, **kwargs: Any) -> subprocess.Popen[Any]:
    """`argv` on core(s) `cpu` (taskset), kept in STARTED until `stop`; Popen's `kwargs`."""
    proc = subprocess.Popen(["taskset", "-c", cpu, *argv], start_new_session=True, **kwargs)
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen[Any], grace_s: float = 10) -> None:
    """SIGTERM its whole session, SIGKILL after `grace_s`; close its pipes."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    forget(proc)


def forget(proc: subprocess.Popen[Any]) -> None:
    """`proc` was stopped some other way: nothing to do for it at exit."""
    if proc in STARTED:
        STARTED.remove(proc)


def stop_all() -> None:
    for proc in list(STARTED):
        stop(proc, grace_s=3)


atexit.register(stop_all)

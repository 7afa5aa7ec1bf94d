"""A network namespace for WebRTC clients, joined to this machine's by a veth pair, for tests with Janus.

Janus skips loopback interfaces when it gathers ICE candidates, so media tests cannot use
127.0.0.1. Janus stays in the machine's namespace (its API on 127.0.0.1 for the test's client)
with `ice_enforce_list` naming the veth's end there; the clients (Chromium) run in the namespace,
whose only way out is the veth (its default route), with 10.214.k.2 against Janus's 10.214.k.1.
Where namespaces cannot be made, `need_namespaces()` skips the test and says why.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeroom.deploy import netns

IP = netns.IP


def _ip(*args: str) -> str:
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def need_namespaces() -> None:
    ok, why = netns.available()
    if not ok:
        pytest.skip(f"WebRTC tests need a network namespace and a veth pair: {why}")


@dataclass(frozen=True, slots=True)
class ClientNet:
    """The namespace `name`; `host_end` is the veth's end in the machine's namespace (Janus's
    ICE interface), at `host_address`; the clients are at `client_address`."""

    name: str
    host_end: str
    client_end: str
    host_address: str
    client_address: str

    def exec_prefix(self) -> list[str]:
        return [IP, "netns", "exec", self.name]

    def wrapper(self, folder: Path, program: str) -> Path:
        """An executable that runs `program` inside the namespace (Playwright's
        executable_path: it talks to Chromium over a pipe, which crosses namespaces)."""
        path = folder / f"in-{self.name}-{Path(program).name}"
        path.write_text(f'#!/bin/sh\nexec {" ".join(self.exec_prefix())} {program} "$@"\n')
        path.chmod(0o755)
        return path


def _free_octet() -> int:
    used = set(re.findall(r"10\.214\.(\d+)\.", _ip("-4", "-o", "addr")))
    for _ in range(500):
        k = secrets.randbelow(254) + 1
        if str(k) not in used:
            return k
    raise RuntimeError("no free 10.214.k.0/24")


@contextmanager
def client_namespace() -> Iterator[ClientNet]:
    """The namespace and its veth pair, removed at the end with everything still in it."""
    need_namespaces()
    ident = secrets.token_hex(3)
    k = _free_octet()
    net = ClientNet(
        name=f"hr-av-{ident}",
        host_end=f"hrav{ident}h",  # interface names: at most 15 characters
        client_end=f"hrav{ident}c",
        host_address=f"10.214.{k}.1",
        client_address=f"10.214.{k}.2",
    )
    try:
        _ip("netns", "add", net.name)
        _ip("link", "add", net.host_end, "type", "veth", "peer", "name", net.client_end)
        _ip("link", "set", net.client_end, "netns", net.name)
        _ip("addr", "add", f"{net.host_address}/24", "dev", net.host_end)
        _ip("link", "set", net.host_end, "up")
        inside = ["netns", "exec", net.name, IP]
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "addr", "add", f"{net.client_address}/24", "dev", net.client_end)
        _ip(*inside, "link", "set", net.client_end, "up")
        _ip(*inside, "route", "add", "default", "via", net.host_address)
        yield net
    finally:
        with contextlib.suppress(RuntimeError):
            for pid in _ip("netns", "pids", net.name).split():  # ours: started in it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(RuntimeError):
            _ip("netns", "delete", net.name)  # the veth pair goes with its end inside
        with contextlib.suppress(RuntimeError):
            _ip("link", "delete", net.host_end)


def chromium() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"

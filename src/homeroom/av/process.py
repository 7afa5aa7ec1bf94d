"""One Janus process: its configuration written, started, waited on until its API answers, stopped (docs/av.md#janus).

`JanusProcess(settings).start()` writes the configuration (homeroom.av.janusconfig) into
`settings.folder`, starts Debian's `janus` on it with its output in `janus.log` there, raises
its open-files limit to `settings.nofile` (`ulimit -n`: Janus needs a few files a
PeerConnection, and Debian's default of 1024 ends a class of a few hundred), and returns once
Janus answers an `info` request on its WebSocket API with the VideoRoom plugin loaded; if Janus
exits or stays silent, JanusStartError says so with the end of its log. `stop()` sends SIGTERM,
then SIGKILL after a grace time; `kill()` is SIGKILL at once (the tests of a dead instance).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from homeroom.av import janusconfig
from homeroom.av.client import SUBPROTOCOL
from homeroom.av.janusconfig import JanusSettings
from homeroom.core import janus

LOG = "janus.log"
# What Janus 1.1.2's WebSocket transport logs when `ws_ip` is held by no interface of the
# machine (127.0.0.11, routed to `lo` but not assigned, or a typo): it then listens on every
# interface, the public ones too, instead of failing.
EVERY_INTERFACE = "Falling back to no interface"


class JanusStartError(RuntimeError):
    """Janus did not start; the message has the end of its log."""


def janus_binary() -> str:
    """Debian's `janus`, or a clear error naming the fix."""
    found = shutil.which("janus") or ("/usr/bin/janus" if Path("/usr/bin/janus").exists() else None)
    if found is None:
        raise JanusStartError("no `janus` command: install Debian's janus (scripts/need janus)")
    return found


def probe(settings: JanusSettings, timeout_s: float = 2.0) -> dict[str, object] | None:
    """Janus's server_info if the API at `settings.url` answers and takes `settings.api_secret`
    (a session made and destroyed: `info` alone needs no secret, and another Janus on the same
    port would answer it), else None."""
    talk = janus.Conversation(settings.api_secret)

    def ask(ws: ClientConnection, kind: janus.Kind, session: int | None = None) -> object:
        ws.send(talk.ask(kind, session).text)
        while True:
            answer = talk.receive(ws.recv(timeout=timeout_s))
            if isinstance(answer, janus.Answer):
                return answer.reply

    try:
        with connect(
            settings.url,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            open_timeout=timeout_s,
            close_timeout=timeout_s,
        ) as ws:
            info = ask(ws, "info")
            made = ask(ws, "create")
            if not isinstance(info, janus.ServerInfo) or not isinstance(made, janus.Success):
                return None
            ask(ws, "destroy", made.data.get("id"))
    except (OSError, TimeoutError, WebSocketException, janus.JanusProtocolError):
        return None
    return info.info


def command(settings: JanusSettings, cpu: str | None = None) -> list[str]:
    """How Janus is started on the configuration written in `settings.folder` (`cpu`: a
    `taskset -c` list)."""
    folder = settings.folder
    argv = [janus_binary(), "-C", str(folder / janusconfig.CONFIG), "-F", str(folder)]
    argv += ["--disable-colors"]
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def raise_nofile(pid: int, wanted: int) -> None:
    """Raise the soft open-files limit of process `pid` to `wanted` (or its hard limit)."""
    try:
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        soft = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    except (OSError, ValueError):
        pass  # exited already: whoever waits for it says so with its log


def refuse_wide_listen(settings: JanusSettings, log: str) -> None:
    """JanusStartError if `log` (what Janus wrote since it started) says its API listens on
    every interface rather than on `settings.ws_ip` alone."""
    if EVERY_INTERFACE in log:
        raise JanusStartError(
            f"ws_ip {settings.ws_ip} is no address of an interface here, so Janus listens on "
            "every interface: give it an address an interface holds (127.0.0.1, the node's)"
        )


def log_size(path: Path) -> int:
    """Where what a new start writes to an appended log begins."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""


class JanusProcess:
    """A Janus instance of homeroom's, on the configuration `settings` describe."""

    def __init__(self, settings: JanusSettings, cpu: str | None = None) -> None:
        self.settings = settings
        self.cpu = cpu  # `taskset -c` list, for the benchmarks
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, object] = {}
        self._log_start = 0

    @property
    def log_path(self) -> Path:
        return self.settings.folder / LOG

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def argv(self) -> list[str]:
        return command(self.settings, self.cpu)

    def start(self, timeout_s: float = 30.0) -> JanusProcess:
        """Write the configuration, start Janus, return when its API answers."""
        if self.running():
            raise JanusStartError(f"Janus already runs (pid {self.pid})")
        janusconfig.write(self.settings)
        self._log_start = log_size(self.log_path)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                cwd=self.settings.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the terminal is homeroom's to pass on
            )
        self._raise_nofile()
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.kill()
            raise
        return self

    def _raise_nofile(self) -> None:
        assert self.proc is not None
        raise_nofile(self.proc.pid, self.settings.nofile)

    def nofile(self) -> int | None:
        """The process's limit of open files now (its `ulimit -n`)."""
        if not self.running():
            return None
        assert self.proc is not None
        return resource.prlimit(self.proc.pid, resource.RLIMIT_NOFILE)[0]

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise JanusStartError(
                    f"Janus exited with {self.proc.returncode} (log {self.log_path}):\n"
                    f"{self.log_tail()}"
                )
            info = probe(self.settings, timeout_s=1.0)
            if info is not None:
                plugins = info.get("plugins")
                if not isinstance(plugins, dict) or janus.VIDEOROOM not in plugins:
                    raise JanusStartError(
                        f"Janus answers without its VideoRoom plugin (log {self.log_path}):\n"
                        f"{self.log_tail()}"
                    )
                refuse_wide_listen(self.settings, log_since(self.log_path, self._log_start))
                self.info = info
                return
            if time.monotonic() > deadline:
                raise JanusStartError(
                    f"Janus's API did not answer at {self.settings.url} within {timeout_s} s "
                    f"(log {self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace_s`; the exit status (None if it was not running)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL at once, as a crash would: Janus says nothing to its clients."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def __enter__(self) -> JanusProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

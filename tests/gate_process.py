"""A real `homeroom run` process on 127.0.0.1, for end-to-end tests, browser tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from tests.redis_servers import free_port

ROOT = Path(__file__).resolve().parents[1]
HOMEROOM = str(Path(sys.executable).with_name("homeroom"))
OPERATOR = "e2e-operator-token"


def wait_http(
    url: str, timeout_s: float = 20, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until it answers below 500; fail early if `process` died."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"homeroom exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout_s} s")
        time.sleep(0.05)


# A process the tests start stops at once on SIGTERM unless the test is about the drain and sets
# its own: the 5 s notice and 15 s window of production would serve on, racing what the test
# does next, and outlast the 10 s a test's teardown waits before it kills.
QUICK_STOP: Final = {
    "HOMEROOM_DRAIN_NOTICE_S": "0",
    "HOMEROOM_DRAIN_WINDOW_S": "0",
    "HOMEROOM_DRAIN_DEADLINE_S": "2",
}


class GateProcess:
    """`homeroom run` (or `command`) with the given HOMEROOM_* environment, optionally pinned
    with taskset."""

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        cpu: str | None = None,
        command: list[str] | None = None,
        stderr: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.env = {
            **os.environ,
            "HOMEROOM_LOG_LEVEL": "warning",
            "HOMEROOM_OPERATOR_TOKEN": OPERATOR,
            **QUICK_STOP,
            **env,
            "HOMEROOM_PORT": str(self.port),
        }
        self.cpu = cpu
        self.command = command or [HOMEROOM, "run"]  # or the app under another server (bench/)
        self.workdir = tempfile.mkdtemp(prefix="homeroom-run-")
        self.stderr = stderr  # where its log goes, for a test that reads it (else inherited)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GateProcess:
        argv = list(self.command)
        if self.cpu is not None:
            argv = ["taskset", "-c", self.cpu, *argv]
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.stderr.open("ab")) if self.stderr else None
            self.proc = subprocess.Popen(
                argv, env=self.env, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=log
            )
        try:
            wait_http(f"{self.base}/healthz", process=self.proc)
        except BaseException:  # not started in time (a busy machine): left running otherwise
            self.stop()
            raise
        return self

    def rss_bytes(self) -> int:
        assert self.proc is not None
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", text)
        assert found is not None
        return int(found.group(1)) * 1024

    def admin(
        self, method: str, path: str, body: dict[str, Any] | None = None, gate: str = "national"
    ) -> Any:
        request = urllib.request.Request(
            f"{self.base}/gate/{gate}/admin/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"authorization": f"Bearer {OPERATOR}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def __enter__(self) -> GateProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

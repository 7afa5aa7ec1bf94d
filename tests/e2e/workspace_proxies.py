"""Real processes for the workspace tests: the stand-in workspace, homeroom as its gate, nginx and HAProxy with deploy/'s configurations.

Each is started on free ports of 127.0.0.1 and stopped by its own `stop()`; nothing here
asserts anything (docs/operations.md#in-front-of-a-workspace).
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from homeroom.deploy import workspace
from tests.gate_process import ROOT, GateProcess, wait_http
from tests.redis_servers import free_port

GATE = "ent"
NGINX_MAIN = """
daemon off;
master_process off;
worker_rlimit_nofile 16384;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  include {dir}/site.conf;
}}
"""
# Gate off: nginx straight to the workspace, as on the first morning.
NGINX_STRAIGHT = """
upstream straight {{ server {workspace}; keepalive 64; }}
server {{
    listen {listen};
    location / {{
        proxy_pass http://straight;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
    }}
}}
"""


def secret_keys() -> str:
    return "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


class Standin:
    """tests/workspace_standin.py as a process: at most `capacity` sessions, idle after `idle_s`."""

    def __init__(self, capacity: int, idle_s: float) -> None:
        self.port = free_port()
        self.capacity, self.idle_s = capacity, idle_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Standin:
        argv = [sys.executable, "-m", "tests.workspace_standin", "--port", str(self.port)]
        argv += ["--capacity", str(self.capacity), "--idle-s", str(self.idle_s)]
        self.proc = _started(argv, ROOT, f"http://{self.address}/health")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _stop(proc)


def gate_env(capacity: int, idle: str, **extra: str) -> dict[str, str]:
    """homeroom as the gate of one workspace: gate `ent` queueing, holding `capacity` passes,
    passes idle after `idle` ("IDLE[/RENEW]" seconds), its files under /gate/static."""
    return {
        "HOMEROOM_GATES": GATE,
        "HOMEROOM_PROTECT": "",
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_CAPACITY": str(capacity),
        "HOMEROOM_RATE_PER_MIN": "120000",
        "HOMEROOM_TICK_S": "0.25",
        "HOMEROOM_PASS_IDLE": f"{GATE}={idle}",
        "HOMEROOM_STATIC_PATH": "/gate/static",
        "HOMEROOM_SECRET_KEYS": secret_keys(),
        "HOMEROOM_TICKET_LIMIT": "1000000/minute",  # every test person comes from 127.0.0.1
        "HOMEROOM_POW_ABOVE": "1000000/minute",
        "HOMEROOM_LIVE_PORT": "0",
        **extra,
    }


class Proxy:
    """nginx or HAProxy running the configuration `homeroom workspace` prints, on a free port."""

    def __init__(self, kind: str, site: workspace.Workspace | None, straight_to: str = "") -> None:
        self.kind = kind
        self.port = free_port()
        self.site = site
        self.straight_to = straight_to  # gate off: nginx straight to this workspace
        self.dir = Path(tempfile.mkdtemp(prefix=f"homeroom-{kind}-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _files(self) -> list[str]:
        listen = f"127.0.0.1:{self.port}"
        if self.kind == "nginx":
            if self.site is None:
                conf = NGINX_STRAIGHT.format(workspace=self.straight_to, listen=listen)
            else:
                conf = workspace.nginx(_at(self.site, listen, self.dir))
            (self.dir / "site.conf").write_text(conf)
            (self.dir / "nginx.conf").write_text(NGINX_MAIN.format(dir=self.dir))
            return ["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)]
        assert self.site is not None
        site = _at(self.site, listen, self.dir)
        (self.dir / "homeroom-check.lua").write_text(workspace.lua(site))
        (self.dir / "haproxy.cfg").write_text(workspace.haproxy(site))
        return ["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")]

    def start(self) -> Proxy:
        subprocess.run([str(ROOT / "scripts" / "need"), self.kind], check=True)
        self.proc = _started(self._files(), self.dir, f"{self.base}/health")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def _started(argv: list[str], cwd: Path, url: str) -> subprocess.Popen[bytes]:
    """`argv` started, once `url` answers (stopped again if it does not in time)."""
    proc = subprocess.Popen(argv, cwd=cwd)
    try:
        wait_http(url, process=proc)
    except BaseException:
        _stop(proc)
        raise
    return proc


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _at(site: workspace.Workspace, listen: str, folder: Path) -> workspace.Workspace:
    return dataclasses.replace(site, listen=listen, lua_path=str(folder / "homeroom-check.lua"))


def protected_by(kind: str, standin: Standin, gate: GateProcess) -> Proxy:
    """`kind` (nginx, haproxy) in front of the stand-in, asking `gate`'s pass check."""
    site = workspace.Workspace(
        gate=GATE,
        workspace=standin.address,
        homeroom=f"127.0.0.1:{gate.port}",
        server_name="ent.example.fr",
    )
    return Proxy(kind, site).start()

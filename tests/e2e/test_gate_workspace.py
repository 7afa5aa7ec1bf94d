"""A gate in front of a workspace homeroom does not own, with real processes: `homeroom run`
with three gates probes a real HTTP server's health URL that fails and recovers, the operator
steers each gate with `homeroom gate ...`, who is who comes from X-Forwarded-For (a proxy on
127.0.0.1, which uvicorn trusts), an invitation link made by `homeroom gate invite`, and each
gate's figures are in /metrics (docs/gate.md#in-front-of-a-workspace-homeroom-does-not-own).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.test_door import metrics_text
from tests.gate_process import HOMEROOM, OPERATOR, GateProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Health(BaseHTTPRequestHandler):
    mode = "ok"  # what the workspace's /health does now: ok, error, quota

    def do_GET(self) -> None:
        status, body = 200, b'{"status": "up"}'
        if Health.mode == "error":
            status, body = 503, b"down"
        elif Health.mode == "quota":
            body = b"Quota de connexions atteint"
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def workspace() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Health.mode = "ok"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def homeroom(workspace: ThreadingHTTPServer) -> Iterator[GateProcess]:
    env = {
        "HOMEROOM_GATES": "national,ent,moodle",
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_TICK_S": "0.1",
        "HOMEROOM_GATE_HEALTH": f"ent=http://127.0.0.1:{workspace.server_address[1]}/health",
        "HOMEROOM_GATE_HEALTH_INTERVAL_S": "0.1",
        "HOMEROOM_GATE_HEALTH_TIMEOUT_S": "1",
        "HOMEROOM_GATE_POLICY": "ent.adaptive=true,ent.capacity=100,ent.capacity_min=50,"
        "ent.capacity_max=150,ent.target_p95_ms=1000",
        "HOMEROOM_STAFF_NETWORKS": "ent=10.0.0.0/8,192.0.2.0/24",
        "HOMEROOM_ANONYMOUS_LANES": "moodle=guests",
    }
    with GateProcess(env) as process:
        yield process


def gate_cli(process: GateProcess, *args: str) -> Any:
    env = {**os.environ, "HOMEROOM_OPERATOR_TOKEN": OPERATOR, "HOMEROOM_URL": process.base}
    done = subprocess.run(
        [HOMEROOM, "gate", *args], env=env, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def until(what: Callable[[], Any], wanted: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = what()
        if wanted(seen):
            return seen
        assert time.monotonic() < deadline, f"never reached, last seen: {seen}"
        time.sleep(0.1)


def capacity(process: GateProcess, gate: str) -> int:
    value: int = process.admin("GET", "status", gate=gate)["capacity"]
    return value


def probes(process: GateProcess, outcome: str) -> int:
    text = metrics_text(process.base)
    found = re.search(rf'homeroom_gate_probes_total{{gate="ent",outcome="{outcome}"}} (\S+)', text)
    return int(float(found.group(1))) if found else 0


def test_capacity_follows_the_workspaces_health_and_the_operator_wins(
    homeroom: GateProcess,
) -> None:
    until(lambda: gate_cli(homeroom, "show", "--gate", "ent")["capacity"], lambda c: c == 150)
    Health.mode = "error"
    until(lambda: capacity(homeroom, "ent"), lambda c: c == 50)
    Health.mode = "ok"
    until(lambda: capacity(homeroom, "ent"), lambda c: c == 150)
    Health.mode = "quota"
    until(lambda: capacity(homeroom, "ent"), lambda c: c < 150)
    assert probes(homeroom, "quota") >= 1
    assert gate_cli(homeroom, "capacity", "120", "--gate", "ent")["adaptive"] is False
    Health.mode = "error"
    seen = probes(homeroom, "server_error")
    until(lambda: probes(homeroom, "server_error"), lambda n: n >= seen + 5)
    assert capacity(homeroom, "ent") == 120  # set by hand: the probe no longer moves it
    moodle = gate_cli(homeroom, "show", "--gate", "moodle")
    assert moodle["gate"] == "moodle" and moodle["capacity"] == 10_000  # its own gate
    text = metrics_text(homeroom.base)
    for gate in ("national", "ent", "moodle"):
        assert f'homeroom_gate_capacity{{gate="{gate}"}}' in text
    assert 'homeroom_gate_adaptive{gate="ent"} 0.0' in text
    assert 'homeroom_gate_probes_total{gate="moodle"' not in text


def ticket(process: GateProcess, gate: str, forwarded: str | None = None) -> dict[str, Any]:
    headers = {"accept": "application/json", "content-length": "0"}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    request = urllib.request.Request(
        f"{process.base}/gate/{gate}/ticket", method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def test_who_is_who_from_addresses_and_invitation_links(homeroom: GateProcess) -> None:
    assert ticket(homeroom, "ent", "10.1.2.3")["lane"] == "staff"  # a school's block
    assert ticket(homeroom, "ent", "192.0.2.77")["lane"] == "staff"
    assert ticket(homeroom, "ent", "198.51.100.7")["lane"] == "pupils"
    # a client that writes its own header: the proxy appends the address it saw, which counts
    assert ticket(homeroom, "ent", "10.1.2.3, 198.51.100.7")["lane"] == "pupils"
    assert ticket(homeroom, "ent")["lane"] == "pupils"  # 127.0.0.1 itself
    assert ticket(homeroom, "moodle", "10.1.2.3")["lane"] == "guests"  # not moodle's block
    invite = gate_cli(
        homeroom, "invite", "staff", "--gate", "moodle", "--next", "/cours/maths", "--days", "1"
    )
    assert invite["lane"] == "staff"
    link = invite["link"]
    assert link.startswith(f"{homeroom.base}/gate/moodle/wait?next=/cours/maths&grant=")
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(link, headers={"accept": "text/html"})
    with opener.open(request, timeout=10) as page:
        html = page.read().decode()
    assert page.status == 200 and 'data-lane="staff"' in html
    env = {**os.environ, "HOMEROOM_OPERATOR_TOKEN": OPERATOR, "HOMEROOM_URL": homeroom.base}
    for args, word in [
        (["invite", "chiefs", "--gate", "moodle"], "bad_lane"),
        (["show", "--gate", "nowhere"], "no_such_gate"),
    ]:
        bad = subprocess.run(
            [HOMEROOM, "gate", *args], env=env, capture_output=True, timeout=30, check=False
        )
        assert bad.returncode == 1 and json.loads(bad.stdout)["error"] == word

"""deploy/'s nginx and HAProxy configurations in front of a workspace, each run by the real server.

The stand-in workspace (tests/workspace_standin.py) behind nginx, then HAProxy, as `homeroom
workspace nginx|haproxy` prints them, with `homeroom run` as the gate: its files and health
are open, the rest sends a person without a pass to the waiting page under the workspace's own
host and back to the URL asked once admitted; a forged pass is refused; a renewed pass reaches
the browser on the workspace's answer; a closed gate shows homeroom's maintenance page
(docs/operations.md#in-front-of-a-workspace).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator

import httpx
import pytest

from homeroom.web.pages import static_version
from tests.e2e.workspace_proxies import GATE, Proxy, Standin, gate_env, protected_by
from tests.gate_process import GateProcess
from tests.workspace_standin import QUOTA

pytestmark = pytest.mark.slow
HOST = {"host": "ent.example.fr"}
HTML = {**HOST, "accept": "text/html", "accept-language": "fr-FR,fr"}


@pytest.fixture(scope="module")
def standin() -> Iterator[Standin]:
    process = Standin(capacity=5, idle_s=600).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def gate() -> Iterator[GateProcess]:
    # one place, a pass renewed once 10 s old: what the tests below need and no more
    with GateProcess(gate_env(capacity=1, idle="40/10")) as process:
        yield process


@pytest.fixture(scope="module", params=["nginx", "haproxy"])
def proxy(request: pytest.FixtureRequest, standin: Standin, gate: GateProcess) -> Iterator[Proxy]:
    running = protected_by(request.param, standin, gate)
    yield running
    running.stop()


def client(proxy: Proxy) -> httpx.Client:
    return httpx.Client(base_url=proxy.base, headers=HTML, timeout=10)


def test_the_workspaces_files_and_health_are_open(proxy: Proxy) -> None:
    with client(proxy) as person:
        assert person.get("/static/ent.css").status_code == 200
        health = person.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert not health.headers.get_list("set-cookie")  # no place taken, no pass asked


def test_without_a_pass_a_person_waits_then_lands_on_the_url_asked(
    proxy: Proxy, gate: GateProcess
) -> None:
    gate.admin("PATCH", "policy", {"capacity": 1, "mode": "queue"}, gate=GATE)
    with client(proxy) as person:
        asked = person.get("/cours/maths?user=alice&x=1")
        assert asked.status_code == 303
        wait = asked.headers["location"]
        assert wait == f"/gate/{GATE}/wait?next=/cours/maths%3Fuser%3Dalice%26x%3D1"
        assert asked.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in asked.headers["content-security-policy"]
        page = person.get(wait, follow_redirects=True)
        # the gate's page on the workspace's host, its files under /gate/static/
        assert page.url.path in (f"/gate/{GATE}/wait", "/cours/maths")
        if page.url.path == "/cours/maths":  # admitted at the first tick already
            landed = page
        else:
            assert f'href="/gate/static/gate.css?v={static_version()}"' in page.text
            assert person.get(f"/gate/static/gate.js?v={static_version()}").status_code == 200
            landed = person.get(wait, follow_redirects=True)
            while landed.url.path != "/cours/maths":
                landed = person.get(wait, follow_redirects=True)
        assert landed.status_code == 200
        assert str(landed.url).endswith("/cours/maths?user=alice&x=1")
        assert QUOTA not in landed.text
        again = person.get("/cours/francais")
        form = person.post("/cours/devoir", data={"reponse": "42"})
    assert again.status_code == 200  # the pass opens every page of the workspace
    assert form.status_code == 200  # and its forms: the check is asked with GET, no body


@pytest.mark.parametrize(
    "pass_value",
    ["forged", "A" * 82, ""],
)
def test_a_forged_pass_is_sent_to_wait(proxy: Proxy, pass_value: str) -> None:
    with client(proxy) as person:
        person.cookies.set(f"hr_p_{GATE}", pass_value)
        answer = person.get("/cours")
        form = person.post("/cours/devoir", data={"reponse": "42"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/gate/{GATE}/wait?next=/cours"
    assert form.status_code == 303  # a form without a pass waits too (the browser GETs the page)


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example/x"])
def test_an_open_redirect_is_not_offered(proxy: Proxy, target: str) -> None:
    """The URL asked goes to the check as sent (X-Original-URI), and only a path of this site
    comes back as `next`: a raw request, since an HTTP client would tidy the target first."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request("GET", target, headers=HTML)
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    assert answer.status == 303
    assert answer.getheader("location") == f"/gate/{GATE}/wait?next=/"


def test_a_closed_gate_shows_homerooms_maintenance_page(proxy: Proxy, gate: GateProcess) -> None:
    gate.admin("PATCH", "policy", {"mode": "closed"}, gate=GATE)
    try:
        with client(proxy) as person:
            answer = person.get("/cours")
    finally:
        gate.admin("PATCH", "policy", {"mode": "queue"}, gate=GATE)
    assert answer.status_code == 503
    assert answer.headers.get("retry-after")
    assert "<html" in answer.text and 'lang="fr"' in answer.text


def test_a_renewed_pass_reaches_the_browser_on_the_workspaces_answer(
    proxy: Proxy, gate: GateProcess
) -> None:
    """The pass is renewed by the check once 10 s old (HOMEROOM_PASS_IDLE ent=40/10): the
    workspace's answer carries the new pass cookie, and the person stays inside."""
    gate.admin("PATCH", "policy", {"capacity": 5, "mode": "queue"}, gate=GATE)
    with client(proxy) as person:
        landed = person.get("/cours/renouvellement", follow_redirects=True)
        while landed.url.path != "/cours/renouvellement":  # until the gate lets them in
            landed = person.get(landed.url, follow_redirects=True)
        first = person.cookies.get(f"hr_p_{GATE}")
        renewed: list[str] = []
        deadline = time.monotonic() + 60
        while not renewed and time.monotonic() < deadline:
            time.sleep(1)
            answer = person.get("/cours/renouvellement")
            assert answer.status_code == 200
            renewed = [c for c in answer.headers.get_list("set-cookie") if c.startswith("hr_p_")]
    assert renewed, "no renewed pass within a minute"
    assert person.cookies.get(f"hr_p_{GATE}") != first

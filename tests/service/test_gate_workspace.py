"""Gates in front of a workspace homeroom does not own, in process (docs/gate.md#in-front-of-a-
workspace-homeroom-does-not-own): who is who from staff address blocks, invitation links and the
gate's anonymous lane; capacity from a probe of a real HTTP server that gets slow, fails, says
its quota is reached and comes back; each gate its own first policy and its own /metrics lines.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from homeroom.core.probing import Outcome
from homeroom.gate.probe import HealthProbe
from tests.redis_servers import free_port
from tests.service.conftest import Gate

JSON = {"accept": "application/json"}
HTML = {"accept": "text/html"}
SCHOOL = "192.0.2.10"  # the fixture's client: inside the staff block below
HOME = "198.51.100.23"  # anybody else


def client_from(gate: Gate, host: str, **kw: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=gate.app, client=(host, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kw)


# -- who is who -----------------------------------------------------------------------------------

STAFF = {"staff_networks": "national=192.0.2.0/24,10.0.0.0/8", "anonymous_lanes": "national=guests"}


@pytest.mark.parametrize("settings_overrides", [STAFF])
async def test_a_staff_address_block_queues_in_the_staff_lane_everyone_else_in_the_gates_lane(
    gate: Gate,
) -> None:
    async with client_from(gate, SCHOOL) as school, client_from(gate, HOME) as home:
        at_school = await school.post("/gate/national/ticket", headers=JSON)
        at_home = await home.post("/gate/national/ticket", headers=JSON)
    assert at_school.status_code == 201 and at_school.json()["lane"] == "staff"
    assert at_home.status_code == 201 and at_home.json()["lane"] == "guests"  # anonymous_lanes
    async with client_from(gate, "10.20.30.40", follow_redirects=False) as office:
        page = await office.get("/gate/national/wait?next=/class/", headers=HTML)
    assert page.status_code == 200
    assert re.search(r'data-lane="staff"', page.text)


async def test_without_settings_everyone_is_in_the_anonymous_lane(gate: Gate) -> None:
    async with client_from(gate, SCHOOL) as school:
        ticket = await school.post("/gate/national/ticket", headers=JSON)
    assert ticket.json()["lane"] == gate.keeper.settings.anonymous_lane.value == "pupils"


async def grant(gate: Gate, lane: str, ttl_s: int = 3600) -> str:
    async with gate.make_client() as operator:
        made = await operator.post(
            "/gate/national/admin/grant",
            json={"lane": lane, "ttl_s": ttl_s},
            headers={"authorization": f"Bearer {gate.token}"},
        )
    assert made.status_code == 200, made.text
    text: str = made.json()["grant"]
    return text


async def test_an_invitation_link_queues_in_its_lane_even_after_waiting_in_another(
    gate: Gate,
) -> None:
    link = f"/gate/national/wait?next=/class/maths&grant={await grant(gate, 'staff')}"
    async with client_from(gate, HOME, follow_redirects=False) as teacher:
        before = await teacher.post("/gate/national/ticket", headers=JSON)
        assert before.json()["lane"] == "pupils"
        page = await teacher.get(link, headers=HTML)
        assert page.status_code == 200
        assert 'data-lane="staff"' in page.text
        again = await teacher.post("/gate/national/ticket", headers=JSON)
        assert again.status_code == 200 and again.json()["lane"] == "staff"  # the same place
        kept = await teacher.get(link, headers=HTML)  # the link opened again: the same place
        assert 'data-lane="staff"' in kept.text
        assert (await teacher.post("/gate/national/ticket", headers=JSON)).json()["number"] == 1
        await gate.tick()
        admitted = await teacher.get(link, headers=HTML)
    assert admitted.status_code == 303
    assert admitted.headers["location"] == "/class/maths"


async def test_a_bad_invitation_link_is_a_clear_error(gate: Gate) -> None:
    good = await grant(gate, "staff")
    bad = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    async with client_from(gate, HOME) as person:
        forged = await person.get(f"/gate/national/wait?next=/&grant={bad}", headers=JSON)
        junk = await person.get("/gate/national/wait?next=/&grant=not-a-grant", headers=JSON)
        long = await person.get(f"/gate/national/wait?next=/&grant={'a' * 5000}", headers=JSON)
    assert (forged.status_code, forged.json()["error"]) == (403, "grant_invalid")
    assert (junk.status_code, junk.json()["error"]) == (400, "grant_malformed")
    assert (long.status_code, long.json()["error"]) == (400, "bad_field")


# -- capacity from the workspace's health -------------------------------------------------------


class Workspace:
    """A real HTTP server on 127.0.0.1 whose /health is fine, slow, failing, full or gone."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.port = free_port()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                status, body = "200 OK", b'{"ok": true}'
                if self.mode == "slow":
                    await asyncio.sleep(0.3)  # above the gate's 100 ms target, within the timeout
                elif self.mode == "hang":
                    await asyncio.sleep(30)
                elif self.mode == "error":
                    status, body = "500 Internal Server Error", b"oops"
                elif self.mode == "quota":
                    body = b"<p>Quota de connexions atteint</p>"
                elif self.mode == "missing":
                    status, body = "404 Not Found", b"no such page"
                head = f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def workspace() -> AsyncIterator[Workspace]:
    ws = Workspace()
    await ws.start()
    yield ws
    await ws.stop()


ADAPTIVE = {
    "capacity": 100,
    "adaptive": True,
    "capacity_min": 50,
    "capacity_max": 120,
    "target_p95_ms": 100,
}


async def probe_for(gate: Gate, port: int) -> HealthProbe:
    rt = gate.rt
    await gate.set_policy(**ADAPTIVE)
    await gate.tick()  # holds the lease: the controller, the one process that probes
    assert rt.stats.controller
    return HealthProbe(rt, f"http://127.0.0.1:{port}/health", 60, 1.0, "quota de connexions")


async def test_capacity_follows_the_workspaces_health_within_bounds(
    gate: Gate, workspace: Workspace
) -> None:
    rt = gate.rt
    probe = await probe_for(gate, workspace.port)
    start = rt.capacity

    async def step(mode: str) -> tuple[Outcome, int]:
        workspace.mode = mode
        before = rt.capacity
        outcome = await probe.once()
        await gate.tick()
        return outcome, rt.capacity - before

    try:
        assert await step("ok") == (Outcome.OK, max(1, start * 2 // 100))
        for mode, outcome in [
            ("slow", Outcome.OK),  # answered, but later than the target: cut
            ("error", Outcome.SERVER_ERROR),
            ("quota", Outcome.QUOTA),
            ("hang", Outcome.TIMEOUT),
        ]:
            got, change = await step(mode)
            assert got is outcome and (change < 0 or rt.capacity == 50), (mode, change)
        assert rt.capacity == 50  # cut to the floor, never below
        await workspace.stop()
        got, change = await step("ok")
        assert got is Outcome.UNREACHABLE and rt.capacity == 50
        await workspace.start()
        for _ in range(60):
            got, change = await step("ok")
            assert got is Outcome.OK and (change > 0 or rt.capacity == 120)
        assert rt.capacity == 120  # back up to the ceiling, never above
        got, change = await step("missing")  # a wrong URL says nothing of the load
        assert got is Outcome.UNUSABLE and change == 0
        assert rt.stats.probes["timeout"] == 1 and rt.stats.probes["unreachable"] == 1
    finally:
        await probe.stop()


async def test_a_capacity_set_by_hand_wins_over_the_probe(gate: Gate, workspace: Workspace) -> None:
    probe = await probe_for(gate, workspace.port)
    try:
        workspace.mode = "error"
        await probe.once()
        await gate.tick()
        assert gate.rt.capacity < 120
        await gate.set_policy(capacity=90)  # adaptation off
        for _ in range(3):
            assert await probe.once() is Outcome.SERVER_ERROR
            await gate.tick()
            assert gate.rt.capacity == 90
        assert gate.rt.policy.adaptive is False
    finally:
        await probe.stop()


async def test_only_the_controller_probes(gate: Gate, workspace: Workspace) -> None:
    probe = await probe_for(gate, workspace.port)
    probe.interval_s = 0.01
    gate.rt.stats.controller = False  # another process holds the lease
    await probe.start()
    try:
        await asyncio.sleep(0.1)  # several intervals: none of them probes
        assert gate.rt.stats.probes == {}
    finally:
        await probe.stop()


# -- a gate per workspace -------------------------------------------------------------------------

GATES = {
    "gates": "national,ent,moodle",
    "gate_policy": "ent.capacity=5000,ent.rate_per_min=900,moodle.capacity=2000,moodle.mode=queue",
    "gate_health": "ent=http://127.0.0.1:9/health",
    "gate_health_interval_s": 300,
}


@pytest.mark.parametrize("settings_overrides", [GATES])
async def test_each_workspace_its_own_gate_policy_and_metrics(gate: Gate) -> None:
    ent, moodle = gate.keeper.gates["ent"], gate.keeper.gates["moodle"]
    assert (ent.policy.capacity, ent.policy.rate_per_min) == (5000, 900)
    assert (moodle.policy.capacity, moodle.policy.mode.value) == (2000, "queue")
    assert gate.rt.policy.capacity == gate.keeper.settings.capacity
    assert [p.rt.gate_id for p in gate.keeper.probes] == ["ent"]
    headers = {"authorization": f"Bearer {gate.token}"}
    async with gate.make_client() as client:
        changed = await client.patch(
            "/gate/moodle/admin/policy", json={"capacity": 1500}, headers=headers
        )
        assert changed.status_code == 200
        status = (await client.get("/gate/ent/admin/status", headers=headers)).json()
        await ent.step()  # ent's probe has met port 9 (nothing listens) by now, or does now
        await HealthProbe.for_gate(ent).once()  # type: ignore[union-attr]
        text = (await client.get("/metrics")).text
    assert status["gate"] == "ent" and status["capacity"] == 5000
    assert moodle.capacity == 1500 and ent.capacity == 5000
    for name in ("national", "ent", "moodle"):
        assert f'homeroom_gate_capacity{{gate="{name}"}}' in text
    assert 'homeroom_gate_capacity{gate="moodle"} 1500.0' in text
    assert re.search(r'homeroom_gate_probes_total\{gate="ent",outcome="unreachable"\} [1-9]', text)
    assert 'homeroom_gate_probes_total{gate="moodle"' not in text

"""The gate's JSON API end to end in-process: tickets, redeem, passes, errors, modes."""

from __future__ import annotations

import base64

import altcha
import pytest

from homeroom.backends.memory import MemoryGateStore
from homeroom.core.lanes import Lane
from homeroom.core.tokens import Flag, Kind
from tests.service.conftest import START, Gate

JSON = {"accept": "application/json"}


async def test_state_is_cacheable_and_identical_for_everyone(gate: Gate) -> None:
    async with gate.make_client() as a, gate.make_client() as b:
        ra = await a.get("/gate/national/state")
        rb = await b.get("/gate/national/state")
        assert ra.status_code == 200
        assert ra.content == rb.content
        cache = ra.headers["cache-control"]
        assert "public" in cache
        assert int(cache.split("max-age=")[1]) >= 1
        etag = ra.headers["etag"]
        again = await a.get("/gate/national/state", headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        doc = ra.json()
        assert doc["mode"] == "queue"
        assert set(doc["lanes"]) == {"staff", "priority", "pupils", "guests"}


async def test_same_browser_keeps_its_place_another_gets_the_next(gate: Gate) -> None:
    async with gate.make_client() as tab1, gate.make_client() as other:
        first = await tab1.post("/gate/national/ticket", headers=JSON)
        assert first.status_code == 201
        number = first.json()["number"]
        again = await tab1.post("/gate/national/ticket", headers=JSON)  # refresh, new tab
        assert again.status_code == 200
        assert again.json()["number"] == number
        assert again.json()["ticket"] == first.json()["ticket"]
        theirs = await other.post("/gate/national/ticket", headers=JSON)
        assert theirs.json()["number"] == number + 1
        assert theirs.json()["lane"] == "pupils"


async def test_redeem_when_admitted_gives_a_pass_that_opens_protected_routes(gate: Gate) -> None:
    async with gate.make_client() as client:
        ticket = (await client.post("/gate/national/ticket", headers=JSON)).json()
        assert ticket["admitted"] is False
        blocked = await client.get("/workspace/maths", headers=JSON)
        assert blocked.status_code == 503
        assert int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["error"] == "waiting_room"
        early = await client.post("/gate/national/redeem", headers=JSON)
        assert early.status_code == 425
        await gate.tick()
        redeemed = await client.post(
            "/gate/national/redeem", headers=JSON, json={"next": "/workspace/maths"}
        )
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.json()["next"] == "/workspace/maths"
        assert "hr_p_national" in client.cookies
        page = await client.get("/workspace/maths", headers={"accept": "text/html"})
        assert page.status_code == 200
        check = await client.get("/gate/national/pass")
        assert check.json()["valid"] is True
        await gate.tick()
        assert gate.rt.active == 1
        # The answer lost on a bad network: the same browser asks again and gets its access
        # back, counted once.
        again = await client.post(
            "/gate/national/redeem", headers=JSON, json={"ticket": ticket["ticket"]}
        )
        assert again.status_code == 200
        await gate.tick()
        assert gate.rt.active == 1
        await client.post("/gate/national/leave")
        replay = await client.post(
            "/gate/national/redeem", headers=JSON, json={"ticket": ticket["ticket"]}
        )
        assert replay.status_code == 409  # after giving it back, the ticket does not reopen
        assert replay.json()["error"] == "duplicate"
        await gate.tick()
        assert gate.rt.active == 0


async def test_browser_without_pass_is_sent_to_the_waiting_page(gate: Gate) -> None:
    async with gate.make_client() as client:
        response = await client.get("/workspace/maths?x=1", headers={"accept": "text/html"})
        assert response.status_code == 303
        assert response.headers["location"] == "/gate/national/wait?next=/workspace/maths%3Fx%3D1"


@pytest.mark.parametrize(
    ("mangle", "status", "reason"),
    [
        (lambda t: "not-a-ticket", 400, "ticket_malformed"),
        (lambda t: t[:-3] + ("AAA" if t[-3:] != "AAA" else "BBB"), 403, "ticket_invalid"),
        (
            lambda t: base64.urlsafe_b64encode(b"x" * 61).decode().rstrip("="),
            400,
            "ticket_malformed",
        ),
    ],
)
async def test_bad_tickets_get_clear_errors(gate: Gate, mangle, status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    async with gate.make_client() as client:
        ticket = (await client.post("/gate/national/ticket", headers=JSON)).json()["ticket"]
        await gate.tick()
        response = await client.post(
            "/gate/national/redeem", headers=JSON, json={"ticket": mangle(ticket)}
        )
        assert response.status_code == status
        assert response.json()["error"] == reason
        assert "Traceback" not in response.text


async def test_ticket_of_another_browser_is_refused(gate: Gate) -> None:
    async with gate.make_client() as thief, gate.make_client() as owner:
        ticket = (await owner.post("/gate/national/ticket", headers=JSON)).json()["ticket"]
        await gate.tick()
        await thief.post("/gate/national/ticket", headers=JSON)  # thief has a browser id of its own
        stolen = await thief.post("/gate/national/redeem", headers=JSON, json={"ticket": ticket})
        assert stolen.status_code == 403
        assert stolen.json()["error"] == "ticket_foreign"


async def test_expired_ticket_is_gone(gate: Gate) -> None:
    async with gate.make_client() as client:
        await client.post("/gate/national/ticket", headers=JSON)
        gate.clock.advance(gate.keeper.settings.ticket_ttl_s + 1)
        response = await client.post("/gate/national/redeem", headers=JSON)
        assert response.status_code == 410
        assert response.json()["error"] == "ticket_expired"


async def test_lapsed_claim_gives_the_place_back(gate: Gate) -> None:
    async with gate.make_client() as client:
        await client.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        for _ in range(3):
            await gate.tick(gate.rt.policy.claim_window_s / 2 + 1)
        response = await client.post("/gate/national/redeem", headers=JSON)
        assert response.status_code == 410
        assert response.json()["error"] == "claim_lapsed"
        rejoined = await client.post("/gate/national/ticket", headers=JSON, json={"rejoin": True})
        assert rejoined.status_code == 201
        assert rejoined.json()["number"] == 2


async def test_malformed_and_oversize_bodies(gate: Gate) -> None:
    async with gate.make_client() as client:
        bad = await client.post(
            "/gate/national/ticket",
            content=b"{not json",
            headers={**JSON, "content-type": "application/json"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"] == "malformed_json"
        wrong = await client.post("/gate/national/ticket", json={"grant": 12}, headers=JSON)
        assert wrong.status_code == 400
        huge = await client.post("/gate/national/ticket", content=b"x" * 100_000, headers=JSON)
        assert huge.status_code == 413
        html = await client.post("/gate/national/redeem", headers={"accept": "text/html"})
        assert html.status_code == 400
        assert html.headers["content-type"].startswith("text/html")


async def test_paused_admits_nobody_and_passes_stay_valid(gate: Gate) -> None:
    async with gate.make_client() as inside, gate.make_client() as waiting:
        await inside.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        assert (await inside.post("/gate/national/redeem", headers=JSON)).status_code == 200
        await gate.set_policy(mode="paused")
        await waiting.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        await gate.tick()
        assert (await waiting.post("/gate/national/redeem", headers=JSON)).status_code == 425
        assert (await inside.get("/class/", headers=JSON)).status_code == 200


async def test_closed_shows_maintenance_to_everyone(gate: Gate) -> None:
    async with gate.make_client() as client:
        await gate.set_policy(mode="closed")
        page = await client.get("/class/", headers={"accept": "text/html"})
        assert page.status_code == 503
        assert "retry-after" in page.headers
        api = await client.post("/gate/national/ticket", headers=JSON)
        assert api.status_code == 503
        assert api.json()["error"] == "closed"


async def test_under_attack_asks_proof_of_work_and_refuses_replays(gate: Gate) -> None:
    await gate.set_policy(mode="under_attack")
    async with gate.make_client() as client, gate.make_client() as replayer:
        refused = await client.post("/gate/national/ticket", headers=JSON)
        assert refused.status_code == 403
        assert refused.json()["error"] == "proof_of_work_required"
        challenge = (await client.get(refused.json()["challenge_url"])).json()
        c = altcha.Challenge.from_dict(challenge)
        solution = altcha.solve_challenge(c)
        assert solution is not None
        payload = altcha.Payload(c, solution).to_base64()
        ok = await client.post("/gate/national/ticket", headers=JSON, json={"altcha": payload})
        assert ok.status_code == 201
        replay = await replayer.post(
            "/gate/national/ticket", headers=JSON, json={"altcha": payload}
        )
        assert replay.status_code == 403
        forged = await replayer.post("/gate/national/ticket", headers=JSON, json={"altcha": "Zm9v"})
        assert forged.status_code == 403


@pytest.mark.parametrize(
    "settings_overrides", [{"ticket_limit": "5/minute", "pow_above": "100/minute"}]
)
async def test_flood_from_one_block_is_rate_limited(gate: Gate) -> None:
    statuses = []
    for _ in range(7):
        async with gate.make_client() as client:  # a new browser each time, same /24
            statuses.append(await client.post("/gate/national/ticket", headers=JSON))
    assert [r.status_code for r in statuses[:5]] == [201] * 5
    assert statuses[5].status_code == 429
    assert int(statuses[5].headers["retry-after"]) >= 1


@pytest.mark.parametrize("settings_overrides", [{"mode": "safety_net"}])
async def test_safety_net_lets_people_straight_in(gate: Gate) -> None:
    await gate.tick()  # the controller opens room
    async with gate.make_client(follow_redirects=False) as client:
        first = await client.get("/workspace/maths", headers={"accept": "text/html"})
        assert first.status_code == 307
        assert first.headers["location"] == "/workspace/maths"
        again = await client.get("/workspace/maths", headers={"accept": "text/html"})
        assert again.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"mode": "safety_net"}])
async def test_a_ticket_admitted_at_once_says_when_its_pass_expires(gate: Gate) -> None:
    await gate.tick()  # the controller opens room
    async with gate.make_client() as client:
        answer = await client.post("/gate/national/ticket", headers=JSON)
        ticket = answer.json()
        assert answer.status_code == 201 and ticket["admitted"] is True
        checked = (await client.get("/gate/national/pass", headers=JSON)).json()
        assert ticket["pass_expires"] == checked["expires"]  # the pass the cookie holds
    async with gate.make_client() as waiting:  # not admitted: no pass, so no pass_expires
        await gate.set_policy(mode="queue")
        queued = (await waiting.post("/gate/national/ticket", headers=JSON)).json()
        assert queued["admitted"] is False and "pass_expires" not in queued


async def test_leave_gives_the_place_back_once(gate: Gate) -> None:
    async with gate.make_client() as client:
        await client.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        await client.post("/gate/national/redeem", headers=JSON)
        await gate.tick()
        assert gate.rt.active == 1
        pass_cookie = client.cookies["hr_p_national"]
        left = await client.post("/gate/national/leave")
        assert left.json()["left"] is True
        client.cookies.set("hr_p_national", pass_cookie)
        again = await client.post("/gate/national/leave")
        assert again.json()["left"] is False
        await gate.tick()
        assert gate.rt.active == 0


async def test_staff_grant_puts_a_teacher_in_the_staff_lane(gate: Gate) -> None:
    auth = {"authorization": f"Bearer {gate.token}"}
    async with gate.make_client() as op, gate.make_client() as teacher:
        grant = (
            await op.post("/gate/national/admin/grant", json={"lane": "staff"}, headers=auth)
        ).json()
        ticket = await teacher.post(
            "/gate/national/ticket", json={"grant": grant["grant"]}, headers=JSON
        )
        assert ticket.json()["lane"] == "staff"
        text = grant["grant"]
        tampered = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
        forged = await teacher.post(
            "/gate/national/ticket", json={"grant": tampered, "rejoin": True}, headers=JSON
        )
        assert forged.status_code == 403
        assert forged.json()["error"] == "grant_invalid"


async def test_operator_endpoints_need_the_token_and_validate(gate: Gate) -> None:
    async with gate.make_client() as client:
        assert (await client.get("/gate/national/admin/status")).status_code == 403
        wrong = {"authorization": "Bearer nope"}
        assert (
            await client.patch("/gate/national/admin/policy", json={"mode": "queue"}, headers=wrong)
        ).status_code == 403
        auth = {"authorization": f"Bearer {gate.token}"}
        bad = await client.patch(
            "/gate/national/admin/policy", json={"mode": "party"}, headers=auth
        )
        assert bad.status_code == 400
        unknown = await client.patch(
            "/gate/national/admin/policy", json={"capacty": 5}, headers=auth
        )
        assert unknown.status_code == 400
        ok = await client.patch(
            "/gate/national/admin/policy", json={"capacity": 5, "rate_per_min": 60}, headers=auth
        )
        assert ok.json()["capacity"] == 5
        status = (await client.get("/gate/national/admin/status", headers=auth)).json()
        assert status["policy"]["rate_per_min"] == 60
        assert (await client.get("/gate/nowhere/admin/status", headers=auth)).status_code == 404


async def test_prequeue_is_shuffled_at_opening_then_fifo(gate: Gate) -> None:
    opening = int(gate.clock.now) + 600
    await gate.set_policy(opening_at=opening, prequeue_s=1800, capacity=1000, rate_per_min=60_000)
    clients = [gate.make_client() for _ in range(30)]
    try:
        numbers = []
        for client in clients:
            t = (await client.post("/gate/national/ticket", headers=JSON)).json()
            assert t["prequeue"] is True
            numbers.append(t["number"])
        assert numbers == list(range(1, 31))
        early = await clients[0].post("/gate/national/redeem", headers=JSON)
        assert early.status_code == 425
        assert early.json()["error"] == "prequeue"
        await gate.tick(601)  # opening: the controller freezes and ranks the pre-queue
        await gate.tick()
        late = gate.make_client()
        clients.append(late)
        after = (await late.post("/gate/national/ticket", headers=JSON)).json()
        assert after["prequeue"] is False
        assert after["number"] == 31  # after everyone of the pre-queue
        ranks = []
        for client in clients[:30]:
            r = await client.post("/gate/national/redeem", headers=JSON)
            assert r.status_code == 200, r.text
            ranks.append(
                gate.keeper.gates["national"].open(client.cookies["hr_t_national"], 1).number
            )
        assert sorted(ranks) == list(range(1, 31))
        assert ranks != list(range(1, 31))  # shuffled
    finally:
        for client in clients:
            await client.aclose()


async def test_metrics_and_openapi(gate: Gate) -> None:
    async with gate.make_client() as client:
        await client.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        text = (await client.get("/metrics")).text
        for name in (
            "homeroom_gate_waiting",
            "homeroom_gate_horizon",
            "homeroom_gate_active_passes",
            "homeroom_gate_admissions_per_second",
            "homeroom_gate_tickets_issued_total",
            "homeroom_gate_tickets_redeemed_total",
        ):
            assert name in text
        spec = (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        for path in (
            "/gate/{gate}/ticket",
            "/gate/{gate}/redeem",
            "/gate/{gate}/state",
            "/gate/{gate}/admin/policy",
        ):
            assert path in spec["paths"]


async def test_activity_renews_the_pass_and_keeps_one_active_count(gate: Gate) -> None:
    async with gate.make_client() as client:
        await client.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        first = await client.post("/gate/national/redeem", headers=JSON)
        expires = first.json()["expires"]
        gate.clock.advance(gate.keeper.settings.pass_renew_after_s + 5)
        page = await client.get("/class/", headers=JSON)
        assert page.status_code == 200
        assert "hr_p_national=" in page.headers.get("set-cookie", "")
        renewed = (await client.get("/gate/national/pass")).json()["expires"]
        assert renewed > expires
        await gate.tick()
        assert gate.rt.active == 1  # moved from one expiry bucket to another, not doubled
        gate.clock.advance(gate.keeper.settings.pass_ttl_s + 61)
        expired = await client.get("/gate/national/pass", headers=JSON)
        assert expired.status_code == 410
        assert expired.json()["error"] == "pass_expired"


async def test_adaptive_capacity_follows_reported_health(gate: Gate) -> None:
    await gate.set_policy(adaptive=True, capacity_min=10, capacity_max=20_000)
    start = gate.rt.capacity
    auth = {"authorization": f"Bearer {gate.token}"}
    async with gate.make_client() as client:
        bad = {"p95_ms": 5_000, "error_rate": 0.2, "samples": 500}
        assert (
            await client.post("/gate/national/admin/health", json=bad, headers=auth)
        ).status_code == 200
        await gate.tick()
        assert gate.rt.capacity < start
        lowered = gate.rt.capacity
        good = {"p95_ms": 50, "error_rate": 0.0, "samples": 500}
        await client.post("/gate/national/admin/health", json=good, headers=auth)
        await gate.tick()
        assert gate.rt.capacity > lowered
        malformed = await client.post(
            "/gate/national/admin/health", json={"p95_ms": "x"}, headers=auth
        )
        assert malformed.status_code == 400
    await gate.set_policy(capacity=1234)  # a capacity set by hand switches adaptation off
    await gate.tick()
    assert gate.rt.policy.adaptive is False
    assert gate.rt.capacity == 1234


async def test_every_route_is_in_the_openapi_document(gate: Gate) -> None:
    from starlette.routing import Route

    async with gate.make_client() as client:
        spec = (await client.get("/openapi.json")).json()
    routes = [r for r in gate.keeper_app_routes() if isinstance(r, Route)]
    documented = {(path, method.lower()) for path, ops in spec["paths"].items() for method in ops}
    for route in routes:
        if not route.path.startswith(("/gate/", "/metrics", "/healthz")):
            continue  # pages of the demo services and static files
        for method in route.methods or ():
            if method in ("HEAD",):
                continue
            assert (route.path, method.lower()) in documented, (route.path, method)


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "gates": "national,reunion",
            "protect": "/class=national,/workspace=national,/reunion=reunion",
        }
    ],
)
async def test_one_pass_opens_every_service_of_its_gate_and_gates_are_independent(
    gate: Gate,
) -> None:
    reunion = gate.keeper.gates["reunion"]
    await gate.set_policy(capacity=1)
    async with gate.make_client() as client:
        await client.post("/gate/national/ticket", headers=JSON)
        await gate.tick()
        assert (await client.post("/gate/national/redeem", headers=JSON)).status_code == 200
        assert (await client.get("/class/", headers=JSON)).status_code == 200
        assert (await client.get("/workspace/", headers=JSON)).status_code == 200
        assert (await client.get("/reunion/", headers=JSON)).status_code == 503  # another gate
        national_ticket = client.cookies["hr_t_national"]
        foreign = await client.post(
            "/gate/reunion/redeem", headers=JSON, json={"ticket": national_ticket}
        )
        assert foreign.status_code == 403
        assert foreign.json()["error"] == "ticket_foreign"
        own = await client.post("/gate/reunion/ticket", headers=JSON)
        assert own.json()["number"] == 1  # its own counters
    assert reunion.policy.capacity == gate.keeper.settings.capacity  # its own capacity


@pytest.mark.parametrize(
    "settings_overrides", [{"mode": "safety_net", "capacity": 10, "safety_threshold": 0.5}]
)
async def test_safety_net_starts_queueing_by_itself_near_capacity(gate: Gate) -> None:
    outcomes = []
    for _ in range(8):
        await gate.tick()
        async with gate.make_client() as client:
            ticket = (await client.post("/gate/national/ticket", headers=JSON)).json()
            outcomes.append(ticket["admitted"])
    assert outcomes[:5] == [True] * 5  # below half of capacity: straight in, no waiting page
    assert not any(outcomes[5:])  # then a queue forms by itself
    assert gate.rt.active == 5


async def test_position_and_estimated_wait_follow_the_admission_rate(gate: Gate) -> None:
    await gate.set_policy(rate_per_min=120, capacity=1000)  # two admissions a second
    clients = [gate.make_client() for _ in range(30)]
    try:
        for client in clients:
            await client.post("/gate/national/ticket", headers=JSON)
        for _ in range(5):
            await gate.tick()
        last = (await clients[-1].post("/gate/national/ticket", headers=JSON)).json()
        assert last["position"] == 30 - gate.rt.counters[Lane.PUPILS].horizon
        assert last["wait_s"] is not None
        assert last["wait_s"] == pytest.approx(
            last["position"] / gate.rt.counters[Lane.PUPILS].history.rate(gate.clock.now), abs=1
        )
        state = (await clients[0].get("/gate/national/state")).json()
        assert state["lanes"]["pupils"]["rate"] > 0
    finally:
        for client in clients:
            await client.aclose()


KEYS = "1:" + base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")


@pytest.mark.parametrize("settings_overrides", [{"secret_keys": KEYS}])
async def test_tickets_from_before_the_store_lost_its_state_take_a_new_place(
    gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    store = gate.rt.store
    assert isinstance(store, MemoryGateStore)
    async with gate.make_client() as early, gate.make_client() as late:
        held = (await early.post("/gate/national/ticket", headers=JSON)).json()
        await gate.tick()
        # Everything the store held is gone, as in a Redis restarted without persistence; the
        # keys stay, so the tickets people hold still open.
        store._gates.clear()
        await gate.tick(10)
        assert "lost this lane's state" in caplog.text
        newcomer = await late.post("/gate/national/ticket", headers=JSON)
        assert newcomer.json()["number"] == held["number"]  # the count began again
        redeemed = await early.post(
            "/gate/national/redeem", headers=JSON, json={"ticket": held["ticket"]}
        )
        assert redeemed.status_code == 410
        assert redeemed.json()["error"] == "gate_restarted"
        again = await early.post("/gate/national/ticket", headers=JSON)
        assert again.status_code == 201  # not the old ticket back: a place in the new count
        assert again.json()["number"] == held["number"] + 1
        assert gate.rt.stats.refused["state_lost"] == 2
    # an appointment holds a time, not a number: it is not from a lost count
    appointment = gate.rt.seal(
        Kind.TICKET, Lane.PUPILS, 0, bytes(16), 600, Flag.APPOINTMENT, now=START
    )[1]
    assert not gate.rt.from_lost_state(appointment)


@pytest.mark.parametrize("settings_overrides", [{"secret_keys": KEYS}])
async def test_passes_from_a_lost_count_stay_in_uncounted_and_touch_no_new_number(
    gate: Gate,
) -> None:
    store = gate.rt.store
    assert isinstance(store, MemoryGateStore)
    await gate.set_policy(capacity=10)
    clients = [gate.make_client() for _ in range(4)]
    a, b, n1, n2 = clients
    for client in (a, b):
        await client.post("/gate/national/ticket", headers=JSON)
    await gate.tick()
    for client in (a, b):
        assert (await client.post("/gate/national/redeem", headers=JSON)).status_code == 200
    store._gates.clear()  # passes 1 and 2 of a count that is gone
    await gate.tick(10)
    for client in (n1, n2):  # numbers 1 and 2 again, in the new count
        await client.post("/gate/national/ticket", headers=JSON)
    await gate.tick()
    for client in (n1, n2):
        assert (await client.post("/gate/national/redeem", headers=JSON)).status_code == 200
    await gate.tick()
    assert gate.rt.active == 2
    await b.post("/gate/national/leave")  # b's number 2 is n2's now: nothing is given back
    gate.clock.advance(gate.keeper.settings.pass_renew_after_s + 5)
    for client in (a, n2):  # both active: a's pass renews uncounted, n2's as before
        page = await client.get("/class/", headers=JSON)
        assert page.status_code == 200
        assert "hr_p_national=" in page.headers.get("set-cookie", "")
    await gate.tick()
    assert gate.rt.active == 2  # n1 and n2; a is in, uncounted, and b left
    for client in clients:
        await client.aclose()

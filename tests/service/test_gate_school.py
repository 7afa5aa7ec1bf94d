"""The gate knows who is coming: sign-in behind it, lanes by role, one place per person,
appointments, and the teacher's attendance counts — the whole app in process."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from homeroom.backends.gate import PersonRecord, PersonStatus
from homeroom.backends.memory import MemoryGateStore
from homeroom.core.lanes import Lane
from homeroom.core.tokens import account_key
from homeroom.school.auth.sessions import COOKIE, LONG, STAFF
from homeroom.school.data.models import ClassSession, Enrolment, Person, Role
from tests.school.people import NOW, Demo, build, person
from tests.service.conftest import Gate

JSON = {"accept": "application/json"}
HTML = {"accept": "text/html"}
PASSWORD = "correct horse battery"
SHIFT = dt.timedelta(days=21)  # the test school's Monday, moved after the gate clock's start
EIGHT = int((NOW + SHIFT).timestamp())  # Monday 8:00 in Paris; the classes start at 9:00


@dataclass
class School:
    demo: Demo
    zoe: int  # a pupil without accommodation, in the first class
    cookies: dict[str, str]  # login → hr_sid
    session_id: int  # the first class's 9:00 session

    def client(self, gate: Gate, login: str | None = None, **kw: Any) -> httpx.AsyncClient:
        client = gate.make_client(**kw)
        if login is not None:
            client.cookies.set(COOKIE, self.cookies[login])
        return client


@pytest.fixture
async def school(gate: Gate) -> School:
    gate.clock.now = EIGHT
    app_school = gate.app.school
    async with app_school.sessionmaker() as db:
        demo = await build(db)
        for row in (await db.scalars(select(ClassSession))).all():
            row.starts_at, row.ends_at = row.starts_at + SHIFT, row.ends_at + SHIFT
        zoe = await person(db, "zoe", Role.PUPIL, demo.school)
        db.add(Enrolment(pupil_id=zoe, group_id=demo.groups[0]))
        for pid in (demo.teacher, demo.pupil, zoe):
            found = await db.get(Person, pid)
            assert found is not None
            found.password_hash = app_school.passwords.hash(PASSWORD)
        cookies = {
            "prof": await app_school.sessions.create(db, demo.teacher, STAFF),
            "lea": await app_school.sessions.create(db, demo.pupil, LONG),
            "zoe": await app_school.sessions.create(db, zoe, LONG),
            "tom": await app_school.sessions.create(db, demo.other_pupil, LONG),
        }
        await db.commit()
        first = await db.scalar(
            select(ClassSession.id)
            .where(ClassSession.group_id == demo.groups[0])
            .order_by(ClassSession.starts_at)
        )
        assert first is not None
    return School(demo, zoe, cookies, first)


async def ticket(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/gate/national/ticket", headers=JSON, json=body or None)


# Sign-in behind the gate


async def test_sign_in_waits_its_turn_before_any_password_is_checked(
    gate: Gate, school: School
) -> None:
    async with school.client(gate, follow_redirects=False) as client:
        api = await client.post(
            "/api/v1/session", headers=JSON, json={"login": "zoe", "password": PASSWORD}
        )
        assert api.status_code == 503
        assert api.json()["error"] == "waiting_room"
        assert COOKIE not in api.cookies
        page = await client.get("/signin", headers=HTML)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/gate/national/wait?next=/signin")
        form = await client.post("/signin", headers=HTML, data={"login": "zoe"})
        assert form.status_code == 303
        # Signing out is not gated: only POST /api/v1/session is.
        out = await client.delete("/api/v1/session", headers=JSON)
        assert out.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"mode": "safety_net"}])
async def test_in_the_safety_net_signing_in_is_one_request(gate: Gate, school: School) -> None:
    await gate.tick()  # the controller opens room
    async with school.client(gate, follow_redirects=False) as client:
        done = await client.post(
            "/api/v1/session", headers=JSON, json={"login": "zoe", "password": PASSWORD}
        )
        assert done.status_code == 201, done.text  # not a 307: the body is not sent twice
        assert COOKIE in client.cookies
        assert "hr_p_national" in client.cookies
        check = await client.get("/gate/national/pass")
        assert check.json()["valid"] is True


async def test_a_valid_session_needs_no_pass_for_the_sign_in_page(
    gate: Gate, school: School
) -> None:
    async with school.client(gate, "prof", follow_redirects=False) as client:
        page = await client.get("/signin", headers=HTML)
        assert page.status_code == 303
        assert page.headers["location"].endswith("/home")  # signed in already: on to the rest
        # Posting a password again still waits its turn.
        again = await client.post(
            "/api/v1/session", headers=JSON, json={"login": "prof", "password": PASSWORD}
        )
        assert again.status_code == 503
    async with school.client(gate, follow_redirects=False) as forged:
        forged.cookies.set(COOKIE, school.cookies["prof"][:-3] + "abc")
        page = await forged.get("/signin", headers=HTML)
        assert page.headers["location"].startswith("/gate/national/wait")


# Lanes and one place per person


async def test_each_person_queues_in_the_lane_of_their_role(gate: Gate, school: School) -> None:
    gate.clock.now = EIGHT + 55 * 60  # 8:55: the 9:00 class is close, no appointment
    async with (
        school.client(gate, "prof") as teacher,
        school.client(gate, "lea") as accommodated,
        school.client(gate, "zoe") as pupil,
        school.client(gate) as anonymous,
        school.client(gate) as forged,
    ):
        forged.cookies.set(COOKIE, "not-a-session")
        lanes = {}
        for name, client in [
            ("prof", teacher),
            ("lea", accommodated),
            ("zoe", pupil),
            ("anon", anonymous),
            ("forged", forged),
        ]:
            answer = await ticket(client)
            assert answer.status_code == 201, answer.text
            lanes[name] = (answer.json()["lane"], answer.json()["signed_in"])
    assert lanes == {
        "prof": ("staff", True),
        "lea": ("priority", True),
        "zoe": ("pupils", True),
        "anon": ("pupils", False),
        "forged": ("pupils", False),  # a forged cookie is no one: anonymous, never a 500
    }


async def test_a_second_device_of_a_person_gets_the_same_place(gate: Gate, school: School) -> None:
    async with (
        school.client(gate, "prof") as laptop,
        school.client(gate) as someone,
        school.client(gate, "prof") as phone,
    ):
        first = await ticket(laptop)
        assert first.status_code == 201
        other = await ticket(someone)
        second = await ticket(phone)
        assert second.status_code == 200  # a place already held
        assert second.json()["number"] == first.json()["number"]
        assert second.json()["lane"] == "staff"
        assert second.json()["ticket"] != first.json()["ticket"]  # bound to the phone's browser
        assert other.json()["lane"] == "pupils"
        await gate.tick()
        assert gate.rt.counters[Lane.STAFF].issued == 1  # one number taken for two devices
        assert (await laptop.post("/gate/national/redeem", headers=JSON)).status_code == 200
        assert (await phone.post("/gate/national/redeem", headers=JSON)).status_code == 200
        await gate.tick()
        assert gate.rt.counters[Lane.STAFF].active == 1  # counted once
        # Long after the claim window, a third device still joins the person's live pass.
        gate.clock.advance(gate.rt.policy.claim_window_s - 100)
        await gate.tick()
        assert (await laptop.get("/workspace/maths", headers=JSON)).status_code == 200  # renewed
        gate.clock.advance(200)
        await gate.tick()
        async with school.client(gate, "prof") as tablet:
            third = await ticket(tablet)
            assert third.json()["number"] == first.json()["number"]
            assert (await tablet.post("/gate/national/redeem", headers=JSON)).status_code == 200


async def test_signing_in_moves_an_anonymous_ticket_to_the_persons_lane(
    gate: Gate, school: School
) -> None:
    async with school.client(gate) as client:
        before = await ticket(client)
        assert before.json()["lane"] == "pupils"
        client.cookies.set(COOKIE, school.cookies["prof"])
        after = await ticket(client)
        assert after.status_code == 201
        assert (after.json()["lane"], after.json()["signed_in"]) == ("staff", True)


# Appointments


async def test_a_pupil_early_for_class_gets_an_appointment(gate: Gate, school: School) -> None:
    nine = EIGHT + 3600
    async with school.client(gate, "zoe") as pupil, school.client(gate, "zoe") as phone:
        answer = await ticket(pupil)
        assert answer.status_code == 201, answer.text
        data = answer.json()
        assert data["appointment"] == {
            "starts_at": nine,
            "come_back_at": nine - 600,
            "until": nine + 600,
            "lane": "priority",
        }
        assert (data["position"], data["wait_s"], data["number"]) == (None, 3000, 0)
        assert gate.rt.counters[Lane.PUPILS].issued == 0  # not in today's queue
        schemas = (await pupil.get("/openapi.json")).json()["components"]["schemas"]
        assert set(data) <= set(schemas["Ticket"]["properties"])
        assert set(data["appointment"]) == set(schemas["Appointment"]["required"])
        again = await ticket(phone)  # another device: the same appointment
        assert again.status_code == 200
        assert again.json()["appointment"] == data["appointment"]
        early = await pupil.post("/gate/national/redeem", headers=JSON)
        assert early.status_code == 425
        assert early.json()["error"] == "appointment"
        assert early.json()["come_back_at"] == nine - 600
        assert early.headers["retry-after"] == "3000"
        for lang, words in [
            ("en", "Your class starts at 09:00; come back from 08:50, your place is kept."),
            ("fr", "Votre cours commence à 09:00. Revenez à partir de 08:50"),
        ]:
            page = await pupil.get(f"/gate/national/wait?next=/class&lang={lang}", headers=HTML)
            assert page.status_code == 200
            assert words in page.text
            assert 'data-status="not_open"' in page.text  # the script reloads at come-back
            assert f'data-opening-at="{nine - 600}"' in page.text


@pytest.mark.parametrize("settings_overrides", [{"rate_per_min": 120}])
async def test_from_come_back_time_the_place_is_kept_ahead_of_the_crowd(
    gate: Gate, school: School
) -> None:
    async with school.client(gate, "zoe") as pupil:
        assert (await ticket(pupil)).json()["appointment"] is not None
        crowd = []
        gate.clock.advance(20 * 60)  # 8:20: the crowd arrives without an appointment
        for _ in range(30):
            client = school.client(gate)
            crowd.append(client)
            assert (await ticket(client)).json()["lane"] == "pupils"
        gate.clock.advance(30 * 60)  # 8:50
        due = await ticket(pupil)
        assert due.status_code == 201
        place = due.json()
        assert (place["lane"], place["appointment"]) == ("priority", None)
        async with school.client(gate, "zoe") as phone:  # the exchange is once per person
            assert (await ticket(phone)).json()["number"] == place["number"]
        await gate.tick()  # 4 places: the priority lane's share comes first to her
        assert (await pupil.post("/gate/national/redeem", headers=JSON)).status_code == 200
        last = await crowd[-1].post("/gate/national/redeem", headers=JSON)
        assert last.status_code == 425
        for client in crowd:
            await client.aclose()


async def test_bad_appointments_get_a_clear_answer(gate: Gate, school: School) -> None:
    async with school.client(gate, "zoe") as pupil:
        text = (await ticket(pupil)).json()["ticket"]
        tampered = text[:-2] + ("AA" if not text.endswith("AA") else "BB")
        refused = await pupil.post("/gate/national/redeem", headers=JSON, json={"ticket": tampered})
        assert refused.status_code == 403
        assert refused.json()["error"] == "ticket_invalid"
        gate.clock.now = EIGHT + 3600 + 601  # 9:10 passed: the appointment has expired
        late = await pupil.post("/gate/national/redeem", headers=JSON, json={"ticket": text})
        assert late.status_code == 410
        assert late.json()["error"] == "ticket_expired"
        # The class is under way: she queues now, in her own lane.
        now = await ticket(pupil)
        assert now.status_code == 201
        assert (now.json()["lane"], now.json()["appointment"]) == ("pupils", None)


@pytest.mark.parametrize("settings_overrides", [{"mode": "safety_net"}])
async def test_nobody_gets_an_appointment_while_there_is_room(gate: Gate, school: School) -> None:
    await gate.tick()
    async with school.client(gate, "zoe") as pupil:
        answer = await ticket(pupil)
        assert answer.json()["appointment"] is None
        assert answer.json()["admitted"] is True


# Attendance


async def attendance(client: httpx.AsyncClient, session_id: int | str) -> httpx.Response:
    return await client.get(f"/api/v1/sessions/{session_id}/attendance", headers=JSON)


async def test_the_teacher_sees_who_is_in_waiting_or_away(gate: Gate, school: School) -> None:
    gate.clock.now = EIGHT + 55 * 60  # 8:55: no appointments any more
    async with (
        school.client(gate, "prof") as teacher,
        school.client(gate, "zoe") as zoe,
        school.client(gate, "lea") as lea,
    ):
        counts = (await attendance(teacher, school.session_id)).json()
        assert counts["pupils"] == 2  # lea and zoe
        assert (counts["admitted"], counts["waiting"], counts["not_connected"]) == (0, 0, 2)
        await ticket(zoe)
        await ticket(lea)
        counts = (await attendance(teacher, school.session_id)).json()
        assert (counts["admitted"], counts["waiting"], counts["not_connected"]) == (0, 2, 0)
        await gate.tick()
        assert (await zoe.post("/gate/national/redeem", headers=JSON)).status_code == 200
        counts = (await attendance(teacher, school.session_id)).json()
        assert (counts["admitted"], counts["waiting"], counts["not_connected"]) == (1, 1, 0)
        await zoe.post("/gate/national/leave")  # signed out of the gate
        counts = (await attendance(teacher, school.session_id)).json()
        assert (counts["admitted"], counts["waiting"], counts["not_connected"]) == (0, 1, 1)
        # A ticket whose turn came and went is no longer waiting.
        gate.clock.advance(gate.rt.policy.claim_window_s + 5)
        await gate.tick()
        await gate.tick()
        counts = (await attendance(teacher, school.session_id)).json()
        assert (counts["admitted"], counts["waiting"], counts["not_connected"]) == (0, 0, 2)


async def test_attendance_is_for_the_teachers_of_the_class_only(gate: Gate, school: School) -> None:
    async with school.client(gate, "zoe") as pupil, school.client(gate, "prof") as teacher:
        assert (await attendance(pupil, school.session_id)).status_code == 404
        async with school.client(gate) as anonymous:
            assert (await attendance(anonymous, school.session_id)).status_code == 401
        for bad in ("0", "99999", "abc", "1e3", "9" * 12):
            answer = await attendance(teacher, bad)
            assert answer.status_code == 404, bad
            assert answer.json()["error"] in ("no_session", "not_found")
        async with gate.app.school.sessionmaker() as db:
            elsewhere = ClassSession(
                group_id=school.demo.other_group,
                teacher_id=school.demo.parent,
                title="Ailleurs",
                starts_at=NOW + SHIFT + dt.timedelta(hours=1),
                ends_at=NOW + SHIFT + dt.timedelta(hours=2),
            )
            db.add(elsewhere)
            await db.commit()
            other_id = elsewhere.id
        assert (await attendance(teacher, other_id)).status_code == 404


async def test_the_gate_records_only_signed_in_people(gate: Gate, school: School) -> None:
    async with school.client(gate) as anonymous, school.client(gate, "prof") as teacher:
        await ticket(anonymous)
        await ticket(teacher)
    store = gate.keeper.store
    who = account_key(str(school.demo.teacher)).hex()
    record = await store.person("national", who)
    assert record is not None
    assert (record.lane, record.status) == (Lane.STAFF, PersonStatus.WAITING)
    assert isinstance(record, PersonRecord)
    assert isinstance(store, MemoryGateStore)
    assert store.people_held("national") == 1  # the anonymous arrival left no record

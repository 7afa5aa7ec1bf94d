"""Join tokens for a live class: who may take one, for which role, and when (both databases)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from homeroom.core.live.parts import Role
from homeroom.live.jointoken import JoinClaims, JoinTokens
from homeroom.live.revocations import Revocation, Revocations
from homeroom.school.data.models import LiveRevocation
from tests.school.apiclient import Api, sign_in, with_cookie
from tests.school.people import NOW

SECRET = b"join-secret-for-tests-0123456789"


@pytest.fixture
def live_api(api: Api) -> Api:
    api.deps.join_tokens = JoinTokens(SECRET)
    return api


async def csrf_of(api: Api, cookie: str) -> str:
    me = await api.client.get("/api/v1/me", headers=with_cookie(cookie))
    csrf: str = me.json()["csrf"]
    return csrf


async def join(api: Api, cookie: str, session_id: int | str) -> tuple[int, dict[str, object]]:
    headers = with_cookie(cookie, **{"x-csrf-token": await csrf_of(api, cookie)})
    response = await api.client.post(f"/api/v1/sessions/{session_id}/join", headers=headers)
    return response.status_code, response.json()


async def first_session(api: Api, cookie: str) -> int:
    listed = await api.client.get(
        "/api/v1/me/sessions", params={"day": "2026-09-07"}, headers=with_cookie(cookie)
    )
    session_id: int = listed.json()["sessions"][0]["id"]
    return session_id


async def test_a_pupil_and_the_teacher_of_the_class_take_tokens_for_their_roles(
    live_api: Api,
) -> None:
    pupil = await sign_in(live_api, "lea")
    session_id = await first_session(live_api, pupil)
    status, body = await join(live_api, pupil, session_id)
    assert status == 200, body
    claims = JoinTokens(SECRET).verify(str(body["token"]), NOW.timestamp())
    assert (claims.room, claims.person, claims.role) == (
        f"s{session_id}",
        str(live_api.demo.pupil),
        Role.PUPIL,
    )
    assert claims.name == "Lea" and body["url"] == "ws://school.test:8001/live"
    ends = dt.datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
    assert claims.expires == int(ends.timestamp()) and ends > NOW + dt.timedelta(hours=1)
    teacher = await sign_in(live_api, "prof")
    status, body = await join(live_api, teacher, session_id)
    assert status == 200 and body["role"] == "teacher"


async def test_someone_outside_the_class_gets_the_answer_of_an_unknown_session(
    live_api: Api,
) -> None:
    pupil = await sign_in(live_api, "lea")
    session_id = await first_session(live_api, pupil)
    for login in ("tom", "maman"):  # another school's pupil; a parent
        cookie = await sign_in(live_api, login)
        refused = await join(live_api, cookie, session_id)
        unknown = await join(live_api, cookie, 99_999)
        assert refused == unknown and refused[0] == 404
    assert (await join(live_api, pupil, "12abc"))[0] == 404


async def test_without_the_csrf_token_or_signed_in_there_is_no_token(live_api: Api) -> None:
    pupil = await sign_in(live_api, "lea")
    session_id = await first_session(live_api, pupil)
    no_csrf = await live_api.client.post(
        f"/api/v1/sessions/{session_id}/join", headers=with_cookie(pupil)
    )
    assert no_csrf.status_code == 403
    signed_out = await live_api.client.post(f"/api/v1/sessions/{session_id}/join")
    assert signed_out.status_code == 401


async def test_too_early_then_over(live_api: Api) -> None:
    pupil = await sign_in(live_api, "lea")
    session_id = await first_session(live_api, pupil)  # 9:00-9:55 in Paris, NOW is 8:00
    clock = live_api.deps.clock
    live_api.deps.clock = lambda: NOW.timestamp() - 3600  # 7:00: the lobby opens at 8:00
    status, body = await join(live_api, pupil, session_id)
    assert status == 425 and body["error"] == "class_not_open"
    live_api.deps.clock = lambda: NOW.timestamp() + 3 * 3600  # 11:00: over
    status, body = await join(live_api, pupil, session_id)
    assert status == 410 and body["error"] == "class_over"
    live_api.deps.clock = clock


async def test_without_a_gateway_key_the_answer_is_503(api: Api) -> None:
    pupil = await sign_in(api, "lea")
    session_id = await first_session(api, pupil)
    status, body = await join(api, pupil, session_id)
    assert status == 503 and body["error"] == "live_unavailable"


async def guest_link(api: Api, cookie: str, session_id: int) -> tuple[int, dict[str, object]]:
    headers = with_cookie(cookie, **{"x-csrf-token": await csrf_of(api, cookie)})
    response = await api.client.post(f"/api/v1/sessions/{session_id}/guest-link", headers=headers)
    return response.status_code, response.json()


async def test_a_teacher_makes_a_guest_link_and_a_guest_joins_as_a_guest(live_api: Api) -> None:
    teacher = await sign_in(live_api, "prof")
    session_id = await first_session(live_api, teacher)
    status, body = await guest_link(live_api, teacher, session_id)
    assert status == 200, body
    url = str(body["url"])
    assert url.startswith(f"http://school.test/class/{session_id}?guest=")
    token = url.split("guest=", 1)[1]

    async def guest_join(name: str, browser: str, link: str = token, sid: int = session_id) -> Any:
        return await live_api.client.post(
            f"/api/v1/sessions/{sid}/guest-join",
            params={"token": link, "name": name},
            headers={"cookie": f"hr_guest={browser}"},
        )

    joined = await guest_join("  Mme   Intervenante ", "b" * 22)
    assert joined.status_code == 200, joined.text
    claims = JoinTokens(SECRET).verify(joined.json()["token"], NOW.timestamp())
    assert (claims.role, claims.name, claims.room) == (
        Role.GUEST,
        "Mme Intervenante",
        f"s{session_id}",
    )
    again = JoinTokens(SECRET).verify(
        (await guest_join("Mme Intervenante", "b" * 22)).json()["token"], NOW.timestamp()
    )
    other = JoinTokens(SECRET).verify(
        (await guest_join("Mme Intervenante", "c" * 22)).json()["token"], NOW.timestamp()
    )
    assert again.person == claims.person != other.person  # one seat per browser
    assert (await guest_join("", "b" * 22)).status_code == 400
    assert (await guest_join("x" * 81, "b" * 22)).status_code == 400
    assert (await guest_join("Mme", "b" * 22, link=token[:-2] + "xx")).status_code == 404
    other_session = session_id + 1
    assert (await guest_join("Mme", "b" * 22, sid=other_session)).status_code == 404
    live_api.deps.clock = lambda: NOW.timestamp() + 3 * 3600  # the class is over
    assert (await guest_join("Mme", "b" * 22)).status_code == 410


async def test_only_a_teacher_of_the_session_makes_a_guest_link(live_api: Api) -> None:
    pupil = await sign_in(live_api, "lea")
    session_id = await first_session(live_api, pupil)
    refused = await guest_link(live_api, pupil, session_id)
    unknown = await guest_link(live_api, pupil, 99_999)
    assert refused == unknown and refused[0] == 404


async def revocations(api: Api) -> Revocations:
    async with api.deps.sessionmaker() as db:
        rows = (await db.scalars(select(LiveRevocation))).all()
    return Revocations(Revocation(r.room, r.person, r.grant_tag, r.before_ms) for r in rows)


async def test_signing_out_revokes_the_join_tokens_of_that_sign_in_only(live_api: Api) -> None:
    pupil = await sign_in(live_api, "lea")
    elsewhere = await sign_in(live_api, "lea")  # the same pupil on another device
    session_id = await first_session(live_api, pupil)
    tokens = JoinTokens(SECRET)
    here = [await join(live_api, c, session_id) for c in (pupil, elsewhere)]
    mine, theirs = (tokens.verify(str(body["token"]), NOW.timestamp()) for _, body in here)
    assert mine.grant and mine.grant != theirs.grant
    assert not (await revocations(live_api)).covers(mine)
    headers = with_cookie(pupil, **{"x-csrf-token": await csrf_of(live_api, pupil)})
    assert (await live_api.client.delete("/api/v1/session", headers=headers)).status_code == 204
    known = await revocations(live_api)
    assert known.covers(mine) and not known.covers(theirs)


async def test_deleting_a_session_revokes_every_token_for_its_room(live_api: Api) -> None:
    teacher = await sign_in(live_api, "prof")
    session_id = await first_session(live_api, await sign_in(live_api, "lea"))
    status, body = await join(live_api, teacher, session_id)
    assert status == 200
    claims = JoinTokens(SECRET).verify(str(body["token"]), NOW.timestamp())
    headers = with_cookie(teacher, **{"x-csrf-token": await csrf_of(live_api, teacher)})
    response = await live_api.client.delete(f"/api/v1/sessions/{session_id}", headers=headers)
    assert response.status_code == 204
    guest = JoinClaims(claims.room, "g-x", Role.GUEST, "Invitée", claims.expires, claims.issued)
    known = await revocations(live_api)
    assert known.covers(claims) and known.covers(guest)
    assert not known.covers(JoinClaims("s999", "1", Role.PUPIL, "A", claims.expires, 0))


async def test_a_teacher_cancels_the_guest_links_and_their_guests_are_revoked(
    live_api: Api,
) -> None:
    teacher = await sign_in(live_api, "prof")
    session_id = await first_session(live_api, teacher)
    _, made = await guest_link(live_api, teacher, session_id)
    link = str(made["url"]).split("guest=", 1)[1]

    async def guest_join(token: str) -> Any:
        return await live_api.client.post(
            f"/api/v1/sessions/{session_id}/guest-join",
            params={"token": token, "name": "Mme"},
            headers={"cookie": f"hr_guest={'b' * 22}"},
        )

    joined = await guest_join(link)
    claims = JoinTokens(SECRET).verify(joined.json()["token"], NOW.timestamp())
    assert claims.grant == "guest"
    pupil = await sign_in(live_api, "lea")
    for who, status in ((pupil, 404), (teacher, 204)):  # a pupil: as for an unknown session
        headers = with_cookie(who, **{"x-csrf-token": await csrf_of(live_api, who)})
        url = f"/api/v1/sessions/{session_id}/guest-link"
        assert (await live_api.client.delete(url, headers=headers)).status_code == status
    refused = await guest_join(link)
    assert refused.status_code == 410 and refused.json()["error"] == "guest_link_cancelled"
    known = await revocations(live_api)
    assert known.covers(claims)
    pupil_claims = JoinClaims(claims.room, "1", Role.PUPIL, "A", claims.expires, claims.issued, "x")
    assert not known.covers(pupil_claims)  # the class goes on for its members
    live_api.deps.clock = lambda: NOW.timestamp() + 1  # a link made after: it works
    _, fresh = await guest_link(live_api, teacher, session_id)
    assert (await guest_join(str(fresh["url"]).split("guest=", 1)[1])).status_code == 200

"""The school JSON API on SQLite and PostgreSQL: sign in, me, my sessions, sign out, refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from homeroom.school.auth.sessions import COOKIE, LONG
from homeroom.school.data.models import ClassSession
from tests.school.apiclient import PASSWORD, Api, sign_in, with_cookie


async def group_ids(api: Api, cookie: str, day: str | None = None) -> list[int]:
    params = {} if day is None else {"day": day}
    response = await api.client.get(
        "/api/v1/me/sessions", params=params, headers=with_cookie(cookie)
    )
    assert response.status_code == 200, response.text
    return [s["group"]["id"] for s in response.json()["sessions"]]


async def test_sign_in_me_sessions_sign_out(api: Api) -> None:
    response = await api.client.post("/api/v1/session", json={"login": "lea", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json() == {"person_id": api.demo.pupil, "expires_idle_s": LONG.idle_s}
    api.client.cookies.clear()
    set_cookie = response.headers["set-cookie"]
    for part in ("HttpOnly", "SameSite=Lax", "Path=/", f"Max-Age={LONG.absolute_s}"):
        assert part in set_cookie
    cookie = set_cookie.split(";")[0].split("=", 1)[1]

    me = await api.client.get("/api/v1/me", headers=with_cookie(cookie))
    assert me.status_code == 200
    body = me.json()
    assert body["person_id"] == api.demo.pupil
    assert body["roles"] == ["pupil"]
    assert body["lane"] == "priority"  # lea has an accommodation
    csrf = body["csrf"]

    sessions = await api.client.get("/api/v1/me/sessions", headers=with_cookie(cookie))
    assert sessions.status_code == 200
    listed = sessions.json()["sessions"]
    assert len(listed) == 2 * len(api.demo.groups)
    assert {s["group"]["id"] for s in listed} == set(api.demo.groups)
    first = listed[0]
    assert first["teacher"] == "Prof"
    assert first["starts_at"] == "2026-09-07T07:00:00Z"
    assert first["ends_at"] == "2026-09-07T07:55:00Z"
    assert first["title"].startswith("Maths 6e")
    assert await group_ids(api, cookie, "2026-09-08") == []
    assert len(await group_ids(api, cookie, "2026-09-07")) == 6

    refused = await api.client.delete("/api/v1/session", headers=with_cookie(cookie))
    assert refused.status_code == 403
    wrong = await api.client.delete(
        "/api/v1/session", headers=with_cookie(cookie, **{"x-csrf-token": "nope"})
    )
    assert wrong.status_code == 403
    out = await api.client.delete(
        "/api/v1/session", headers=with_cookie(cookie, **{"x-csrf-token": csrf})
    )
    assert out.status_code == 204
    assert out.headers["set-cookie"].startswith(f"{COOKIE}=;")
    assert "Max-Age=0" in out.headers["set-cookie"]

    gone = await api.client.get("/api/v1/me", headers=with_cookie(cookie))
    assert gone.status_code == 401
    assert gone.json()["error"] == "signed_out"
    gone_sessions = await api.client.get("/api/v1/me/sessions", headers=with_cookie(cookie))
    assert gone_sessions.status_code == 401


async def test_a_parent_sees_the_childs_sessions_and_another_school_none(api: Api) -> None:
    parent = await sign_in(api, "maman")
    me = (await api.client.get("/api/v1/me", headers=with_cookie(parent))).json()
    assert me["roles"] == ["parent"] and me["lane"] == "guests"
    groups = await group_ids(api, parent)
    assert len(groups) == 6 and set(groups) == set(api.demo.groups)

    other = await sign_in(api, "tom")
    assert await group_ids(api, other) == [api.demo.other_group]

    teacher = await sign_in(api, "prof")
    me = (await api.client.get("/api/v1/me", headers=with_cookie(teacher))).json()
    assert me["lane"] == "staff"
    assert set(await group_ids(api, teacher)) == set(api.demo.groups)


async def titles(api: Api, cookie: str, day: str | None = None) -> list[str]:
    params = {} if day is None else {"day": day}
    response = await api.client.get(
        "/api/v1/me/sessions", params=params, headers=with_cookie(cookie)
    )
    assert response.status_code == 200, response.text
    return [s["title"] for s in response.json()["sessions"]]


async def test_by_default_my_sessions_cross_midnight_as_the_dashboard_does(api: Api) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))  # CEST
    for start, title in (
        (dt.datetime(2026, 9, 7, 23, 30, tzinfo=paris), "Veillée"),
        (dt.datetime(2026, 9, 8, 0, 5, tzinfo=paris), "Minuit passé"),
        (dt.datetime(2026, 9, 8, 2, 0, tzinfo=paris), "Nuit blanche"),
    ):
        api.session.add(
            ClassSession(
                group_id=api.demo.groups[0],
                teacher_id=api.demo.teacher,
                title=title,
                starts_at=start,
                ends_at=start + dt.timedelta(minutes=55),
            )
        )
    await api.session.commit()
    cookie = await sign_in(api, "lea")
    at = api.clock.at
    at(dt.datetime(2026, 9, 7, 21, 55, tzinfo=dt.UTC))  # 23:55 in Paris
    night = await titles(api, cookie)
    assert night[-2:] == ["Veillée", "Minuit passé"] and "Nuit blanche" not in night
    assert len(night) == 2 * len(api.demo.groups) + 2  # and the day's classes
    at(dt.datetime(2026, 9, 7, 22, 10, tzinfo=dt.UTC))  # 00:10: yesterday's is in progress
    assert await titles(api, cookie) == ["Veillée", "Minuit passé", "Nuit blanche"]
    assert await titles(api, cookie, "2026-09-08") == ["Minuit passé", "Nuit blanche"]  # the day
    at(dt.datetime(2026, 9, 7, 22, 26, tzinfo=dt.UTC))  # 00:26: it has ended
    assert await titles(api, cookie) == ["Minuit passé", "Nuit blanche"]


async def test_wrong_password_and_unknown_login_look_the_same(api: Api) -> None:
    wrong = await api.client.post("/api/v1/session", json={"login": "lea", "password": "x"})
    unknown = await api.client.post("/api/v1/session", json={"login": "nobody", "password": "x"})
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "bad_credentials"
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"login": "lea"}', "application/json"),
        (b'{"login": 3, "password": "x"}', "application/json"),
        (b'{"login": "lea", "password": "x", "shared_device": "yes"}', "application/json"),
    ],
)
async def test_a_bad_body_is_400(api: Api, content: bytes, kind: str) -> None:
    response = await api.client.post(
        "/api/v1/session", content=content, headers={"content-type": kind}
    )
    assert response.status_code == 400, response.text


async def test_a_bad_day_is_400_and_no_cookie_is_401(api: Api) -> None:
    cookie = await sign_in(api, "lea")
    for day in ("2026-13-01", "tomorrow", "2026-W36-1", "20260907", "9999-12-31", "0001-01-01"):
        response = await api.client.get(
            "/api/v1/me/sessions", params={"day": day}, headers=with_cookie(cookie)
        )
        assert response.status_code == 400, day
        assert response.json()["error"] == "bad_day"
    assert (await api.client.get("/api/v1/me")).status_code == 401
    assert (await api.client.get("/api/v1/me", headers=with_cookie("forged"))).status_code == 401
    assert (await api.client.delete("/api/v1/session")).status_code == 401


async def test_the_cookie_of_a_revoked_session_is_401(api: Api) -> None:
    kept = await sign_in(api, "lea")
    revoked = await sign_in(api, "lea")
    csrf = (await api.client.get("/api/v1/me", headers=with_cookie(revoked))).json()["csrf"]
    out = await api.client.delete(
        "/api/v1/session", headers=with_cookie(revoked, **{"x-csrf-token": csrf})
    )
    assert out.status_code == 204
    assert (await api.client.get("/api/v1/me", headers=with_cookie(revoked))).status_code == 401
    again = await api.client.delete(
        "/api/v1/session", headers=with_cookie(revoked, **{"x-csrf-token": csrf})
    )
    assert again.status_code == 401
    assert (await api.client.get("/api/v1/me", headers=with_cookie(kept))).status_code == 200

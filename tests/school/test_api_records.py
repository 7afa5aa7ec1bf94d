"""A live class's chat and polls after it: who reads what, case by case (both databases)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from homeroom.live.records import row_of, write
from homeroom.school.auth.passwords import Passwords
from homeroom.school.data.models import ClassSession, Enrolment, Person, Role, Teaching
from tests.school.apiclient import CHEAP, PASSWORD, Api, sign_in, with_cookie
from tests.school.people import NOW, person


async def add_person(db: AsyncSession, api: Api, login: str, role: Role) -> int:
    pid = await person(db, login, role, api.demo.school)
    someone = await db.get_one(Person, pid)
    someone.password_hash = Passwords(CHEAP).hash(PASSWORD)
    return pid


@pytest.fixture
async def lesson(api: Api, engine: AsyncEngine, session: AsyncSession) -> dict[str, int]:
    """A session of the first class after its live class: Lea and Zoé wrote, the teacher too;
    three polls closed, the second shown to the class. Prof 2 also teaches the class; Prof 3
    teaches another class only."""
    group = api.demo.groups[0]
    session_id = await session.scalar(
        select(ClassSession.id).where(ClassSession.group_id == group).limit(1)
    )
    assert session_id is not None
    zoe = await add_person(session, api, "zoe", Role.PUPIL)
    session.add(Enrolment(pupil_id=zoe, group_id=group))
    colleague = await add_person(session, api, "prof2", Role.TEACHER)
    session.add(Teaching(teacher_id=colleague, group_id=group, subject="physique"))
    elsewhere = await add_person(session, api, "prof3", Role.TEACHER)
    session.add(Teaching(teacher_id=elsewhere, group_id=api.demo.groups[1], subject="maths"))
    await add_person(session, api, "direction", Role.ADMIN)  # of the school
    await session.commit()
    lea, teacher = api.demo.pupil, api.demo.teacher
    messages = [
        (lea, "pupil", "bonjour", "all", None),
        (zoe, "pupil", "je ne comprends pas", "teacher", None),  # private, to the teachers
        (lea, "pupil", "moi non plus", "teacher", None),
        (teacher, "teacher", "regardez le tableau", "all", None),
        (zoe, "pupil", "dans le groupe", "group", 1),
        (lea, "pupil", "au revoir", "all", None),
    ]
    room = f"s{session_id}"
    rows = []
    for seq, (who, role, text, to, group_no) in enumerate(messages, start=1):
        data: dict[str, Any] = {"epoch": "e", "seq": seq, "person": str(who), "name": str(who)}
        data |= {"role": role, "text": text, "to": to, "at": NOW.timestamp() + seq}
        if group_no is not None:
            data["group"] = group_no
        rows.append(row_of(room, "chat", data))
    for number, shown in ((1, False), (2, True), (3, False)):
        data = {"epoch": "e", "poll": number, "question": f"Q{number}", "choices": ["a", "b"]}
        data |= {"multiple": False, "counts": [number, 1], "voters": number + 1}
        data |= {"shown": shown, "at": NOW.timestamp() + 100 + number}
        rows.append(row_of(room, "poll", data))
    await write(engine, rows)
    return {"session": session_id, "zoe": zoe}


async def chat_of(api: Api, login: str | None, session_id: int | str, **query: Any) -> Any:
    headers = with_cookie(await sign_in(api, login)) if login else {}
    response = await api.client.get(
        f"/api/v1/sessions/{session_id}/chat", params=query, headers=headers
    )
    return response.status_code, response.json()


async def polls_of(api: Api, login: str, session_id: int | str) -> Any:
    headers = with_cookie(await sign_in(api, login))
    response = await api.client.get(f"/api/v1/sessions/{session_id}/polls", headers=headers)
    return response.status_code, response.json()


def texts(body: dict[str, Any]) -> list[str]:
    return [m["text"] for m in body["items"]]


ALL_TEXTS = [
    "bonjour",
    "je ne comprends pas",
    "moi non plus",
    "regardez le tableau",
    "dans le groupe",
    "au revoir",
]


@pytest.mark.parametrize("login", ["prof", "prof2"])
async def test_the_teachers_of_the_class_read_every_message(
    api: Api, lesson: dict[str, int], login: str
) -> None:
    status, body = await chat_of(api, login, lesson["session"])
    assert status == 200 and texts(body) == ALL_TEXTS and body["total"] == 6
    private = body["items"][1]
    assert private == {
        "seq": 2,
        "person_id": lesson["zoe"],
        "display_name": str(lesson["zoe"]),
        "role": "pupil",
        "to": "teacher",
        "group": None,
        "text": "je ne comprends pas",
        "sent_at": "2026-09-07T06:00:02Z",
    }
    assert body["items"][4]["group"] == 1


async def test_a_pupil_reads_the_public_messages_and_their_own(
    api: Api, lesson: dict[str, int]
) -> None:
    status, body = await chat_of(api, "lea", lesson["session"])
    assert status == 200
    assert texts(body) == ["bonjour", "moi non plus", "regardez le tableau", "au revoir"]
    status, body = await chat_of(api, "zoe", lesson["session"])
    assert texts(body) == [
        "bonjour",
        "je ne comprends pas",
        "regardez le tableau",
        "dans le groupe",
        "au revoir",
    ]


@pytest.mark.parametrize("login", ["tom", "maman", "prof3", "direction"])
async def test_anyone_else_gets_the_answer_of_an_unknown_session(
    api: Api, lesson: dict[str, int], login: str
) -> None:
    """Another school's pupil, a pupil's parent, a teacher of another class, the school's
    administrators: the chat is the class's."""
    refused = await chat_of(api, login, lesson["session"])
    unknown = await chat_of(api, login, 99_999)
    assert refused == unknown and refused[0] == 404
    assert (await polls_of(api, login, lesson["session"]))[0] == 404


async def test_signed_out_bad_ids_and_pages(api: Api, lesson: dict[str, int]) -> None:
    assert (await chat_of(api, None, lesson["session"]))[0] == 401
    for bad in ("0", "12abc", str(2**31)):
        assert (await chat_of(api, "prof", bad))[0] == 404
    status, body = await chat_of(api, "prof", lesson["session"], page=2, per_page=4)
    assert status == 200 and texts(body) == ALL_TEXTS[4:] and body["total"] == 6
    assert (await chat_of(api, "prof", lesson["session"], per_page=0))[0] == 400


async def test_teachers_see_every_count_pupils_those_shown(
    api: Api, lesson: dict[str, int]
) -> None:
    status, body = await polls_of(api, "prof", lesson["session"])
    assert status == 200 and body["session_id"] == lesson["session"]
    assert [(p["poll"], p["counts"], p["voters"]) for p in body["polls"]] == [
        (1, [1, 1], 2),
        (2, [2, 1], 3),
        (3, [3, 1], 4),
    ]
    status, body = await polls_of(api, "lea", lesson["session"])
    assert status == 200
    assert [(p["question"], p["shown"], p["counts"], p["voters"]) for p in body["polls"]] == [
        ("Q1", False, None, None),
        ("Q2", True, [2, 1], 3),
        ("Q3", False, None, None),
    ]
    assert body["polls"][1]["closed_at"] == "2026-09-07T06:01:42Z"


async def test_a_session_with_no_records_has_an_empty_chat(api: Api) -> None:
    listed = await api.client.get(
        "/api/v1/me/sessions",
        params={"day": "2026-09-07"},
        headers=with_cookie(await sign_in(api, "prof")),
    )
    session_id = listed.json()["sessions"][0]["id"]
    status, body = await chat_of(api, "prof", session_id)
    assert status == 200 and body == {"items": [], "page": 1, "per_page": 50, "total": 0}
    status, body = await polls_of(api, "lea", session_id)
    assert status == 200 and body == {"session_id": session_id, "polls": []}

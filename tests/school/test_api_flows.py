"""The school JSON API's flows over HTTP, on SQLite and PostgreSQL: sign-up, codes, roster import."""

from __future__ import annotations

from sqlalchemy import select

from homeroom.school.data import db
from homeroom.school.data.models import Enrolment, Guardianship, Person
from tests.school.test_api_access import PASSWORD, World, world

__all__ = ["world"]

ROSTER = (
    "role;id;nom;prenom;classe;matiere;email;amenagement;enfants\n"
    "eleve;E1;Dupont;Léa;5e Z;;;oui;\n"
    "eleve;E2;;Moussa;5e Z;;;non;\n"
    "enseignant;P1;Curie;Marie;5e Z;Physique;marie@example.fr;;\n"
    "parent;R1;Dupont;Éric;;;;;E1\n"
    "parent;R2;Durand;Paul;;;;;E404\n"
).encode()


async def test_class_code_sign_up_then_sign_in(world: World) -> None:
    prof = await world.sign_in("prof")
    group = world.demo.groups[0]
    code = (await prof.post(f"/api/v1/groups/{group}/code")).json()["code"]
    assert len(code) == 9 and code[4] == "-"
    classes = (await prof.get("/api/v1/me/classes")).json()["classes"]
    assert classes[0]["join_code"] == code
    signed = await world.client.post(
        "/api/v1/signup/pupil",
        json={"code": code.lower(), "display_name": "Zoé Martin", "password": PASSWORD},
    )
    assert signed.status_code == 201, signed.text
    assert signed.json()["login"] == "zoe.martin" and signed.json()["role"] == "pupil"
    zoe = await world.sign_in("zoe.martin")
    assert {
        s["group"]["id"] for s in (await zoe.get("/api/v1/me/sessions")).json()["sessions"]
    } == {group}
    assert (await prof.delete(f"/api/v1/groups/{group}/code")).status_code == 204
    again = await world.client.post(
        "/api/v1/signup/pupil",
        json={"code": code, "display_name": "Another", "password": PASSWORD},
    )
    assert again.status_code == 404 and again.json()["error"] == "unknown_code"
    weak = await world.client.post(
        "/api/v1/signup/pupil", json={"code": "x" * 20, "display_name": "A", "password": "a"}
    )
    assert weak.status_code == 404  # an unknown invitation is refused before the password


async def test_parent_and_teacher_invitations(world: World) -> None:
    demo = world.demo
    prof = await world.sign_in("prof")
    made = await prof.post(
        f"/api/v1/groups/{demo.groups[0]}/invitations",
        json={"role": "parent", "child_id": demo.pupil, "max_uses": 2, "ttl_days": 3},
    )
    assert made.status_code == 201, made.text
    invitation = made.json()
    assert invitation["role"] == "parent" and invitation["max_uses"] == 2
    assert invitation["expires_at"] == "2026-09-10T06:00:00Z"
    signed = await world.client.post(
        "/api/v1/signup/parent",
        json={"token": invitation["token"], "display_name": "Papa Dupont", "password": PASSWORD},
    )
    assert signed.status_code == 201, signed.text
    papa = await world.sign_in(signed.json()["login"])
    assert [c["id"] for c in (await papa.get("/api/v1/me/children")).json()["children"]] == [
        demo.pupil
    ]
    # the existing parent follows the same link for the same child: nothing changes
    maman = await world.sign_in("maman")
    claimed = await maman.post("/api/v1/me/children", json={"token": invitation["token"]})
    assert claimed.status_code == 200 and claimed.json() == {"child_id": demo.pupil}
    assert (await prof.delete(f"/api/v1/invitations/{invitation['id']}")).status_code == 204
    revoked = await world.client.post(
        "/api/v1/signup/parent",
        json={"token": invitation["token"], "display_name": "X Y", "password": PASSWORD},
    )
    assert revoked.status_code == 410 and revoked.json()["error"] == "invitation_revoked"

    admin = await world.sign_in("direction")
    teacher = await admin.post(f"/api/v1/schools/{demo.school}/invitations", json={})
    assert teacher.status_code == 201 and teacher.json()["group_id"] is None
    pupil_form = await world.client.post(
        "/api/v1/signup/pupil",
        json={"code": teacher.json()["token"], "display_name": "Sly", "password": PASSWORD},
    )
    assert pupil_form.status_code == 404  # a teacher's link on the pupils' form
    joined = await world.client.post(
        "/api/v1/signup/teacher",
        json={
            "token": teacher.json()["token"],
            "display_name": "Nouvelle Prof",
            "password": PASSWORD,
            "email": "prof@example.fr",
        },
    )
    assert joined.status_code == 201 and joined.json()["school_id"] == demo.school
    used_up = await world.client.post(
        "/api/v1/signup/teacher",
        json={"token": teacher.json()["token"], "display_name": "B", "password": PASSWORD},
    )
    assert used_up.status_code == 410 and used_up.json()["error"] == "invitation_used_up"


async def test_one_time_code_sheet_then_new_password(world: World) -> None:
    prof = await world.sign_in("prof")
    lea = await world.sign_in("lea")
    sheet = await prof.post(f"/api/v1/groups/{world.demo.groups[0]}/one-time-codes", json={})
    assert sheet.status_code == 200, sheet.text
    codes = sheet.json()["codes"]
    assert [(c["display_name"], c["login"]) for c in codes] == [("Lea", "lea")]
    assert sheet.json()["expires_at"] == "2026-09-14T06:00:00Z"
    wrong = await world.client.post(
        "/api/v1/password/code",
        json={"login": "lea", "code": "AAAA-AAAA", "password": "a new long password"},
    )
    unknown = await world.client.post(
        "/api/v1/password/code",
        json={"login": "nobody", "code": codes[0]["code"], "password": "a new long password"},
    )
    assert wrong.status_code == unknown.status_code == 403
    assert wrong.json() == unknown.json() and wrong.json()["error"] == "bad_code"
    used = await world.client.post(
        "/api/v1/password/code",
        json={"login": "lea", "code": codes[0]["code"], "password": "a new long password"},
    )
    assert used.status_code == 204, used.text
    assert (await lea.get("/api/v1/me")).status_code == 401  # signed out everywhere
    await world.sign_in("lea", "a new long password")
    again = await world.client.post(
        "/api/v1/password/code",
        json={"login": "lea", "code": codes[0]["code"], "password": "another long password"},
    )
    assert again.status_code == 410 and again.json()["error"] == "code_used"


async def test_roster_import_reports_bad_rows_and_a_second_import_changes_nothing(
    world: World,
) -> None:
    admin = await world.sign_in("direction")
    url = f"/api/v1/schools/{world.demo.school}/roster"
    first = await admin.post(url, content=ROSTER, headers={"content-type": "text/csv"})
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["created"] == 3 and report["unchanged"] == 0
    assert [(e["line"], e["reason"]) for e in report["errors"]] == [
        (3, "missing_family_name"),
        (6, "unknown_child"),
    ]
    assert all(e["message"] for e in report["errors"])
    assert {n["external_id"] for n in report["logins"]} == {"E1", "P1", "R1"}
    assert report["groups_created"] == ["5e Z"]
    second = await admin.post(
        url, files={"file": ("eleves.csv", ROSTER, "text/csv")}, headers={"accept-language": "en"}
    )
    assert second.status_code == 200, second.text
    again = second.json()
    assert again["created"] == again["updated"] == 0 and again["unchanged"] == 3
    assert again["logins"] == [] and again["groups_created"] == []
    assert sum(again["links_added"].values()) == 0
    assert again["errors"][0]["message"] != report["errors"][0]["message"]  # in English
    async with db.sessions(world.engine)() as session:
        lea = await session.scalar(select(Person).where(Person.external_id == "E1"))
        assert lea is not None and lea.school_id == world.demo.school
        assert await session.scalar(select(Enrolment).where(Enrolment.pupil_id == lea.id))
        assert await session.scalar(select(Guardianship).where(Guardianship.child_id == lea.id))


async def test_roster_bodies_that_cannot_be_read(world: World) -> None:
    admin = await world.sign_in("direction")
    url = f"/api/v1/schools/{world.demo.school}/roster"
    empty = await admin.post(url, content=b"", headers={"content-type": "text/csv"})
    assert empty.status_code == 400 and empty.json()["error"] == "roster_missing"
    no_file = await admin.post(url, files={"other": ("a.csv", ROSTER, "text/csv")})
    assert no_file.status_code == 400 and no_file.json()["error"] == "roster_missing"
    broken = await admin.post(
        url, content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert broken.status_code == 400
    excel = await admin.post(url, content=b"PK\x03\x04rest", headers={"content-type": "text/csv"})
    assert excel.status_code == 400 and excel.json()["error"] == "roster_not_csv"
    huge = await admin.post(url, content=b"x" * (2 * 1024 * 1024 + 1))
    assert huge.status_code == 413 and huge.json()["error"] == "roster_too_large"
    prof = await world.sign_in("prof")  # a teacher of the school is not its administrator
    refused = await prof.post(url, content=ROSTER, headers={"content-type": "text/csv"})
    assert refused.status_code == 404

"""The live class page and the slides API, on SQLite and PostgreSQL: who gets in, what is kept.

The page at /class/{id} is for the class's members (others get the 404 of an unknown session);
slides go up only from the session's teachers, as checked PDFs within the limits, and come back
only to the class's members (docs/live.md#pages).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest
from pypdf import PdfWriter
from starlette.applications import Starlette

from homeroom.errors import HomeroomError
from homeroom.live.jointoken import JoinTokens
from homeroom.school.api.routes import school_routes
from homeroom.school.component import School
from homeroom.school.data import slides
from homeroom.school.pages.routes import page_routes
from tests.school.apiclient import Api, handle, sign_in, with_cookie
from tests.school.people import NOW

DATA = re.compile(r'<script type="application/json" id="lv-data">(.*?)</script>', re.S)


def pdf_of(texts: list[str]) -> bytes:
    """A small hand-written PDF, one page per text (Helvetica, 800 × 600 points)."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(texts)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(texts)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(texts):
        stream = f"BT /F1 64 Tf 80 280 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=800, height=600)
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
async def site(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    """The school's API and pages in one app; the data folder is the test's own."""
    monkeypatch.chdir(tmp_path)  # slides go to ./.homeroom/slides
    app = Starlette(
        routes=[*school_routes(api.deps), *page_routes(api.deps)],
        exception_handlers={HomeroomError: handle},
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://school.test") as client:
        yield Api(client, api.demo, api.deps, api.session, api.clock)


async def session_of_class(site: Api, cookie: str) -> int:
    listed = await site.client.get(
        "/api/v1/me/sessions", params={"day": "2026-09-07"}, headers=with_cookie(cookie)
    )
    session_id: int = listed.json()["sessions"][0]["id"]
    return session_id


async def csrf_of(site: Api, cookie: str) -> str:
    me = await site.client.get("/api/v1/me", headers=with_cookie(cookie))
    csrf: str = me.json()["csrf"]
    return csrf


def page_data(html: str) -> dict[str, object]:
    found = DATA.search(html)
    assert found, "no data block for the script"
    data: dict[str, object] = json.loads(unescape(found.group(1)))
    return data


async def upload(site: Api, cookie: str, session_id: int | str, body: bytes) -> httpx.Response:
    headers = with_cookie(
        cookie, **{"x-csrf-token": await csrf_of(site, cookie), "content-type": "application/pdf"}
    )
    return await site.client.post(
        f"/api/v1/sessions/{session_id}/slides", content=body, headers=headers
    )


# ---------------------------------------------------------------- the page


async def test_signed_out_goes_to_sign_in_and_comes_back(site: Api) -> None:
    response = await site.client.get("/class/12")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fclass%2F12"


async def test_a_pupil_of_the_class_gets_the_page_with_what_the_script_needs(site: Api) -> None:
    pupil = await sign_in(site, "lea")
    session_id = await session_of_class(site, pupil)
    page = await site.client.get(f"/class/{session_id}", headers=with_cookie(pupil))
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert '<html lang="fr">' in page.text and "<h1>Maths 6e A</h1>" in page.text
    assert "Vous suivez cette classe." in page.text and 'id="lv-controls"' not in page.text
    data = page_data(page.text)
    assert data["role"] == "pupil" and data["session"] == session_id
    assert data["person"] == str(site.demo.pupil)
    assert data["join_url"] == f"/api/v1/sessions/{session_id}/join"
    assert data["csrf"] == await csrf_of(site, pupil)
    words = data["words"]
    assert isinstance(words, dict) and words["class_chat_send"] == "Envoyer"
    assert 'src="/static/live.js?v=' in page.text and "live.css" in page.text
    english = await site.client.get(f"/class/{session_id}?lang=en", headers=with_cookie(pupil))
    assert '<html lang="en">' in english.text and "You are in this class." in english.text
    english_words = page_data(english.text)["words"]
    assert isinstance(english_words, dict) and english_words["class_chat_send"] == "Send"


async def test_the_teacher_gets_the_controls(site: Api) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    page = await site.client.get(f"/class/{session_id}", headers=with_cookie(teacher))
    assert page.status_code == 200
    assert page_data(page.text)["role"] == "teacher"
    for part in ('id="lv-controls"', 'id="lv-upload"', 'id="lv-poll-form"', 'id="lv-prev"'):
        assert part in page.text


async def test_anyone_else_gets_the_page_of_an_unknown_session(site: Api) -> None:
    pupil = await sign_in(site, "lea")
    session_id = await session_of_class(site, pupil)
    for login in ("tom", "maman"):  # another school's pupil; a parent of a pupil of the class
        cookie = await sign_in(site, login)
        refused = await site.client.get(f"/class/{session_id}", headers=with_cookie(cookie))
        unknown = await site.client.get("/class/99999", headers=with_cookie(cookie))
        assert refused.status_code == unknown.status_code == 404
        assert "Classe introuvable." in refused.text
        assert refused.text == unknown.text
    for bad in ("12abc", "0", "99999999999"):
        assert (
            await site.client.get(f"/class/{bad}", headers=with_cookie(pupil))
        ).status_code == 404


# ---------------------------------------------------------------- slides


async def test_the_teacher_uploads_slides_the_class_reads_them(site: Api, tmp_path: Path) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    document = pdf_of(["One", "Two", "Three"])
    response = await upload(site, teacher, session_id, document)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["pages"] == 3 and body["bytes"] == len(document)
    assert re.fullmatch(r"[1-9][0-9]{0,9}", body["doc"]) and int(body["doc"]) < 2**31
    assert body["url"] == f"/api/v1/sessions/{session_id}/slides/{body['doc']}"
    kept = tmp_path / ".homeroom" / "slides" / f"{session_id}-{body['doc']}.pdf"
    assert kept.read_bytes() == document and kept.stat().st_mode & 0o777 == 0o600
    pupil = await sign_in(site, "lea")
    read = await site.client.get(body["url"], headers=with_cookie(pupil))
    assert read.status_code == 200 and read.content == document
    assert read.headers["content-type"] == "application/pdf"
    assert read.headers["cache-control"].startswith("private")
    assert (await site.client.get(body["url"], headers=with_cookie(teacher))).status_code == 200
    for login in ("tom", "maman"):
        cookie = await sign_in(site, login)
        assert (await site.client.get(body["url"], headers=with_cookie(cookie))).status_code == 404
    assert (await site.client.get(body["url"])).status_code == 401
    other = int(body["doc"]) % (2**31 - 1) + 1
    base = f"/api/v1/sessions/{session_id}/slides"
    missing = await site.client.get(f"{base}/{other}", headers=with_cookie(pupil))
    assert missing.status_code == 404 and missing.json()["error"] == "slides_not_found"
    another_session = f"/api/v1/sessions/{session_id + 1}/slides/{body['doc']}"
    assert (await site.client.get(another_session, headers=with_cookie(pupil))).status_code == 404
    for bad in ("..%2Fhomeroom.db", "x", "0", "99999999999"):
        bad_read = await site.client.get(f"{base}/{bad}", headers=with_cookie(pupil))
        assert bad_read.status_code == 404


async def test_deleting_a_session_deletes_its_slides_and_no_other_sessions(
    site: Api, tmp_path: Path
) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    created = await site.client.post(
        f"/api/v1/groups/{site.demo.groups[0]}/sessions",
        json={
            "title": "Autre",
            "starts_at": "2026-09-08T08:00:00+02:00",
            "ends_at": "2026-09-08T09:00:00+02:00",
        },
        headers=with_cookie(teacher, **{"x-csrf-token": await csrf_of(site, teacher)}),
    )
    assert created.status_code == 201, created.text
    other = created.json()["id"]
    for sid in (session_id, session_id, other):
        assert (await upload(site, teacher, sid, pdf_of(["Un"]))).status_code == 201
    folder = tmp_path / ".homeroom" / "slides"
    headers = with_cookie(teacher, **{"x-csrf-token": await csrf_of(site, teacher)})
    deleted = await site.client.delete(f"/api/v1/sessions/{session_id}", headers=headers)
    assert deleted.status_code == 204
    assert [p.name.split("-")[0] for p in folder.glob("*.pdf")] == [str(other)]


async def test_only_the_sessions_teachers_upload(site: Api, tmp_path: Path) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    document = pdf_of(["One"])
    for login in ("lea", "tom", "maman"):
        cookie = await sign_in(site, login)
        refused = await upload(site, cookie, session_id, document)
        assert refused.status_code == 404 and refused.json()["error"] == "session_not_found"
    assert (await upload(site, teacher, 99_999, document)).status_code == 404
    no_csrf = await site.client.post(
        f"/api/v1/sessions/{session_id}/slides", content=document, headers=with_cookie(teacher)
    )
    assert no_csrf.status_code == 403
    signed_out = await site.client.post(f"/api/v1/sessions/{session_id}/slides", content=document)
    assert signed_out.status_code == 401
    assert not (tmp_path / ".homeroom" / "slides").exists()


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"", 400, "slides_missing"),
        (b"GIF89a not a pdf at all", 400, "not_a_pdf"),
        (b"%PDF-1.4\n this is no PDF, only its first bytes\n%%EOF\n", 400, "pdf_broken"),
        (pdf_of(["One", "Two"])[:200], 400, "pdf_broken"),  # cut short
        (pdf_of([str(n) for n in range(slides.MAX_PAGES + 1)]), 400, "too_many_pages"),
        (b"%PDF-1.4\n" + b"0" * slides.MAX_BYTES, 413, "slides_too_large"),
    ],
    ids=["empty", "not-pdf", "broken", "cut-short", "too-many-pages", "too-big"],
)
async def test_a_file_that_is_not_acceptable_slides_is_refused_clearly(
    site: Api, tmp_path: Path, body: bytes, status: int, reason: str
) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    response = await upload(site, teacher, session_id, body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == reason and response.json()["message"]
    assert not list((tmp_path / ".homeroom" / "slides").glob("*.pdf"))


async def test_an_encrypted_pdf_is_refused_with_what_to_do(site: Api) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    response = await upload(site, teacher, session_id, encrypted_pdf())
    assert response.status_code == 400 and response.json()["error"] == "pdf_encrypted"
    assert "mot de passe" in response.json()["message"]


def test_the_slides_path_may_carry_a_larger_body() -> None:
    limits = {pattern.pattern: limit for pattern, limit in School.large_bodies()}
    assert limits[r"/api/v1/sessions/[0-9]{1,10}/slides"] == slides.MAX_BYTES


# ---------------------------------------------------------------- guests


async def test_a_teacher_makes_a_guest_link_from_the_dashboard_and_a_guest_comes_in(
    site: Api,
) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    made = await site.client.post(
        f"/class/{session_id}/guest-link",
        data={"csrf": await csrf_of(site, teacher)},
        headers=with_cookie(teacher),
    )
    assert made.status_code == 200, made.text
    link = re.search(r'<code id="guest-link">([^<]+)</code>', made.text)
    assert link is not None
    url = unescape(link.group(1))
    assert url.startswith(f"http://school.test/class/{session_id}?guest=")
    path = url.removeprefix("http://school.test")
    asked = await site.client.get(path)  # signed out, with the link: the name first
    assert asked.status_code == 200 and 'id="guest-name"' in asked.text
    entered = await site.client.get(path + "&name=Mme%20Intervenante")
    assert entered.status_code == 200
    assert "Vous êtes invité" in entered.text and 'id="lv-controls"' not in entered.text
    data = page_data(entered.text)
    assert data["role"] == "guest" and data["csrf"] == ""
    assert str(data["join_url"]).startswith(f"/api/v1/sessions/{session_id}/guest-join?token=")
    browser = entered.cookies.get("hr_guest")
    assert browser is not None and str(data["person"]).startswith("g")
    site.deps.join_tokens = tokens = JoinTokens(b"guest-test-key-0123456789abcdef")
    token = await site.client.post(str(data["join_url"]), headers={"cookie": f"hr_guest={browser}"})
    assert token.status_code == 200 and token.json()["role"] == "guest"
    claims = tokens.verify(token.json()["token"], NOW.timestamp())
    assert claims.person == data["person"] and claims.name == "Mme Intervenante"


async def test_the_teacher_cancels_the_guest_links_from_the_link_page(site: Api) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    csrf = await csrf_of(site, teacher)
    made = await site.client.post(
        f"/class/{session_id}/guest-link", data={"csrf": csrf}, headers=with_cookie(teacher)
    )
    link = re.search(r'<code id="guest-link">([^<]+)</code>', made.text)
    assert link is not None
    path = unescape(link.group(1)).removeprefix("http://school.test")
    cancel = re.search(r'<form method="post" action="([^"]+/guest-link/cancel)"', made.text)
    assert cancel is not None and "Annuler les liens" in made.text
    forged = await site.client.post(
        cancel.group(1), data={"csrf": "forged"}, headers=with_cookie(teacher)
    )
    assert forged.status_code == 403
    assert (await site.client.get(path)).status_code == 200  # still good
    done = await site.client.post(
        cancel.group(1), data={"csrf": csrf}, headers=with_cookie(teacher)
    )
    assert done.status_code == 303 and done.headers["location"].endswith("done=guests_cancelled")
    home = await site.client.get(done.headers["location"], headers=with_cookie(teacher))
    assert "Les liens d'invité de cette classe sont annulés." in unescape(home.text)
    gone = await site.client.get(path)
    assert gone.status_code == 410 and "annulé par l'enseignant" in unescape(gone.text)


async def test_a_bad_guest_link_or_name_is_said_clearly(site: Api) -> None:
    teacher = await sign_in(site, "prof")
    session_id = await session_of_class(site, teacher)
    forged = await site.client.get(f"/class/{session_id}?guest=nope")
    assert forged.status_code == 404
    pupil = await sign_in(site, "lea")
    refused = await site.client.post(
        f"/class/{session_id}/guest-link",
        data={"csrf": await csrf_of(site, pupil)},
        headers=with_cookie(pupil),
    )
    assert refused.status_code == 404
    no_csrf = await site.client.post(
        f"/class/{session_id}/guest-link", data={"csrf": "forged"}, headers=with_cookie(teacher)
    )
    assert no_csrf.status_code == 403
    made = await site.client.post(
        f"/class/{session_id}/guest-link",
        data={"csrf": await csrf_of(site, teacher)},
        headers=with_cookie(teacher),
    )
    found = re.search(r"\?guest=([^<]+)</code>", made.text)
    assert found is not None
    link = unescape(found.group(1))
    long_name = await site.client.get(
        f"/class/{session_id}", params={"guest": link, "name": "x" * 81}
    )
    assert long_name.status_code == 400 and 'aria-invalid="true"' in long_name.text

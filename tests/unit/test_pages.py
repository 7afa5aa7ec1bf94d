"""Every gate page renders in both languages, is well formed, and escapes what it is given."""

from __future__ import annotations

import json
import pathlib
from html.parser import HTMLParser
from typing import Any

import pytest

from homeroom.gate import assets
from homeroom.web import i18n, pages

STATUSES = ("waiting", "prequeue", "not_open", "proof_of_work", "lapsed", "paused", "degraded")
EVIL = '"><script>alert(1)</script>'
STATIC = pathlib.Path(pages.__file__).parent.parent / "static"


class Page(HTMLParser):
    """The parts of a rendered page the tests look at."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self.open: list[str] = []
        self.script_bodies: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        self._in_script = tag == "script"
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_bodies.append(data)

    def all(self, tag: str, **match: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())
        ]


def wait_context(status: str, **over: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "gate_id": "national",
        "lane": "pupils",
        "number": 5_100,
        "status": status,
        "position": 1_234,
        "wait_text": "environ 3 minutes",
        "opening_text": "8 h 00",
        "opening_at": 1_764_572_400,
        "poll_s": 4,
        "refresh_s": 20,
        "state_url": "/gate/national/state",
        "redeem_url": "/gate/national/redeem",
        "next_url": "/cours/maths",
        "page_url": "/gate/national/wait?next=/cours/maths",
        "altcha": {"challenge_url": "/gate/national/challenge"}
        if status == "proof_of_work"
        else None,
        "waiting_content": None,
        "message": None,
    }
    ctx.update(over)
    return ctx


OTHER_PAGES: dict[str, dict[str, Any]] = {
    "maintenance.html": {"message": "Retour vers midi", "refresh_s": 60, "opening_text": "12 h"},
    "error.html": {"status": 503, "message": "Le service est saturé.", "retry_after": 30},
    "admitted.html": {"next_url": "/cours/maths"},
}


def check_common(html: str, lang: str) -> Page:
    page = Page(html)
    assert page.open == [], "unclosed elements"
    assert page.all("html") == [{"lang": lang}]
    assert len(page.all("h1")) == 1
    assert len(page.all("main")) == 1
    assert page.all("header") and page.all("footer")
    assert page.all("meta", name="viewport")
    assert page.all("a", **{"class": "hr-skip", "href": "#main"})
    other = "en" if lang == "fr" else "fr"
    switch = page.all("a", hreflang=other)
    assert len(switch) == 1 and f"lang={other}" in switch[0]["href"]
    for attrs in page.all("script"):  # only our files, vendor files and inert JSON
        assert attrs.get("src", "").startswith("/static/") or attrs.get("type") == (
            "application/json"
        )
    for attrs in page.all("link", rel="stylesheet"):
        assert attrs["href"].startswith(("/static/gate.css?v=", "/static/vendor/altcha.css?v="))
    return page


@pytest.mark.parametrize("lang", i18n.LANGS)
@pytest.mark.parametrize("status", STATUSES)
def test_wait_page_renders_for_every_status(lang: str, status: str) -> None:
    html = pages.render_page("wait.html", lang, **wait_context(status))
    page = check_common(html, lang)
    assert len(page.all("p", id="hr-live", role="status")) == 1
    assert page.all("p", id="hr-live")[0]["aria-live"] == "polite"
    refresh = page.all("meta", **{"http-equiv": "refresh"})
    assert refresh == (
        []
        if status in ("proof_of_work", "lapsed")
        else [{"http-equiv": "refresh", "content": "20"}]
    )
    gate = page.all("div", id="hr-gate")[0]
    assert gate["data-number"] == "5100"
    assert gate["data-lane"] == "pupils"
    assert gate["data-state-url"] == "/gate/national/state"
    assert gate["data-redeem-url"] == "/gate/national/redeem"
    assert gate["data-next-url"] == "/cours/maths"
    assert gate["data-poll-s"] == "4"
    assert gate["data-opening-at"] == "1764572400"
    assert gate["data-rejoin-url"].endswith("rejoin=1")
    strings = json.loads(page.script_bodies[0])
    assert strings == i18n.js_strings(lang)
    assert page.all("script", src=pages.static_url("gate.js"))
    assert i18n.translate(lang, f"title_{status}") in html.replace("&#39;", "'")


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_lanes_are_said_in_words(lang: str) -> None:
    for lane in ("staff", "priority", "pupils", "guests"):
        html = pages.render_page("wait.html", lang, **wait_context("waiting", lane=lane))
        assert i18n.translate(lang, f"lane_{lane}").replace("'", "&#39;") in html
    assert "File des personnels" in pages.render_page(
        "wait.html", "fr", **wait_context("waiting", lane="staff")
    )


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_proof_of_work_page_has_the_widget_in_a_form(lang: str) -> None:
    html = pages.render_page("wait.html", lang, **wait_context("proof_of_work"))
    page = Page(html)
    form = page.all("form", method="post")
    assert form == [
        {"class": "hr-pow", "method": "post", "action": "/gate/national/wait?next=/cours/maths"}
    ]
    widget = page.all("altcha-widget")[0]
    assert widget["challenge"] == "/gate/national/challenge"
    assert page.all("button", type="submit")
    assert (
        "<noscript>" in html and i18n.translate(lang, "pow_noscript").replace("'", "&#39;") in html
    )
    scripts = [a.get("src", "") for a in page.all("script")]
    assert pages.static_url("gate-altcha.js") in scripts  # it imports vendor/altcha.js
    assert page.all("link", rel="stylesheet", href=pages.static_url("vendor/altcha.css"))
    assert (pages.static_url("vendor/altcha-fr.js") in scripts) == (lang == "fr")


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_refresh_can_be_turned_off_without_javascript(lang: str) -> None:
    on = pages.render_page("wait.html", lang, **wait_context("waiting"))
    stop = Page(on).all("a", href="/gate/national/wait?next=%2Fcours%2Fmaths&refresh=off")
    assert len(stop) == 1
    ctx = wait_context("waiting", page_url="/gate/national/wait?next=%2Fcours%2Fmaths&refresh=off")
    off = Page(pages.render_page("wait.html", lang, **ctx))
    assert off.all("meta", **{"http-equiv": "refresh"}) == []
    assert off.all("a", **{"class": "hr-button", "href": ctx["page_url"]})
    assert off.all("a", href="/gate/national/wait?next=%2Fcours%2Fmaths&refresh=on")


def test_vendor_scripts_only_with_altcha() -> None:
    for status in STATUSES:
        html = pages.render_page("wait.html", "fr", **wait_context(status, altcha=None))
        assert "vendor/" not in html and "<altcha-widget" not in html


def test_waiting_content_is_the_operators_html() -> None:
    homework = "<p>Lire le <strong>chapitre 3</strong>.</p>"
    html = pages.render_page("wait.html", "en", **wait_context("waiting", waiting_content=homework))
    assert homework in html and "While you wait" in html
    assert "En attendant" in pages.render_page(
        "wait.html", "fr", **wait_context("waiting", waiting_content=homework)
    )


def test_everything_else_the_server_passes_is_escaped() -> None:
    ctx = wait_context(
        "lapsed",
        gate_id=EVIL,
        next_url="/x" + EVIL,
        page_url="/gate/national/wait?next=/x" + EVIL,
        state_url=EVIL,
        redeem_url=EVIL,
        lane=EVIL,
        message=EVIL,
        wait_text=EVIL,
        opening_text=EVIL,
    )
    for status in STATUSES:
        ctx["status"] = status
        html = pages.render_page("wait.html", "fr", **ctx)
        assert "<script>alert" not in html
        page = Page(html)
        assert page.all("div", id="hr-gate")[0]["data-next-url"] == "/x" + EVIL  # intact, inert
    error = pages.render_page("error.html", "en", status=400, message=EVIL, back_url=EVIL)
    assert "<script>alert" not in error


def test_links_and_redirects_stay_on_the_site() -> None:
    for url in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        html = pages.render_page("admitted.html", "fr", next_url=url)
        page = Page(html)
        assert page.all("meta", **{"http-equiv": "refresh"})[0]["content"] == "0; url=/"
        wait = Page(pages.render_page("wait.html", "fr", **wait_context("waiting", next_url=url)))
        assert wait.all("div", id="hr-gate")[0]["data-next-url"] == "/"
    assert pages.local_path("/cours/maths?x=1") == "/cours/maths?x=1"


@pytest.mark.parametrize("lang", i18n.LANGS)
@pytest.mark.parametrize("template", sorted(OTHER_PAGES))
def test_other_pages_render(lang: str, template: str) -> None:
    html = pages.render_page(template, lang, **OTHER_PAGES[template])
    check_common(html, lang)
    # the minimal context is enough too
    minimal: dict[str, Any] = {"admitted.html": {"next_url": "/"}, "error.html": {"status": 500}}
    check_common(pages.render_page(template, lang, **minimal.get(template, {})), lang)


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_demo_pages_find_their_words(lang: str) -> None:
    if not (pathlib.Path(assets.__file__).parent / "templates" / "demo.html").exists():
        pytest.skip("no demo page")
    for area in ("home", "class", "workspace"):
        check_common(pages.render_page("demo.html", lang, area=area, path=f"/{area}/"), lang)


@pytest.mark.parametrize("status", ["lapsed", "degraded", "not_open"])
def test_the_servers_message_is_said_once(status: str) -> None:
    html = pages.render_page(
        "wait.html", "en", **wait_context(status, message="Come back at noon.")
    )
    assert html.count("Come back at noon.") == 1


def test_maintenance_page_says_so() -> None:
    assert "Le service est en maintenance" in pages.render_page("maintenance.html", "fr")
    assert "The service is under maintenance" in pages.render_page("maintenance.html", "en")


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410, 413, 425, 429, 500, 502, 503])
def test_error_page_for_every_status(status: int) -> None:
    for lang in i18n.LANGS:
        html = pages.render_page("error.html", lang, status=status, retry_url="/again")
        page = check_common(html, lang)
        assert str(status) in html
        hrefs = [a["href"] for a in page.all("a", **{"class": "hr-button"})]
        assert hrefs == ["/again"]
        assert page.all("a", **{"class": "hr-button hr-button-quiet", "href": "/"})


def test_unknown_language_gives_french() -> None:
    html = pages.render_page("maintenance.html", "de")
    assert '<html lang="fr">' in html


def test_with_query_replaces_and_keeps() -> None:
    assert pages.with_query("/w?next=/a&lang=fr", lang="en") == "/w?next=%2Fa&lang=en"
    assert pages.with_query("", lang="en") == "?lang=en"
    assert pages.with_query("/w?next=/a", rejoin=1) == "/w?next=%2Fa&rejoin=1"


def test_static_urls_are_versioned() -> None:
    assert pages.static_url("gate.js") == f"/static/gate.js?v={pages.static_version()}"
    assert len(pages.static_version()) == 12


def test_static_files_stay_small() -> None:
    assert (STATIC / "gate.js").stat().st_size < 6_500  # 6,000 until it knew a lost count
    assert (STATIC / "gate.css").stat().st_size < 6_000


def test_vendor_files_are_under_node_modules(tmp_path: pathlib.Path) -> None:
    files = assets.vendor_files(tmp_path)
    assert set(files) == {
        "altcha.js",
        "altcha.css",
        "altcha-sha.js",
        "altcha-fr.js",
        "axe.min.js",
        "pdf.min.js",
        "pdf.worker.min.js",
    }
    assert all(tmp_path / "node_modules" in p.parents for p in files.values())
    assert sorted(assets.missing(tmp_path)) == sorted(files)


def test_vendor_files_are_installed_by_npm_ci() -> None:
    root = pathlib.Path(__file__).resolve().parents[2]
    if not (root / "node_modules").is_dir():
        pytest.skip("npm ci has not run in this checkout")
    assert assets.missing(root) == []

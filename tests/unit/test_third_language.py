"""A third language is one file: a German .po next to the others, and the site speaks German."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from starlette.requests import Request

from homeroom.web import catalogues, extract, i18n, pages
from homeroom.web.http import lang_of
from tests.unit.test_i18n import GATE_JS, _js_function

MONDAY = datetime(2025, 12, 1, 8, 5, tzinfo=ZoneInfo("Europe/Paris")).timestamp()


def german(english: Catalog) -> Catalog:
    """A stand-in German catalogue: every English message, marked, but for skip_link."""
    out = Catalog(locale="de", domain=catalogues.DOMAIN)
    out.mime_headers = [("Plural-Forms", "nplurals=2; plural=(n != 1);")]
    for message in english:
        if message.id and message.id != "skip_link":
            texts = (message.string,) if isinstance(message.string, str) else message.string
            said = tuple(f"[de] {text}" for text in texts)
            out.add(message.id, said[0] if isinstance(message.string, str) else said)
    return out


@pytest.fixture
def locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "locale"
    shutil.copytree(extract.LOCALE, folder)
    english = catalogues.read(folder / "en_GB" / "LC_MESSAGES" / "messages.po", "en_GB")
    po = folder / "de" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    with po.open("wb") as file:  # the one file
        write_po(file, german(english))
    monkeypatch.setattr(i18n, "CATALOGUES", catalogues.load(folder))
    yield folder


def request(query: str, accept_language: str = "") -> Request:
    headers = [(b"accept-language", accept_language.encode())]
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


@pytest.mark.usefixtures("locale")
def test_the_language_is_found_negotiated_and_chosen() -> None:
    assert i18n.CATALOGUES.langs == ("fr", "de", "en")
    assert i18n.CATALOGUES.by_lang["de"].name == "Deutsch"
    assert i18n.negotiate("de-CH, en;q=0.8") == "de"
    assert i18n.negotiate("en, de;q=0.8") == "en"
    assert i18n.supported("de") == "de" and i18n.supported("it") == "fr"
    assert lang_of(request("lang=de")) == "de"
    assert lang_of(request("", "de-DE")) == "de"
    assert lang_of(request("lang=it", "de")) == "de"  # an unknown ?lang= is not a choice


@pytest.mark.usefixtures("locale")
def test_it_speaks_with_its_words_plural_forms_and_locale() -> None:
    assert i18n.translate("de", "error_code", status=404) == "[de] Error code: 404"
    assert i18n.translate("de", "skip_link") == "Aller au contenu"  # not there yet: French
    assert i18n.plural("de", "school_pupils", 1) == "[de] 1 pupil"
    assert i18n.plural("de", "school_pupils", 0) == "[de] 0 pupils"  # its own Plural-Forms
    assert i18n.format_number("de", 12345) == "12.345"
    assert i18n.format_time("de", MONDAY) == "08:05"
    assert i18n.format_date("de", MONDAY) == "Montag, 1. Dezember"
    wait = i18n.format_wait("de", 3600 + 15 * 60)
    assert wait == "[de] about 1 Stunde und 15 Minuten"


@pytest.mark.usefixtures("locale")
def test_pages_offer_it_and_speak_it() -> None:
    html = pages.render_page("error.html", "de", status=404)
    assert '<html lang="de">' in html and "[de] Page not found" in html
    assert 'hreflang="fr" lang="fr">Français</a>' in html
    assert 'hreflang="en" lang="en">English</a>' in html
    french = pages.render_page("error.html", "fr", status=404)
    assert 'hreflang="de" lang="de">Deutsch</a>' in french


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
@pytest.mark.usefixtures("locale")
def test_its_waiting_page_script_says_waits_as_python_does() -> None:
    source = GATE_JS.read_text()
    seconds = [0, 59.9, 60, 90, 3569, 3750, 7199, 43200, *(x * 97.1 for x in range(500))]
    script = "\n".join(
        [
            f"var S = {json.dumps(i18n.js_strings('de'))};",
            *(_js_function(source, name) for name in ("fill", "T", "wait")),
            f"console.log(JSON.stringify({json.dumps(seconds)}.map(wait)));",
        ]
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [i18n.format_wait("de", s) for s in seconds]


def test_two_catalogues_of_one_language_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locale"
    shutil.copytree(extract.LOCALE, folder)
    shutil.copytree(folder / "en_GB", folder / "en_US")
    with pytest.raises(catalogues.CatalogueError, match="a second catalogue for the language"):
        catalogues.load(folder)
    shutil.rmtree(folder / "fr")
    shutil.rmtree(folder / "en_US")
    with pytest.raises(catalogues.CatalogueError, match="no catalogue for the source language"):
        catalogues.load(folder)


def test_a_malformed_catalogue_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "locale"
    shutil.copytree(extract.LOCALE, folder)
    po = folder / "en_GB" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text() + '\nmsgid "broken"\n')  # no msgstr
    with pytest.raises(catalogues.CatalogueError, match="en_GB"):
        catalogues.load(folder)

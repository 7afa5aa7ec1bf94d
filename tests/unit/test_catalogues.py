"""The catalogues against the code: every message used is in every language, none is unused,
and the files are as `make words` leaves them (docs/translating.md)."""

from __future__ import annotations

import fnmatch
import re
import string
import tomllib
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from homeroom.web import catalogues, extract, i18n

LOCALE = extract.LOCALE
PO_FILES = {name: Path(str(path)) for name, path in sorted(catalogues.found(LOCALE).items())}
SOURCE = PO_FILES[catalogues.SOURCE_LANG]


@pytest.fixture(scope="module")
def found() -> extract.Extraction:
    return extract.extract()


def read(name: str) -> Catalog:
    return catalogues.read(PO_FILES[name], name)


def forms(catalog: Catalog, key: str) -> tuple[str, ...]:
    string_ = catalog[key].string
    return (string_,) if isinstance(string_, str) else tuple(string_)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_there_are_french_and_english() -> None:
    assert set(PO_FILES) >= {"fr", "en_GB"}
    assert i18n.LANGS[:1] == ("fr",) and "en" in i18n.LANGS


def test_extraction_finds_the_messages_and_no_problem(found: extract.Extraction) -> None:
    assert found.problems == []
    assert len(found.messages) > 350
    assert found.messages["title_waiting"].files == {"homeroom/gate/templates/wait.html"}
    assert found.messages["school_pupils"].plural
    assert "homeroom/static/live.js" in found.messages["class_admit"].files
    assert "homeroom/web/i18n.py" in found.messages["wait_about"].files


@pytest.mark.parametrize("name", PO_FILES)
def test_each_catalogue_holds_what_the_code_uses_and_nothing_else(
    name: str, found: extract.Extraction
) -> None:
    catalog = read(name)
    held = {extract.key_of(m): isinstance(m.id, tuple) for m in catalog if m.id}
    used = {key: seen.plural for key, seen in found.messages.items()}
    missing = sorted(set(used) - set(held))
    assert missing == [], f"used in the code, missing from {name}: run `make words`"
    unused = sorted(set(held) - set(used))
    assert unused == [], f"in {name}, used nowhere: run `make words`"
    assert held == used, "plural forms differ: run `make words`"


@pytest.mark.parametrize("name", PO_FILES)
def test_every_message_is_translated(name: str) -> None:
    catalog = read(name)
    for message in catalog:
        if not message.id:
            continue
        key = extract.key_of(message)
        assert not message.fuzzy, f"{name}: {key} is fuzzy: check it, then remove the flag"
        texts = forms(catalog, key)
        if isinstance(message.id, tuple):
            assert len(texts) == catalog.num_plurals, f"{name}: {key}"
        for text in texts:
            assert text and text == text.strip(), f"{name}: {key} is empty or padded"


@pytest.mark.parametrize("name", PO_FILES)
def test_placeholders_are_those_of_the_french(name: str) -> None:
    source, catalog = read(catalogues.SOURCE_LANG), read(name)
    for message in catalog:
        if message.id:
            key = extract.key_of(message)
            french = set().union(*(placeholders(text) for text in forms(source, key)))
            for text in forms(catalog, key):
                assert placeholders(text) == french, f"{name}: {key}: {text!r}"


def test_the_files_are_as_make_words_leaves_them() -> None:
    for path, text in extract.expected().items():
        assert path.is_file(), f"{path} is missing: run `make words`"
        assert extract.same(path.read_text(encoding="utf-8"), text), (
            f"{path} is not as `make words` leaves it: run it and commit the result"
        )


def test_the_template_shows_translators_the_french() -> None:
    pot = (LOCALE / extract.TEMPLATE_NAME).read_text(encoding="utf-8")
    entry = pot[pot.index('msgid "school_pupils"') - 200 : pot.index('msgid "school_pupils"')]
    assert "#. French: {n} élève | {n} élèves" in entry
    assert "#, python-brace-format" in entry
    assert 'msgid_plural "school_pupils"' in pot


def test_the_scripts_get_every_word_they_use(found: extract.Extraction) -> None:
    def used_in(pattern: str) -> set[str]:
        return {
            key
            for key, seen in found.messages.items()
            if any(fnmatch.fnmatch(f, pattern) for f in seen.files)
        }

    live = used_in("homeroom/static/live*.js")
    assert live and all(key.startswith("class_") for key in live)  # what js_words sends
    assert used_in("homeroom/static/gate.js") <= set(i18n.JS_KEYS)


def test_the_wheel_carries_the_catalogues() -> None:
    pyproject = tomllib.loads((LOCALE.parents[2] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["homeroom"]
    for path in PO_FILES.values():
        relative = path.relative_to(LOCALE.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, glob) for glob in globs), relative


# -- that the checks above can fail -------------------------------------------------------


def test_extraction_sees_each_kind_of_call_and_reports_what_it_cannot_read(
    tmp_path: Path,
) -> None:
    package = tmp_path / "homeroom"
    (package / "static").mkdir(parents=True)
    (package / "templates").mkdir()
    (package / "code.py").write_text(
        'x = i18n.translate(lang, "from_python", n=i18n.plural(lang, "counted", 2))\n'
        'y = {"a": N_("marked")}\nz = text.translate(table)\n'
    )
    (package / "templates" / "page.html").write_text(
        "{{ t('from_template') }} {{ plural('counted', 3) }} {{ t('Not A Key') }}\n"
    )
    (package / "static" / "page.js").write_text(
        'say(w("from_script", { n: w("nested") }));\nT(`template_${x}`);\n'
    )
    out = extract.extract(package)
    assert set(out.messages) == {"from_python", "counted", "marked", "from_template", "from_script"}
    assert out.messages["counted"].plural
    assert out.messages["counted"].files == {"homeroom/code.py", "homeroom/templates/page.html"}
    assert len(out.problems) == 3, out.problems
    assert "'Not A Key' is not a message key" in out.problems[0]
    assert any("missed 'nested'" in p for p in out.problems)
    assert any("'template_${x}'" in p for p in out.problems)


def test_a_changed_french_text_makes_the_translations_fuzzy() -> None:
    source, english = read(catalogues.SOURCE_LANG), read("en_GB")
    found = extract.Extraction({"notice": extract.Found(False), "skip_link": extract.Found(False)})
    before = extract.template(found, source)
    source["notice"].string = "Attention :"
    after = extract.template(found, source)
    assert re.sub(r"\s", "", after["notice"].auto_comments[0]) == "French:Attention:"
    updated = extract.updated(english, after, before)
    assert updated["notice"].fuzzy and not updated["skip_link"].fuzzy
    assert updated["notice"].string == "Please note:"  # kept, to be looked at again
    assert [extract.key_of(m) for m in updated if m.id] == ["notice", "skip_link"]  # only those
    french = extract.updated(read(catalogues.SOURCE_LANG), after, before)
    assert not french["notice"].fuzzy and french["notice"].auto_comments == []


def test_only_dates_and_babels_version_may_differ() -> None:
    pot = (LOCALE / extract.TEMPLATE_NAME).read_text(encoding="utf-8")
    dated = re.sub(
        r'"POT-Creation-Date: [^"]*"', '"POT-Creation-Date: 2001-01-01 00:00+0000\\\\n"', pot
    )
    assert dated != pot and extract.same(pot, dated)
    newer = re.sub(r"Generated-By: Babel [0-9.]+", "Generated-By: Babel 9.9.9", pot)
    assert newer != pot and extract.same(pot, newer)
    assert not extract.same(pot, pot.replace("French: Continuer", "French: Continuez"))

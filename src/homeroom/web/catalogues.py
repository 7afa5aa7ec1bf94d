"""The words' catalogues: one gettext .po per language, found and compiled at start-up (docs/translating.md).

`locale/<locale>/LC_MESSAGES/messages.po` holds one language. The folder names the CLDR locale
its dates, times and numbers follow ("fr", "en_GB"); that locale's language ("fr", "en") is the
one pages, `?lang=` and Accept-Language speak. A third language is one more such file.

Each .po is compiled in memory when the process starts, into the standard library's
`GNUTranslations` (its `ngettext` follows the catalogue's Plural-Forms), so no .mo file is built,
shipped or left stale (docs/translating.md#compiling). French is the source: its catalogue
defines which messages exist, gets its typesetting here (no-break spaces, `typeset_fr`), and
is what another language falls back on for a message it does not have yet.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.abc import Traversable
from typing import Final

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN: Final = "messages"
SOURCE_LANG: Final = "fr"


def typeset_fr(text: str) -> str:
    """French spacing: no-break spaces before : and inside « », narrow ones before ; ! ?

    Applied when the catalogue is loaded, so that the .po holds ordinary spaces a translator
    can type (docs/translating.md#french-typesetting).
    """
    text = re.sub(r" ([;!?])", "\u202f\\1", text)
    return text.replace(" :", "\u00a0:").replace("« ", "«\u00a0").replace(" »", "\u00a0»")


# Typesetting rules by language, applied to every message of that language's catalogue.
TYPESETTING: Final[Mapping[str, Callable[[str], str]]] = {"fr": typeset_fr}


@dataclass(frozen=True, eq=False)
class Catalogue:
    """One language: its words, compiled, and the CLDR locale its formats follow."""

    lang: str  # "en": what pages, ?lang= and Accept-Language use
    locale: Locale  # en_GB: dates, times, numbers, units, plural rules
    words: gettext.GNUTranslations
    name: str  # the language in itself, as a language switch shows it: "English"


@dataclass(frozen=True, eq=False)
class Catalogues:
    """Every language found; the source language's messages are the ones that exist."""

    default: str
    by_lang: Mapping[str, Catalogue]
    keys: frozenset[str]  # simple messages
    plurals: frozenset[str]  # messages with plural forms (msgid_plural is the same key)

    @property
    def langs(self) -> tuple[str, ...]:
        """The default language first, then the others in alphabetical order."""
        return (self.default, *sorted(lang for lang in self.by_lang if lang != self.default))

    def get(self, lang: str) -> Catalogue:
        """The catalogue of `lang`, or the default language's when there is none."""
        return self.by_lang.get(lang) or self.by_lang[self.default]


class CatalogueError(ValueError):
    """A catalogue cannot be used; the message names the file."""


def read(path: Traversable, locale: str) -> Catalog:
    """One .po file, parsed; a malformed one raises CatalogueError naming it."""
    try:
        with path.open("rb") as file:
            return read_po(file, locale=locale, domain=DOMAIN, abort_invalid=True)
    except Exception as exc:  # babel raises PoFileError, ValueError, UnknownLocaleError...
        raise CatalogueError(f"{path}: {exc}") from exc


def compile_catalog(catalog: Catalog, lang: str) -> gettext.GNUTranslations:
    """`catalog` as GNUTranslations, typeset for its language; fuzzy and empty ones left out."""
    typeset = TYPESETTING.get(lang)
    if typeset is not None:
        for message in catalog:
            if not message.id or not message.string:
                continue
            if isinstance(message.string, str):
                message.string = typeset(message.string)
            else:
                message.string = tuple(typeset(form) for form in message.string)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _name(locale: Locale) -> str:
    # CLDR writes "français" in running text; at the start of a menu item it takes a capital
    # (CLDR's contextTransforms, uiListOrMenu), which Babel does not expose.
    name = locale.language_name or locale.language
    return name[:1].upper() + name[1:]


def found(folder: Traversable) -> dict[str, Traversable]:
    """The .po files under `folder`, by the name of their locale folder."""
    if not folder.is_dir():
        return {}
    return {
        entry.name: entry / "LC_MESSAGES" / f"{DOMAIN}.po"
        for entry in folder.iterdir()
        if entry.is_dir() and (entry / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    }


def load(folder: Traversable, default: str = SOURCE_LANG) -> Catalogues:
    """Every catalogue under `folder`; CatalogueError if two share a language or none is `default`."""
    parsed: dict[str, tuple[Locale, Catalog]] = {}
    for name, path in sorted(found(folder).items()):
        catalog = read(path, name)
        assert catalog.locale is not None  # read() gave it one
        lang = catalog.locale.language
        if lang in parsed:
            raise CatalogueError(f"{path}: a second catalogue for the language {lang!r}")
        parsed[lang] = (catalog.locale, catalog)
    if default not in parsed:
        raise CatalogueError(f"{folder}: no catalogue for the source language {default!r}")
    source = parsed[default][1]
    keys = frozenset(m.id for m in source if isinstance(m.id, str) and m.id)
    plurals = frozenset(m.id[0] for m in source if isinstance(m.id, tuple))
    compiled = {lang: compile_catalog(catalog, lang) for lang, (_, catalog) in parsed.items()}
    for lang, words in compiled.items():
        if lang != default:  # a message not translated yet is said in the source language
            words.add_fallback(compiled[default])
    by_lang = {
        lang: Catalogue(lang, locale, compiled[lang], _name(locale))
        for lang, (locale, _) in parsed.items()
    }
    return Catalogues(default, by_lang, keys, plurals)

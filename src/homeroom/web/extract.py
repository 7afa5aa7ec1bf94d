"""`make words`: find the messages the code uses and bring the catalogues up to date (docs/translating.md).

Extraction reads the package with Babel's extractors and Jinja2's: Python (`translate(lang, key)`,
`plural(lang, key, n)`, `N_(key)`), the templates (`t(key)`, `plural(key, n)`, `N_(key)`) and
the pages' scripts (`T(key)` in static/gate.js, `w(key)` in static/live*.js). A key built at run
time is not seen: it is written out once with `N_()` where it is chosen.

From what it finds and the French catalogue (the source), `python -m homeroom.web.extract`
writes locale/messages.pot, each message with its French text as a comment for translators'
tools, and brings every .po up to date: a new message comes in empty, a message nothing uses
goes, and one whose French text changed is marked fuzzy in the other languages, to be looked at
again. tests/unit/test_catalogues.py fails until the catalogues are as this leaves them.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_javascript, extract_python
from babel.messages.pofile import write_po
from jinja2.ext import babel_extract

import homeroom
from homeroom.web.catalogues import DOMAIN, SOURCE_LANG, found, read

PACKAGE: Final = Path(homeroom.__file__).parent
LOCALE: Final = PACKAGE / "locale"
TEMPLATE_NAME: Final = f"{DOMAIN}.pot"
WIDTH: Final = 100  # as the code's lines
KEY: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
FRENCH: Final = "French: "  # the comment each message carries in the .pot and the other .po
HEADER: Final = """\
Words of homeroom, the public distance-learning service.
This file is distributed under the same license as the homeroom project.
Made by `make words` (docs/translating.md): French is the source, keys are symbolic."""
# The dates change at each run, Generated-By with Babel's version (`make test-latest`): two
# files differing only there are the same catalogue, and the one on disk is kept.
_DATES: Final = re.compile(
    r'^"(?:POT-Creation-Date|PO-Revision-Date|Generated-By): .*\\n"$', re.MULTILINE
)

# Babel's and Jinja2's: (file, keywords, comment tags, options) → (line, function, args, comments)
Extractor = Callable[..., Iterator[Any]]


@dataclass(frozen=True)
class Source:
    """Files of one kind, the extractor that reads them, and the calls that name a message."""

    pattern: str  # a glob under the package
    extractor: Extractor
    keywords: Mapping[str, int]  # function name → position of the key among its arguments
    plural: frozenset[str] = frozenset()  # those whose message has plural forms
    options: Mapping[str, Any] = field(default_factory=dict)
    every_call: re.Pattern[str] | None = None  # finds each call, to catch one the extractor missed


# The sans-I/O core says nothing to people (its `bytes.translate` is not a message).
SPEAKS_NOT: Final = frozenset({"core"})

SOURCES: Final = (
    Source(
        "**/*.py", extract_python, {"translate": 2, "plural": 2, "N_": 1}, frozenset({"plural"})
    ),
    Source(
        "**/templates/*.html",
        babel_extract,
        {"t": 1, "plural": 1, "N_": 1},
        frozenset({"plural"}),
        # as web/pages.py's environment parses them
        {"trim_blocks": "true", "lstrip_blocks": "true"},
    ),
    Source(
        "static/*.js",
        extract_javascript,
        {"T": 1, "w": 1},
        options={"parse_template_string": True},
        # Babel's JavaScript extractor does not see a call inside another's arguments
        every_call=re.compile(r"""\b(?:T|w)\(\s*["'`]([^"'`]*)["'`]"""),
    ),
)


@dataclass
class Found:
    """One message: whether it has plural forms, and the files that use it."""

    plural: bool
    files: set[str] = field(default_factory=set)


@dataclass
class Extraction:
    messages: dict[str, Found] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def extract(package: Path = PACKAGE) -> Extraction:
    """Every message key the package's code, templates and scripts write out."""
    out = Extraction()
    for source in SOURCES:
        for path in sorted(package.glob(source.pattern)):
            if path.relative_to(package).parts[0] in SPEAKS_NOT:
                continue
            name = path.relative_to(package.parent).as_posix()
            with path.open("rb") as file:
                calls = list(
                    source.extractor(file, list(source.keywords), [], dict(source.options))
                )
            keys = set()
            for lineno, function, args, _ in calls:
                args = args if isinstance(args, tuple) else (args,)
                at = source.keywords[function]
                if len(args) < at or args[at - 1] is None:
                    continue  # not a key written out, or not ours (str.translate(table))
                keys.add(args[at - 1])
                _found(out, args[at - 1], function in source.plural, f"{name}:{lineno}")
            if source.every_call is not None:
                missed = set(source.every_call.findall(path.read_text(encoding="utf-8"))) - keys
                out.problems.extend(
                    f"{name}: the extractor missed {key!r}: write that call outside another's"
                    " arguments"
                    for key in sorted(missed)
                )
    return out


def _found(out: Extraction, key: str, plural: bool, place: str) -> None:
    if not KEY.match(key):
        out.problems.append(f"{place}: {key!r} is not a message key (a-z, 0-9 and _)")
        return
    seen = out.messages.setdefault(key, Found(plural))
    if seen.plural != plural:
        out.problems.append(f"{place}: {key} is used both with and without plural forms")
    seen.files.add(place.rsplit(":", 1)[0])


def french_text(message: Message | None) -> str:
    """The French of a message for the comment: its forms joined with " | "."""
    if message is None or not message.string:
        return ""
    forms = (message.string,) if isinstance(message.string, str) else message.string
    return " | ".join(forms)


def template(extraction: Extraction, source: Catalog) -> Catalog:
    """The .pot: every message found, with the French text and the files that use it."""
    pot = Catalog(
        domain=DOMAIN,
        header_comment="\n".join(f"# {line}" for line in HEADER.splitlines()),
        project="homeroom",
        version=homeroom.__version__,
        copyright_holder="the homeroom authors",
        fuzzy=False,
    )
    for key, seen in sorted(extraction.messages.items()):
        french = french_text(source.get(key))
        message = pot.add(
            (key, key) if seen.plural else key,
            locations=[(name, 0) for name in sorted(seen.files)],  # 0: no line numbers
            auto_comments=[FRENCH + french] if french else [],
        )
        _brace_flag(message, french)
    return pot


def _brace_flag(message: Message, french: str) -> None:
    # Tools check a translation's {placeholders} against the source's when this flag is set.
    # Babel derives it from the msgid, a symbolic key here, so it is set from the French.
    if "{" in french:
        message.flags.add("python-brace-format")


def updated(catalog: Catalog, pot: Catalog, before: Catalog | None) -> Catalog:
    """`catalog` brought up to `pot`; a message whose French changed since `before` is fuzzy."""
    lang = catalog.locale.language if catalog.locale else ""
    changed = set()
    for message in pot:
        key = key_of(message)
        earlier = _comments(before, key) if before is not None and key else None
        if earlier is not None and earlier != _comments(pot, key):
            changed.add(key)
    catalog.update(pot, no_fuzzy_matching=True)
    for message in catalog:
        key = key_of(message)
        source = pot.get(key)
        _brace_flag(message, " ".join(source.auto_comments) if source is not None else "")
        if lang == SOURCE_LANG:
            message.auto_comments = []  # its own text: no need to say it twice
        elif key in changed and message.string:
            message.flags.add("fuzzy")
    return catalog


def key_of(message: Message) -> str:
    """A message's key: its msgid, the same for its plural forms."""
    return message.id if isinstance(message.id, str) else message.id[0]


def _comments(catalog: Catalog, key: str) -> str | None:
    """A message's comments without their spaces: the file wraps them, even inside words."""
    message = catalog.get(key)
    return None if message is None else re.sub(r"\s", "", "".join(message.auto_comments))


def text(catalog: Catalog) -> str:
    """A catalogue as its file holds it: sorted by key, file names without line numbers."""
    buffer = io.BytesIO()
    write_po(
        buffer,
        catalog,
        width=WIDTH,
        sort_output=True,
        ignore_obsolete=True,
        include_lineno=False,
    )
    return buffer.getvalue().decode()


def same(a: str, b: str) -> bool:
    """Whether two catalogues' texts differ at most in their dates and Babel's version."""
    return _DATES.sub("", a) == _DATES.sub("", b)


def expected(locale: Path = LOCALE, package: Path = PACKAGE) -> dict[Path, str]:
    """What `make words` would write: the .pot and every .po, by path; problems raise ValueError."""
    extraction = extract(package)
    if extraction.problems:
        raise ValueError("\n".join(extraction.problems))
    files = found(locale)
    source = read(files[SOURCE_LANG], SOURCE_LANG)
    pot_path = locale / TEMPLATE_NAME
    before = read(pot_path, SOURCE_LANG) if pot_path.is_file() else None
    pot = template(extraction, source)
    out = {pot_path: text(pot)}
    for name, path in sorted(files.items()):
        out[Path(str(path))] = text(updated(read(path, name), pot, before))
    return out


def main() -> int:
    try:
        wanted = expected()
    except ValueError as exc:
        print(f"make words: {exc}", file=sys.stderr)
        return 1
    for path, new in wanted.items():
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if not same(old, new):
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(PACKAGE.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

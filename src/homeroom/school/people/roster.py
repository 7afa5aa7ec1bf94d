"""A school's roster CSV read and checked: bytes in, good rows and bad lines out (docs/roster-import.md).

Pure: no database, no clock. The lead's import writes the rows; this module only says which rows
are good and why the others are not.

Columns (one header line; names are compared without case, accents, spaces or punctuation, and a
few English names are accepted — the full list is in the docs):

    role         eleve | enseignant | parent  (also pupil | teacher)              required
    id           the school's own identifier, unique in the school               required
    nom          family name                                                      required
    prenom       given name                                                       required
    classe       class group; required for pupils; a `;` list for several groups
    matiere      subject (teachers)
    email        optional; a light syntax check only
    amenagement  oui | non: an accommodation, which gives a pupil the priority lane
    enfants      parents: `;`-separated ids of their children (pupils of this file or
                 already known to the school)

Files are UTF-8 (with or without a byte-order mark) or Windows-1252, as Excel writes them in
France; the encoding is detected (UTF-8 if the bytes are valid UTF-8, else Windows-1252). The
delimiter is `;` or `,`, chosen by which one splits the header into more known columns (or an
Excel `sep=` first line). Cells are normalised (Unicode NFC, spaces trimmed and collapsed), so the
same person spelt with decomposed accents gives the same row.

A bad row gives one `RowError` per problem, with its line (1-based, the header being line 1; a
record that spans lines because a quoted cell holds a line break is reported at its first line).
A problem with the file as a whole (too big, not a CSV, missing columns) raises `TooLarge` or
`BadRequest` from `homeroom.errors` instead, with a `reason` word and both messages.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from homeroom.errors import BadRequest, TooLarge
from homeroom.school.data.models import Role

MAX_BYTES: Final = 2 * 1024 * 1024
MAX_ROWS: Final = 50_000  # data rows, blank lines not counted
MAX_CELL: Final = 1000  # any cell, before it is read further
LIMITS: Final[dict[str, int]] = {  # the columns of the model (data/models.py)
    "id": 64,
    "nom": 59,  # "prenom nom" must fit the 120 characters of a display name
    "prenom": 59,
    "classe": 60,  # each group of the list
    "matiere": 80,
    "email": 254,
}
MAX_LOGIN: Final = 80

# column: the names a header may use for it, compared as `_column_key` leaves them
HEADER_NAMES: Final[dict[str, str]] = {
    "role": "role profil",
    "id": "id identifiant",
    "nom": "nom nomdefamille familyname lastname",
    "prenom": "prenom givenname firstname",
    "classe": "classe classes groupe groupes class",
    "matiere": "matiere subject",
    "email": "email mail courriel adresseemail",
    "amenagement": "amenagement accommodation",
    "enfants": "enfants enfant children",
}
COLUMNS: Final = tuple(HEADER_NAMES)
REQUIRED: Final = ("role", "id", "nom", "prenom")
ALIASES: Final = {name: column for column, names in HEADER_NAMES.items() for name in names.split()}
ROLES: Final[dict[str, Role]] = {
    "eleve": Role.PUPIL,
    "pupil": Role.PUPIL,
    "enseignant": Role.TEACHER,
    "teacher": Role.TEACHER,
    "parent": Role.PARENT,
}
YES: Final = frozenset({"oui", "o", "yes", "y", "vrai", "true", "1", "x"})
NO: Final = frozenset({"non", "n", "no", "faux", "false", "0", ""})

# reason: (French, English); the templates take value, column, first, limit, length, count.
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "unknown_role": (
        "rôle inconnu « {value} » (attendu : eleve, enseignant ou parent)",
        'unknown role "{value}" (expected: eleve, enseignant or parent)',
    ),
    "missing_id": ("identifiant manquant", "missing id"),
    "duplicate_id": (
        "l'identifiant « {value} » est déjà celui de la ligne {first}",
        'id "{value}" is already used on line {first}',
    ),
    "missing_family_name": ("nom manquant", "missing family name (nom)"),
    "missing_given_name": ("prénom manquant", "missing given name (prenom)"),
    "pupil_without_class": ("élève sans classe", "pupil without a class (classe)"),
    "bad_email": ("adresse e-mail invalide « {value} »", 'invalid e-mail address "{value}"'),
    "bad_flag": (
        "aménagement : « {value} » n'est ni oui ni non",
        'amenagement: "{value}" is neither oui nor non',
    ),
    "parent_without_child": (
        "parent sans enfant (colonne enfants)",
        "parent without a child (enfants column)",
    ),
    "unknown_child": (
        "enfant « {value} » inconnu : aucun élève n'a cet identifiant dans le fichier ou l'établissement",
        'unknown child "{value}": no pupil has this id in the file or the school',
    ),
    "child_not_pupil": (
        "l'enfant « {value} » (ligne {first}) n'est pas un élève",
        'child "{value}" (line {first}) is not a pupil',
    ),
    "child_rejected": (
        "l'enfant « {value} » (ligne {first}) a une erreur : corrigez d'abord sa ligne",
        'child "{value}" (line {first}) has an error: fix that line first',
    ),
    "too_long": (
        "{column} : {length} caractères, {limit} au plus",
        "{column}: {length} characters, at most {limit}",
    ),
    "control_character": (
        "{column} : caractère de contrôle interdit",
        "{column}: control character not allowed",
    ),
    "too_many_fields": (
        "{count} valeurs pour {limit} colonnes",
        "{count} values for {limit} columns",
    ),
    # the file as a whole: raised, not listed
    "roster_too_large": (
        "fichier trop gros : {length} octets, {limit} au plus",
        "file too large: {length} bytes, at most {limit}",
    ),
    "roster_too_many_rows": (
        "plus de {limit} lignes : découpez le fichier",
        "more than {limit} rows: split the file",
    ),
    "roster_not_csv": (
        "c'est un classeur Excel : enregistrez-le au format « CSV UTF-8 »",
        'this is an Excel workbook: save it as "CSV UTF-8"',
    ),
    "roster_encoding": (
        "encodage illisible ({value}) : enregistrez le fichier au format « CSV UTF-8 »",
        'unreadable encoding ({value}): save the file as "CSV UTF-8"',
    ),
    "roster_malformed": (
        "CSV illisible à partir de la ligne {line} : {value}",
        "unreadable CSV from line {line}: {value}",
    ),
    "roster_empty": ("fichier vide", "empty file"),
    "roster_duplicate_column": (
        "la colonne « {column} » apparaît deux fois",
        'the column "{column}" appears twice',
    ),
    "roster_header": (
        "colonnes manquantes : {value} (en-tête attendu : {expected})",
        "missing columns: {value} (expected header: {expected})",
    ),
}
TOO_LARGE: Final = frozenset({"roster_too_large", "roster_too_many_rows"})

_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab and line breaks are spaces
_EMAIL = re.compile(r"[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+")
_LOGIN_JUNK = re.compile(r"[^a-z0-9]+")
# letters that NFKD does not take apart
_FOLD: Final = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_SHOWN = 40  # characters of a bad value repeated in a message


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One good row. `key` (the school's own id) is what makes a second import a no-op."""

    line: int
    role: Role
    external_id: str
    family_name: str
    given_name: str
    groups: tuple[str, ...] = ()  # pupils: at least one; teachers: any; parents: none
    subject: str | None = None  # teachers only
    email: str | None = None
    accommodation: bool = False
    children: tuple[str, ...] = ()  # parents only: external ids

    @property
    def key(self) -> str:
        return self.external_id

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str
    message_fr: str
    message_en: str
    column: str | None = None

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_fr


@dataclass(frozen=True, slots=True)
class RosterResult:
    rows: list[RosterRow]
    errors: list[RowError]  # sorted by line; a line may have several
    encoding: str = "utf-8"  # "utf-8" or "cp1252"
    delimiter: str = ";"
    ignored_columns: tuple[str, ...] = ()  # header names that are not ours, as written

    @property
    def bad_lines(self) -> list[int]:
        return sorted({error.line for error in self.errors})


def parse_roster(
    data: bytes,
    *,
    known_pupils: Container[str] = frozenset(),
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> RosterResult:
    """Read a roster file. `known_pupils`: external ids of the school's pupils already stored.

    Raises `TooLarge` or `BadRequest` for a file that cannot be read at all; never anything else.
    """
    if len(data) > max_bytes:
        raise _file_error("roster_too_large", length=len(data), limit=max_bytes)
    text, encoding = decode(data)
    delimiter, hinted = _delimiter(text)
    records = _records(text, delimiter)
    if hinted:
        next(records, None)
    header = next((record for _, record in records if _filled(record)), None)
    if header is None:
        raise _file_error("roster_empty")
    index, ignored = _columns(header)
    checker = _RowChecker(index, len(header))
    count = 0
    for line, record in records:
        if not _filled(record):
            continue  # blank lines, and Excel's rows of bare delimiters
        count += 1
        if count > max_rows:
            raise _file_error("roster_too_many_rows", limit=max_rows)
        checker.check(line, record)
    rows, errors = checker.finish(known_pupils)
    return RosterResult(rows, errors, encoding, delimiter, ignored)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding name: UTF-8 (BOM optional), else Windows-1252."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _file_error("roster_not_csv")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error("roster_encoding", value="UTF-16")
    bom = data.startswith(b"\xef\xbb\xbf")
    for encoding in ("utf-8-sig",) if bom else ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), "utf-8" if bom else encoding
        except UnicodeDecodeError:
            continue
    raise _file_error("roster_encoding", value="UTF-8 / Windows-1252")


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """csv records, each with the physical line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    done = 0
    while True:
        start = done + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _file_error("roster_malformed", line=start, value=str(exc)) from exc
        done = reader.line_num
        yield start, record


def _delimiter(text: str) -> tuple[str, bool]:
    """`;` or `,`, and whether the first line is Excel's `sep=` hint rather than the header."""
    lines = (line for line in re.split(r"\r\n|\r|\n", text, maxsplit=50) if line.strip())
    first = next(lines, "")
    hint = first.strip().lower()
    if hint in ("sep=;", "sep=,"):
        return hint[-1], True
    return max((";", ","), key=lambda d: _known_count(first, d)), False


def _filled(record: list[str]) -> bool:
    return any(cell.strip() for cell in record)


def _known_count(line: str, delimiter: str) -> int:
    try:
        cells = next(csv.reader([line], delimiter=delimiter, strict=False), [])
    except csv.Error:  # reported with its line once the delimiter is chosen
        return 0
    return len({ALIASES[n] for n in map(_column_key, cells) if n in ALIASES})


def _column_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", fold(name))


def _columns(header: Sequence[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    index: dict[str, int] = {}
    ignored: list[str] = []
    for i, name in enumerate(header):
        column = ALIASES.get(_column_key(name))
        if column is None:
            if name.strip():
                ignored.append(clean(name)[:_SHOWN])
        elif column in index:
            raise _file_error("roster_duplicate_column", column=column)
        else:
            index[column] = i
    missing = [name for name in REQUIRED if name not in index]
    if missing:
        raise _file_error("roster_header", value=", ".join(missing), expected=";".join(COLUMNS))
    return index, tuple(ignored)


@dataclass(slots=True)
class _RowChecker:
    """Checks rows one by one, then the parents' children once every row has been seen."""

    index: dict[str, int]
    width: int
    first_line: dict[str, int] = field(default_factory=dict)  # id -> first line using it
    roles: dict[int, Role | None] = field(default_factory=dict)  # line -> role read
    candidates: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def check(self, line: int, record: list[str]) -> None:
        problems: list[RowError] = []
        extra = [cell for cell in record[self.width :] if cell.strip()]
        if extra:
            problems.append(
                _error(line, "too_many_fields", count=self.width + len(extra), limit=self.width)
            )
        cells = {name: self._cell(line, record, name, problems) for name in self.index}
        row = self._row(line, cells, problems)
        self.errors.extend(problems)
        if row is not None and not problems:
            self.candidates.append(row)

    def _cell(self, line: int, record: list[str], name: str, problems: list[RowError]) -> str:
        i = self.index[name]
        raw = record[i] if i < len(record) else ""
        if len(raw) > MAX_CELL:
            problems.append(_error(line, "too_long", name, length=len(raw), limit=MAX_CELL))
            return ""
        if _CONTROL.search(raw):
            problems.append(_error(line, "control_character", name))
            return ""
        value = clean(raw)
        limit = LIMITS.get(name)
        if limit is not None and name != "classe" and len(value) > limit:
            problems.append(_error(line, "too_long", name, length=len(value), limit=limit))
            return ""
        return value

    def _row(self, line: int, cells: dict[str, str], problems: list[RowError]) -> RosterRow | None:
        role = ROLES.get(fold(cells.get("role", "")))
        self.roles[line] = role
        if role is None:
            problems.append(_error(line, "unknown_role", "role", value=cells.get("role", "")))
        external_id = self._external_id(line, cells.get("id", ""), problems)
        family, given = cells.get("nom", ""), cells.get("prenom", "")
        if not family:
            problems.append(_error(line, "missing_family_name", "nom"))
        if not given:
            problems.append(_error(line, "missing_given_name", "prenom"))
        email = self._email(line, cells.get("email", ""), problems)
        accommodation = self._flag(line, cells.get("amenagement", ""), problems)
        groups = self._groups(line, cells.get("classe", ""), problems)
        children = _split(cells.get("enfants", ""))
        if role is Role.PUPIL and not groups:
            problems.append(_error(line, "pupil_without_class", "classe"))
        if role is Role.PARENT and not children:
            problems.append(_error(line, "parent_without_child", "enfants"))
        if role is None or not external_id:
            return None
        return RosterRow(
            line=line,
            role=role,
            external_id=external_id,
            family_name=family,
            given_name=given,
            groups=groups if role is not Role.PARENT else (),
            subject=(cells.get("matiere") or None) if role is Role.TEACHER else None,
            email=email,
            accommodation=accommodation,
            children=children if role is Role.PARENT else (),
        )

    def _external_id(self, line: int, value: str, problems: list[RowError]) -> str:
        if not value:
            problems.append(_error(line, "missing_id", "id"))
            return ""
        first = self.first_line.setdefault(value, line)
        if first != line:
            problems.append(_error(line, "duplicate_id", "id", value=value, first=first))
        return value

    @staticmethod
    def _email(line: int, value: str, problems: list[RowError]) -> str | None:
        if value and not _EMAIL.fullmatch(value):
            problems.append(_error(line, "bad_email", "email", value=value))
        return value or None

    @staticmethod
    def _flag(line: int, value: str, problems: list[RowError]) -> bool:
        word = fold(value)
        if word not in YES and word not in NO:
            problems.append(_error(line, "bad_flag", "amenagement", value=value))
        return word in YES

    @staticmethod
    def _groups(line: int, value: str, problems: list[RowError]) -> tuple[str, ...]:
        groups = _split(value)
        for group in groups:
            if len(group) > LIMITS["classe"]:
                problems.append(
                    _error(line, "too_long", "classe", length=len(group), limit=LIMITS["classe"])
                )
        return groups

    def finish(self, known_pupils: Container[str]) -> tuple[list[RosterRow], list[RowError]]:
        """Check each parent's children against the good pupils of the file and the school's."""
        good_lines = {row.line for row in self.candidates}
        rows: list[RosterRow] = []
        for row in self.candidates:
            problems = [
                problem
                for child in row.children
                if (problem := self._child(row.line, child, good_lines, known_pupils)) is not None
            ]
            self.errors.extend(problems)
            if not problems:
                rows.append(row)
        self.errors.sort(key=lambda error: error.line)  # stable: a line keeps its column order
        return rows, self.errors

    def _child(
        self, line: int, child: str, good_lines: set[int], known_pupils: Container[str]
    ) -> RowError | None:
        first = self.first_line.get(child)
        if first is None:
            if child in known_pupils:
                return None
            return _error(line, "unknown_child", "enfants", value=child)
        role = self.roles.get(first)
        if role is not None and role is not Role.PUPIL:
            return _error(line, "child_not_pupil", "enfants", value=child, first=first)
        if first not in good_lines:
            return _error(line, "child_rejected", "enfants", value=child, first=first)
        return None


def make_login(given: str, family: str, taken: Callable[[str], bool]) -> str:
    """`prenom.nom`, ASCII, lower case; `prenom.nom2`, `prenom.nom3`… while `taken` says so.

    Deterministic: the same names and the same taken logins give the same login. At most
    `MAX_LOGIN` characters (the name is shortened, never the number).
    """
    parts = [part for part in (_login_part(given), _login_part(family)) if part]
    base = ".".join(parts) or "compte"
    for n in range(1, 1_000_000):
        suffix = str(n) if n > 1 else ""
        candidate = base[: MAX_LOGIN - len(suffix)].rstrip(".-") + suffix
        if not taken(candidate):
            return candidate
    raise ValueError(f"no free login for {base!r}")


def _login_part(name: str) -> str:
    folded = fold(name.replace("'", "").replace("’", "").replace("ʼ", ""))
    return _LOGIN_JUNK.sub("-", folded).strip("-")


def fold(text: str) -> str:
    """Lower case, without accents: "Élève" -> "eleve", "Œuvre" -> "oeuvre"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(_FOLD.get(c, c) for c in decomposed if not unicodedata.combining(c)).strip()


def clean(value: str) -> str:
    """A cell as kept: NFC, trimmed, inner runs of spaces made one space."""
    return _WS.sub(" ", unicodedata.normalize("NFC", value)).strip()


def _split(value: str) -> tuple[str, ...]:
    """A `;` list: items cleaned, empty ones dropped, first occurrence kept."""
    items = (clean(item) for item in value.split(";"))
    return tuple(dict.fromkeys(item for item in items if item))


def _shown(value: str) -> str:
    value = _CONTROL.sub("?", value)
    return value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"


def _error(line: int, reason: str, column: str | None = None, **values: object) -> RowError:
    if "value" in values:
        values["value"] = _shown(str(values["value"]))
    values.setdefault("column", column)
    french, english = MESSAGES[reason]
    return RowError(line, reason, french.format(**values), english.format(**values), column)


def _file_error(reason: str, **values: object) -> BadRequest | TooLarge:
    """The error for a file that cannot be read; `line` and `limit`, if any, go in its body."""
    french, english = MESSAGES[reason]
    kind = TooLarge if reason in TOO_LARGE else BadRequest
    extra: dict[str, object] = {k: values[k] for k in ("line", "limit") if k in values}
    return kind(reason, french.format(**values), english.format(**values), extra=extra)

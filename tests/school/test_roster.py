"""The roster CSV: encodings, delimiters, every row error, the limits, logins (docs/roster-import.md)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeroom.errors import BadRequest, HomeroomError, TooLarge
from homeroom.school.data.models import Role
from homeroom.school.people.roster import (
    MESSAGES,
    RosterResult,
    RosterRow,
    make_login,
    parse_roster,
)

DOC = Path(__file__).parents[2] / "docs" / "roster-import.md"
HEADER = "role;id;nom;prenom;classe;matiere;email;amenagement;enfants"
EXAMPLE = """role;id;nom;prenom;classe;matiere;email;amenagement;enfants
eleve;E1001;Dupont;Léa;6e A;;;oui;
eleve;E1002;N'Diaye;Moussa;6e A;;;non;
enseignant;P2001;Curie;Marie;"6e A;6e B";Physique-chimie;marie.curie@ac-paris.fr;;
parent;R3001;Dupont;Éric;;;eric.dupont@example.fr;;E1001
"""


def parse(text: str, **options: object) -> RosterResult:
    return parse_roster(text.encode("utf-8"), **options)  # type: ignore[arg-type]


def table(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def reasons(result: RosterResult) -> list[tuple[int, str]]:
    return [(error.line, error.reason) for error in result.errors]


# --- the documented example, encodings and delimiters ---


def test_the_documented_example_reads_without_error():
    result = parse(EXAMPLE)
    assert result.errors == []
    assert [row.key for row in result.rows] == ["E1001", "E1002", "P2001", "R3001"]
    lea, _, marie, eric = result.rows
    assert lea == RosterRow(2, Role.PUPIL, "E1001", "Dupont", "Léa", ("6e A",), accommodation=True)
    assert marie.groups == ("6e A", "6e B")
    assert marie.subject == "Physique-chimie"
    assert marie.email == "marie.curie@ac-paris.fr"
    assert eric.children == ("E1001",)
    assert eric.display_name == "Éric Dupont"


def test_the_docs_hold_the_example_and_every_reason():
    doc = DOC.read_text(encoding="utf-8")
    assert EXAMPLE.strip() in doc
    for reason in MESSAGES:
        assert f"`{reason}`" in doc, reason


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8"),
        ("cp1252", b"", "cp1252"),
    ],
)
@pytest.mark.parametrize("delimiter", [";", ","])
def test_encodings_and_delimiters_are_detected(
    encoding: str, prefix: bytes, expected: str, delimiter: str
):
    text = EXAMPLE.replace('"6e A;6e B"', "6e A|6e B").replace(";", delimiter)
    text = text.replace("6e A|6e B", '"6e A;6e B"')
    result = parse_roster(prefix + text.encode(encoding))
    assert (result.encoding, result.delimiter) == (expected, delimiter)
    assert result.errors == []
    assert result.rows == parse(EXAMPLE).rows


def test_windows_line_endings_and_excel_sep_hint():
    text = "sep=;\r\n" + EXAMPLE.replace("\n", "\r\n")
    result = parse(text)
    assert result.errors == []
    assert [row.line for row in result.rows] == [3, 4, 5, 6]


def test_header_names_ignore_case_accents_and_spacing_and_accept_english():
    header = "RÔLE;Identifiant;Family name;Prénom;Classes;Matière;E-mail;Aménagement;Enfants;Notes"
    result = parse(table("Élève;E1;Dupont;Léa;6e A;;;OUI;;à voir", header=header))
    assert result.errors == []
    assert result.rows[0].accommodation is True
    assert result.ignored_columns == ("Notes",)


def test_role_words_in_french_and_english():
    result = parse(
        table(
            "pupil;E1;A;B;6e A;;;;",
            "ÉLÈVE;E2;A;B;6e A;;;;",
            "Teacher;T1;A;B;;;;;",
            "enseignant;T2;A;B;;;;;",
            "Parent;P1;A;B;;;;;E1",
        )
    )
    assert result.errors == []
    assert [row.role for row in result.rows] == [
        Role.PUPIL,
        Role.PUPIL,
        Role.TEACHER,
        Role.TEACHER,
        Role.PARENT,
    ]


def test_optional_columns_may_be_absent():
    result = parse(
        "role,id,nom,prenom,classe\neleve,E1,Dupont,Léa,6e A\nenseignant,T1,Curie,Marie,\n"
    )
    assert result.errors == []
    assert result.rows[1].groups == ()


def test_cells_are_normalised_so_spellings_of_a_name_agree():
    decomposed = unicodedata.normalize("NFD", "Léa")
    result = parse(table(f"eleve; E1 ;  Dupont  ;{decomposed};6e   A;;;;"))
    assert result.rows[0] == parse(table("eleve;E1;Dupont;Léa;6e A;;;;")).rows[0]


def test_parsing_is_deterministic():
    data = EXAMPLE.encode("cp1252")
    assert parse_roster(data) == parse_roster(data)


# --- row errors ---


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("directeur;X1;A;B;;;;;", "unknown_role"),
        (";X1;A;B;;;;;", "unknown_role"),
        ("eleve;;A;B;6e A;;;;", "missing_id"),
        ("eleve;X1;;B;6e A;;;;", "missing_family_name"),
        ("eleve;X1;A;;6e A;;;;", "missing_given_name"),
        ("eleve;X1;A;B;;;;;", "pupil_without_class"),
        ("eleve;X1;A;B; ; ;;;", "pupil_without_class"),
        ("eleve;X1;A;B;6e A;;pas une adresse;;", "bad_email"),
        ("eleve;X1;A;B;6e A;;a@b;;", "bad_email"),
        ("eleve;X1;A;B;6e A;;a b@c.fr;;", "bad_email"),
        ("eleve;X1;A;B;6e A;;;peut-être;", "bad_flag"),
        ("parent;X1;A;B;;;;;", "parent_without_child"),
        ("parent;X1;A;B;;;;;NOBODY", "unknown_child"),
        ("eleve;" + "x" * 65 + ";A;B;6e A;;;;", "too_long"),
        ("eleve;X1;" + "n" * 60 + ";B;6e A;;;;", "too_long"),
        ("eleve;X1;A;B;" + "c" * 61 + ";;;;", "too_long"),
        ("eleve;X1;A;B;" + "c" * 1001 + ";;;;", "too_long"),
        ("eleve;X1;A\x07;B;6e A;;;;", "control_character"),
        ("eleve;X1;A;B;6e A;;;;;surplus", "too_many_fields"),
    ],
)
def test_each_bad_row_is_reported_with_its_line_and_the_good_rows_are_kept(row: str, reason: str):
    result = parse(table("eleve;G1;Dupont;Léa;6e A;;;;", row, "eleve;G2;Martin;Hugo;6e B;;;;"))
    assert reason in [r for line, r in reasons(result) if line == 3]
    assert {error.line for error in result.errors} == {3}
    assert [row.key for row in result.rows] == ["G1", "G2"]
    for error in result.errors:
        assert error.message_fr and error.message_en and error.message_fr != error.message_en
        assert error.message("en") == error.message_en
        assert error.message("fr") == error.message_fr


def test_a_row_reports_all_its_problems():
    result = parse(table("eleve;;;;;;bad;maybe;"))
    assert [reason for _, reason in reasons(result)] == [
        "missing_id",
        "missing_family_name",
        "missing_given_name",
        "bad_email",
        "bad_flag",
        "pupil_without_class",
    ]


def test_a_duplicate_id_names_the_first_line_and_the_first_row_is_kept():
    result = parse(table("eleve;E1;A;B;6e A;;;;", "eleve;E2;C;D;6e A;;;;", "eleve;E1;E;F;6e B;;;;"))
    assert reasons(result) == [(4, "duplicate_id")]
    assert "ligne 2" in result.errors[0].message_fr
    assert "line 2" in result.errors[0].message_en
    assert [row.line for row in result.rows] == [2, 3]


def test_children_may_come_later_in_the_file_or_be_known_already():
    result = parse(
        table('parent;P1;A;B;;;;;"E1; E1 ;K9"', "eleve;E1;A;C;6e A;;;;"),
        known_pupils={"K9"},
    )
    assert result.errors == []
    assert result.rows[0].children == ("E1", "K9")


def test_a_child_must_be_a_good_pupil_row():
    result = parse(
        table(
            "enseignant;T1;A;B;;;;;",
            "eleve;E1;A;B;;;;;",  # no class: rejected
            "parent;P1;A;B;;;;;T1",
            "parent;P2;A;B;;;;;E1",
            "parent;P3;A;B;;;;;P3",
        )
    )
    assert reasons(result) == [
        (3, "pupil_without_class"),
        (4, "child_not_pupil"),
        (5, "child_rejected"),
        (6, "child_not_pupil"),
    ]
    assert "line 2" in result.errors[1].message_en
    assert [row.key for row in result.rows] == ["T1"]


def test_groups_and_subjects_only_where_they_mean_something():
    result = parse(
        table(
            'eleve;E1;A;B;"6e A;LV1 anglais;6e A";Maths;;;',
            "parent;P1;A;B;6e A;Maths;;;E1",
        )
    )
    pupil, parent = result.rows
    assert pupil.groups == ("6e A", "LV1 anglais")
    assert pupil.subject is None
    assert (parent.groups, parent.subject) == ((), None)


def test_line_numbers_count_blank_lines_and_a_cell_over_two_lines():
    text = table(
        "",
        "eleve;E1;A;B;6e A;;;;",
        ";;;;;;;;",
        'eleve;E2;A;"B',
        'C";6e A;;;;',
        "eleve;;A;B;6e A;;;;",
    )
    result = parse(text)
    assert [row.line for row in result.rows] == [3, 5]
    assert result.rows[1].given_name == "B C"
    assert reasons(result) == [(7, "missing_id")]


def test_a_bad_value_is_shortened_in_the_message():
    result = parse(table("x" * 500 + ";E1;A;B;;;;;"))
    assert len(result.errors[0].message_en) < 120


# --- the file as a whole ---


def test_a_file_over_the_byte_limit_is_one_error():
    with pytest.raises(TooLarge) as caught:
        parse_roster(b"x" * 101, max_bytes=100)
    assert caught.value.reason == "roster_too_large"


def test_a_file_over_the_row_limit_is_one_error():
    rows = [f"eleve;E{i};A;B;6e A;;;;" for i in range(11)]
    assert len(parse(table(*rows[:10]), max_rows=10).rows) == 10
    with pytest.raises(TooLarge) as caught:
        parse(table(*rows), max_rows=10)
    assert caught.value.reason == "roster_too_many_rows"
    assert caught.value.extra == {"limit": 10}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "roster_empty"),
        (b"\n\r\n;;;\n", "roster_empty"),
        (b"PK\x03\x04rest of a zip", "roster_not_csv"),
        (b"\xd0\xcf\x11\xe0old excel", "roster_not_csv"),
        ("role;id".encode("utf-16"), "roster_encoding"),
        (HEADER.encode() + b"\neleve;\x81;A;B;6e A;;;;\n", "roster_encoding"),
        (b"\xef\xbb\xbf" + HEADER.encode() + b"\n\xe9\n", "roster_encoding"),
        (b"role;id;nom\n", "roster_header"),
        (b"nom,prenom,classe\n", "roster_header"),
        (b"role;id;identifiant;nom;prenom\n", "roster_duplicate_column"),
        (HEADER.encode() + b'\n"' + b"x" * 200_000 + b"\n", "roster_malformed"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_clear_error(data: bytes, reason: str):
    with pytest.raises(BadRequest) as caught:
        parse_roster(data)
    assert caught.value.reason == reason
    assert caught.value.message_fr and caught.value.message_en


def test_the_header_error_says_what_is_missing_and_what_is_expected():
    with pytest.raises(BadRequest) as caught:
        parse("role;nom;prenom\n")
    assert "id" in caught.value.message_en
    assert HEADER in caught.value.message_en


def test_cp1252_is_read_when_the_bytes_are_not_utf8():
    data = table("eleve;E1;Œuvre;Zoé;6e A;;;;").encode("cp1252")
    result = parse_roster(data)
    assert result.encoding == "cp1252"
    assert result.rows[0].display_name == "Zoé Œuvre"


# --- properties ---


def physical_lines(data: bytes) -> int:
    return len(re.split(rb"\r\n|\r|\n", data))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=400)
    | st.text(alphabet=';,"\n\r ae1é@\x00', max_size=200).map(
        lambda text: (HEADER + "\n" + text).encode("utf-8")
    )
)
def test_any_bytes_give_a_result_or_a_file_error(data: bytes):
    try:
        result = parse_roster(data)
    except (BadRequest, TooLarge) as error:
        assert isinstance(error, HomeroomError) and error.message_en
        return
    last = physical_lines(data)
    row_lines = [row.line for row in result.rows]
    assert len(set(row_lines)) == len(row_lines)
    assert not set(row_lines) & set(result.bad_lines)
    assert all(2 <= line <= last for line in [*row_lines, *result.bad_lines])


GOOD = st.builds(
    lambda role, name, group: f"{role};{{id}};{name or 'X'};{name or 'Y'};{group};;;;",
    st.sampled_from(["eleve", "enseignant", "Élève", "teacher"]),
    st.text(alphabet="abcdéè", max_size=6),
    st.just("6e A"),
)
BAD = st.sampled_from(
    [
        "intrus;{id};A;B;;;;;",
        "eleve;;A;B;6e A;;;;",
        "eleve;{id};A;B;;;;;",
        "eleve;{id};A;B;6e A;;x;;",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(st.booleans(), GOOD, BAD, st.booleans()), max_size=30),
    delimiter=st.sampled_from([";", ","]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    crlf=st.booleans(),
)
def test_good_rows_and_bad_rows_make_all_the_data_rows(
    rows: list[tuple[bool, str, str, bool]], delimiter: str, encoding: str, crlf: bool
):
    lines, expected_good, expected_bad = [HEADER], [], []
    for i, (good, good_row, bad_row, blank_before) in enumerate(rows):
        if blank_before:
            lines.append("")
        lines.append((good_row if good else bad_row).format(id=f"N{i}"))
        (expected_good if good else expected_bad).append(len(lines))
    newline = "\r\n" if crlf else "\n"
    text = newline.join(line.replace(";", delimiter) for line in lines) + newline
    result = parse_roster(text.encode(encoding))
    assert [row.line for row in result.rows] == expected_good
    assert result.bad_lines == expected_bad
    assert result.delimiter == delimiter


# --- logins ---


@pytest.mark.parametrize(
    ("given_name", "family", "login"),
    [
        ("Léa", "Dupont", "lea.dupont"),
        ("Jean-Éric", "De La Fontaine", "jean-eric.de-la-fontaine"),
        ("Chloé", "N'Diaye", "chloe.ndiaye"),
        ("Zoë", "L’Hôpital", "zoe.lhopital"),
        ("Œdipe", "Straße", "oedipe.strasse"),
        ("Ørjan", "Łukasz", "orjan.lukasz"),
        ("Ａｎｎａ", "Dupont", "anna.dupont"),
        ("", "Dupont", "dupont"),
        ("李", "王", "compte"),
    ],
)
def test_logins_are_ascii_lower_case_given_dot_family(given_name: str, family: str, login: str):
    assert make_login(given_name, family, lambda _: False) == login


def test_a_taken_login_gets_the_next_free_number():
    taken = {"lea.dupont", "lea.dupont2", "lea.dupont4"}
    assert make_login("Léa", "Dupont", taken.__contains__) == "lea.dupont3"


def test_logins_for_a_whole_file_are_deterministic_and_unique():
    names = [("Léa", "Dupont"), ("Lea", "DUPONT"), ("Léa", "Dupont"), ("Hugo", "Martin")]

    def run() -> list[str]:
        taken: set[str] = set()
        for given_name, family in names:
            taken.add(make_login(given_name, family, taken.__contains__))
        return sorted(taken)

    assert run() == run() == ["hugo.martin", "lea.dupont", "lea.dupont2", "lea.dupont3"]


def test_a_long_login_is_shortened_but_keeps_its_number():
    first = make_login("a" * 50, "b" * 50, lambda _: False)
    assert len(first) == 80
    second = make_login("a" * 50, "b" * 50, {first}.__contains__)
    assert len(second) == 80 and second.endswith("2")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_any_names_give_a_short_ascii_login(given_name: str, family: str):
    login = make_login(given_name, family, lambda _: False)
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,79}", login)
    assert login == make_login(given_name, family, lambda _: False)

"""HOMEROOM_PROTECT rules: a path prefix, optionally one method, to a gate; bad rules fail fast."""

from __future__ import annotations

import pytest

from homeroom.config import ConfigError, load_settings


def test_sign_in_sits_behind_the_gate_by_default() -> None:
    rules = load_settings().protected_routes()
    assert ("POST", "/api/v1/session", "national") in rules
    assert (None, "/signin", "national") in rules
    assert (None, "/class", "national") in rules
    assert load_settings().signin_page == "/signin"


def test_rules_read_from_the_environment_longest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEROOM_PROTECT", "/a=national, post /a/b=national,/a/b/c=national")
    settings = load_settings()
    assert settings.protected_routes() == [
        (None, "/a/b/c", "national"),
        ("POST", "/a/b", "national"),
        (None, "/a", "national"),
    ]
    assert settings.protected_prefixes() == [("/a/b/c", "national"), ("/a", "national")]


@pytest.mark.parametrize(
    ("rule", "word"),
    [
        ("class=national", "expected /path=gate"),
        ("FETCH /class=national", "expected /path=gate"),
        ("/class=", "expected /path=gate"),
        ("/class=elsewhere", "is not one of HOMEROOM_GATES"),
    ],
)
def test_a_bad_rule_names_the_variable(rule: str, word: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(protect=[rule])
    assert "HOMEROOM_PROTECT" in str(caught.value)
    assert word in str(caught.value)


def test_the_sign_in_page_must_be_a_path() -> None:
    with pytest.raises(ConfigError, match="HOMEROOM_SIGNIN_PAGE"):
        load_settings(signin_page="signin")
    assert load_settings(signin_page="").signin_page == ""

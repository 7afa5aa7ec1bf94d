"""Cookies follow the public origin: Secure exactly with an https one (docs/configuration.md)."""

from __future__ import annotations

import pytest

from homeroom.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("origin", "secure"),
    [("", False), ("http://127.0.0.1:8000", False), ("https://classe.example.fr", True)],
)
def test_cookies_are_secure_exactly_with_an_https_origin(origin: str, secure: bool) -> None:
    settings = load_settings(public_origin=origin)
    assert settings.secure_cookies is secure
    assert settings.https is secure


def test_the_origin_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEROOM_PUBLIC_ORIGIN", "HTTPS://Classe.Example.fr/")
    settings = load_settings()
    assert settings.public_origin == "https://classe.example.fr"
    assert settings.secure_cookies is True


def test_without_an_origin_the_flag_is_set_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEROOM_SECURE_COOKIES", "true")  # TLS in front, origin unsaid
    assert load_settings().secure_cookies is True


@pytest.mark.parametrize(
    ("origin", "flag", "word"),
    [
        ("https://classe.example.fr", "false", "must be true"),
        ("http://classe.example.fr", "true", "must be false"),
    ],
)
def test_a_flag_against_the_origin_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, origin: str, flag: str, word: str
) -> None:
    monkeypatch.setenv("HOMEROOM_PUBLIC_ORIGIN", origin)
    monkeypatch.setenv("HOMEROOM_SECURE_COOKIES", flag)
    with pytest.raises(ConfigError, match=f"HOMEROOM_SECURE_COOKIES: {word}"):
        load_settings()


@pytest.mark.parametrize(
    "origin",
    ["classe.example.fr", "ftp://classe.example.fr", "https://classe.example.fr/ecole", "https://"],
)
def test_an_origin_is_scheme_and_host_only(origin: str) -> None:
    with pytest.raises(ConfigError, match="HOMEROOM_PUBLIC_ORIGIN"):
        load_settings(public_origin=origin)

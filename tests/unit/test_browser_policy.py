"""Cookies follow the public origin, and the policy's headers are chosen by kind of answer."""

from __future__ import annotations

import pytest

from homeroom.config import ConfigError, load_settings
from homeroom.headers import RESOURCE_CSP, BrowserPolicy, page_csp


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


def test_hsts_only_with_an_https_origin() -> None:
    def hsts(**settings: object) -> list[bytes]:
        policy = BrowserPolicy(load_settings(**settings))
        return [v for n, v in policy.resource if n == b"strict-transport-security"]

    assert hsts() == []
    assert hsts(public_origin="http://classe.example.fr") == []
    assert hsts(public_origin="https://classe.example.fr") == [b"max-age=31536000"]
    assert hsts(public_origin="https://classe.example.fr", hsts_max_age_s=300) == [b"max-age=300"]
    assert hsts(public_origin="https://classe.example.fr", hsts_max_age_s=0) == []


def scope(host: bytes = b"classe.example.fr") -> dict[str, object]:
    return {"type": "http", "scheme": "http", "headers": [(b"host", host)]}


def test_pages_and_the_rest_get_their_own_policy() -> None:
    policy = BrowserPolicy(load_settings(live_public_url="wss://direct.example.fr/live"))
    page = dict(policy.add(scope(), [(b"content-type", b"text/html; charset=utf-8")]))
    assert page[b"content-security-policy"] == page_csp("wss://direct.example.fr").encode()
    assert page[b"x-frame-options"] == b"DENY"
    json = dict(policy.add(scope(), [(b"content-type", b"application/json")]))
    assert json[b"content-security-policy"] == RESOURCE_CSP.encode()
    assert b"x-frame-options" not in json
    redirect = dict(policy.add(scope(), [(b"location", b"/home")]))
    assert redirect[b"content-security-policy"] == RESOURCE_CSP.encode()


def test_a_header_the_answer_sets_itself_is_kept_and_not_doubled() -> None:
    policy = BrowserPolicy(load_settings())
    own = [(b"content-type", b"application/pdf"), (b"x-content-type-options", b"nosniff")]
    out = policy.add(scope(), own)
    assert [n for n, _ in out].count(b"x-content-type-options") == 1
    special = [(b"content-type", b"text/html"), (b"content-security-policy", b"sandbox")]
    csp = [v for n, v in policy.add(scope(), special) if n == b"content-security-policy"]
    assert csp == [b"sandbox"]


def test_the_live_origin_follows_the_host_within_a_bound() -> None:
    policy = BrowserPolicy(load_settings(live_port=9001))
    for n in range(200):  # many names: the remembered policies stay few
        host = f"school{n}.example.fr".encode()
        (csp,) = [v for n, v in policy.page(scope(host)) if n == b"content-security-policy"]
        assert f"connect-src 'self' ws://school{n}.example.fr:9001;".encode() in csp
    assert len(policy._by_host) <= 64


def test_no_gateway_no_websocket_origin() -> None:
    policy = BrowserPolicy(load_settings(live_port=0))
    (csp,) = [v for n, v in policy.page(scope()) if n == b"content-security-policy"]
    assert b"connect-src 'self';" in csp

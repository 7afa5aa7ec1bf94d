"""Bodies no database can store, or no parser should recurse into, get a clear 400 from the
API (read_body, core/clientjson.py), never a 500: a lone surrogate, NUL, deep nesting, NaN."""

from __future__ import annotations

import pytest

from tests.school.apiclient import Api, sign_in


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b'{"login": "\\ud800", "password": "x"}', "bad_text"),
        (b'{"login": "lea", "password": "x\\udc00"}', "bad_text"),
        (b'{"login": "lea", "password": "x", "\\ud83d": 1}', "bad_text"),
        (b'{"login": "lea\\u0000", "password": "x"}', "bad_text"),
        (b"[" * 3000 + b"]" * 3000, "malformed_json"),
        (b'{"login": ' + b"[" * 100 + b"]" * 100 + b', "password": "x"}', "malformed_json"),
        (b'{"login": "lea", "password": NaN}', "malformed_json"),
        (b'{"login": "lea", "password": 1e400}', "malformed_json"),
        (b'{"login": "lea", "password": "\xed\xa0\x80"}', "malformed_json"),  # a surrogate in UTF-8
    ],
    ids=["surrogate", "low_surrogate", "key", "nul", "deep", "deep_field", "nan", "huge", "cesu"],
)
async def test_a_body_that_cannot_be_read_safely_is_400_with_its_word(
    api: Api, content: bytes, error: str
) -> None:
    response = await api.client.post(
        "/api/v1/session", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    await sign_in(api, "lea")  # and the school goes on


async def test_a_well_formed_surrogate_pair_and_a_byte_order_mark_are_read(api: Api) -> None:
    content = '\ufeff{"login": "lea", "password": "correct horse battery", "x": "\\ud83d\\ude00"}'
    response = await api.client.post(
        "/api/v1/session",
        content=content.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("content", [b"login=lea%00&password=x", b"lo%00gin=lea&password=x"])
async def test_a_form_with_nul_is_400_too(api: Api, content: bytes) -> None:
    """NUL percent-encoded: PostgreSQL refused the sign-in's query with a 500."""
    response = await api.client.post(
        "/api/v1/session",
        content=content,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_text"

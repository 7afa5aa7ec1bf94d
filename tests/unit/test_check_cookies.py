"""The pass check's reading of Cookie headers (gate/check.py `request_cookies`)."""

from __future__ import annotations

import pytest

from homeroom.gate.check import request_cookies


def test_cookies_of_every_header_the_first_of_a_name_winning() -> None:
    cookies, original = request_cookies(
        [
            (b"cookie", b"hr_bid=one; theme=dark; hr_bid=two"),
            (b"x-original-uri", b"/cours?x=1"),
            (b"cookie", b"hr_p_national=pass; theme=light"),
        ]
    )
    assert dict(cookies) == {"hr_bid": "one", "theme": "dark", "hr_p_national": "pass"}
    assert original == b"/cours?x=1"


def test_a_header_read_again_gives_the_same_cookies_which_cannot_be_changed() -> None:
    header = b" a=1 ;b = 2;;=x; c"
    first, _ = request_cookies([(b"cookie", header)])
    again, _ = request_cookies([(b"cookie", bytes(header))])
    assert first is again  # remembered: a browser sends the same header with every request
    assert dict(first) == {"a": "1", "b": "2"}
    with pytest.raises(TypeError):
        first["a"] = "2"  # type: ignore[index]
    assert dict(request_cookies([])[0]) == {}

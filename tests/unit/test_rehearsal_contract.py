"""The recorder keeps the class page's figures: read from static/live-conn.js, compared here.

A change to the browser's backoff, pings, resends or stop codes that the recorder does not
follow would make every audit prove something about another client than the one people use.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from homeroom.rehearsal import recorder

JS = (Path(recorder.__file__).parents[1] / "static" / "live-conn.js").read_text()


def js_number(name: str) -> float:
    match = re.search(rf"const {name} = (\d+);", JS)
    assert match, f"{name} not found in live-conn.js"
    return float(match.group(1))


@pytest.mark.parametrize(
    ("js", "python"),
    [
        ("BACKOFF_BASE_MS", "BACKOFF_BASE_S"),
        ("BACKOFF_CAP_MS", "BACKOFF_CAP_S"),
        ("PING_MS", "PING_S"),
        ("SILENT_MS", "SILENT_S"),
        ("RESEND_MS", "RESEND_S"),
        ("JOINED_MS", "JOINED_S"),
    ],
)
def test_the_recorder_waits_as_long_as_the_page(js: str, python: str) -> None:
    assert js_number(js) / 1000 == getattr(recorder, python)


def test_the_recorder_stops_on_the_pages_stop_codes() -> None:
    found = re.search(r"const STOP_CODES = \{([^}]*)\}", JS)
    assert found
    codes = {int(code): word for code, word in re.findall(r'(\d+): "(\w+)"', found.group(1))}
    assert codes == recorder.STOP_CODES


def test_the_recorder_caps_the_attempts_as_the_page_does() -> None:
    assert f"Math.min(this.attempt + 1, {recorder.MAX_ATTEMPT})" in JS


def test_full_jitter_draws_below_a_ceiling_that_doubles_up_to_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(recorder.MAX_ATTEMPT + 1):
        ceiling = min(recorder.BACKOFF_CAP_S, recorder.BACKOFF_BASE_S * 2**attempt)
        waits = [recorder.backoff_s(attempt, rng) for _ in range(200)]
        assert all(0 <= w < ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling  # spread over the whole window, not a fixed share
        assert recorder.backoff_s(attempt, rng, jitter=False) == ceiling

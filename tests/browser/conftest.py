"""Chromium from Debian's package, driven by Playwright; a real gate process to talk to."""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from homeroom.school.data import db
from tests.gate_process import ROOT, GateProcess

T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def gate() -> Iterator[GateProcess]:
    """A queueing gate with no room yet, so arrivals wait until the test makes room."""
    keys = "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    env = {
        "HOMEROOM_MODE": "queue",
        "HOMEROOM_TICK_S": "0.25",
        "HOMEROOM_SECRET_KEYS": keys,
        "HOMEROOM_CAPACITY": "0",
    }
    with GateProcess(env) as process:
        yield process


def axe_violations(page) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


def seeded_school_db(prefix: str, seed: Callable[[str], Coroutine[Any, Any, T]]) -> tuple[str, T]:
    """A new SQLite school database at head in a folder of its own, seeded by `seed(url)`:
    its URL and what `seed` returned."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    url = f"sqlite+aiosqlite:///{folder / 'school.db'}"
    db.upgrade(url)
    with ThreadPoolExecutor(1) as pool:  # the sync Playwright driver may own a loop here
        seeded = pool.submit(lambda: asyncio.run(seed(url))).result()
    return url, seeded

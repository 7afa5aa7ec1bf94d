"""HOMEROOM_STATIC_PATH: homeroom's files where a proxy in front of a workspace sends them (docs/operations.md#in-front-of-a-workspace).

With `/gate/static`, the waiting page links its script and styles there and the app serves them
there, vendor files too, as well as under /static for homeroom's own site.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from homeroom.web.pages import static_version, use_static_path
from tests.service.conftest import Gate


@pytest.fixture
def settings_overrides() -> Iterator[dict[str, Any]]:
    yield {"static_path": "/gate/static"}
    use_static_path("/static")  # one setting a process: the next tests' pages link /static/


async def test_the_waiting_page_links_and_the_app_serves_the_files_under_the_path(
    gate: Gate,
) -> None:
    async with gate.make_client() as client:
        page = await client.get("/gate/national/wait?next=/cours", headers={"accept": "text/html"})
        assert page.status_code == 200
        version = static_version()
        assert f'src="/gate/static/gate.js?v={version}"' in page.text
        assert f'href="/gate/static/gate.css?v={version}"' in page.text
        assert '"/static/' not in page.text
        for path in ("/gate/static/gate.js", "/static/gate.js", "/gate/static/vendor/axe.min.js"):
            served = await client.get(path)
            assert served.status_code == 200, path
        missing = await client.get("/gate/static/vendor/no-such.js")
    assert missing.status_code == 404

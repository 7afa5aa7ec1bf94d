"""homeroom's script and style files, gzipped once for the browsers that take gzip (web/gzipped.py)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from homeroom.gate.assets import vendor_files
from homeroom.web import gzipped as gz
from tests.service.conftest import Gate

STATIC = Path(gz.__file__).parents[1] / "static"
REPO = Path(gz.__file__).parents[3]


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),  # named and refused: `*` does not bring it back
        ("*", True),
        ("*;q=0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
        ("GZIP", True),
    ],
)
def test_what_accept_encoding_allows(header: str, takes: bool) -> None:
    assert gz.takes_gzip(Headers({"accept-encoding": header})) is takes


async def test_a_script_goes_gzipped_and_a_browser_that_has_it_gets_a_304(gate: Gate) -> None:
    original = (STATIC / "live.js").read_bytes()
    async with gate.make_client() as client:
        sent = await client.get("/static/live.js", headers={"accept-encoding": "gzip"})
        assert sent.status_code == 200
        assert sent.headers["content-encoding"] == "gzip"
        assert sent.headers["vary"] == "accept-encoding"
        assert sent.headers["content-type"].startswith("text/javascript")
        assert sent.content == original  # httpx inflated it: the very bytes of the file
        assert int(sent.headers["content-length"]) < len(original) / 2
        again = await client.get(
            "/static/live.js",
            headers={"accept-encoding": "gzip", "if-none-match": sent.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.content == b""
        # a browser that takes no gzip gets the file as it is, and caches are told why
        plain = await client.get("/static/live.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == original
        assert plain.headers["vary"] == "accept-encoding"
        # small files and images go as they are
        small = await client.get("/static/gate-altcha.js", headers={"accept-encoding": "gzip"})
        assert small.status_code == 200
        assert "content-encoding" not in small.headers


@pytest.mark.skipif(
    not vendor_files(REPO)["pdf.worker.min.js"].is_file(), reason="npm ci has not run here"
)
async def test_pdf_js_goes_gzipped_with_its_cache_lifetime(gate: Gate) -> None:
    path = vendor_files(REPO)["pdf.worker.min.js"]
    async with gate.make_client() as client:
        sent = await client.get("/static/vendor/pdf.worker.min.js")  # httpx asks for gzip
    assert sent.headers["content-encoding"] == "gzip"
    assert sent.headers["cache-control"] == "public, max-age=86400"
    assert sent.content == path.read_bytes()
    assert int(sent.headers["content-length"]) < path.stat().st_size / 3


def test_a_changed_file_is_compressed_again(tmp_path: Path) -> None:
    path = tmp_path / "a.js"
    path.write_text("let x = 1;\n" * 500)
    asks = Headers({"accept-encoding": "gzip"})
    first = gz.gzipped(path, path.stat(), asks)
    assert first is not None and gzip.decompress(first.body) == path.read_bytes()
    path.write_text("let y = 2;\n" * 600)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    second = gz.gzipped(path, path.stat(), asks)
    assert second is not None and gzip.decompress(second.body) == path.read_bytes()
    assert first.headers["etag"] != second.headers["etag"]

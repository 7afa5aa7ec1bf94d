"""homeroom's script and style files sent gzipped to the browsers that take it, each compressed once.

A pupil on a poor line opens a class: pdf.js alone is 1.75 MB (pdf.min.js and its worker), 514 KB
gzipped; at 30 kbit/s that is the difference between eight minutes and two before the first
slide. Starlette's GZipMiddleware would compress every answer again (about 60 ms of CPU for
pdf.js's worker at level 9, for each of a country's pupils on the first morning); here a file is
compressed the first time it is asked and kept, in memory, as long as its size and modification
time stay the same (`_gzip`). Its ETag is the compressed bytes' own; `Vary: Accept-Encoding`
tells caches that the answer depends on it (docs/operations.md#static-files).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# what compresses (text); images and fonts are compressed already
TYPES: Mapping[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
SMALLEST = 1024  # below this, the gzip header and a round of the client's inflating cost more
KEPT = 64  # files kept compressed: homeroom serves about twenty


def takes_gzip(headers: Headers) -> bool:
    """Whether Accept-Encoding allows gzip: named with a weight above 0 (RFC 9110: `q=0` refuses
    it), or not named and `*` allowed."""
    weights: dict[str, float] = {}
    for part in headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.partition(";")
        params = params.strip()
        try:
            weights[name.strip()] = float(params[2:]) if params.startswith("q=") else 1.0
        except ValueError:
            weights[name.strip()] = 0.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


@lru_cache(maxsize=KEPT)
def _gzip(path: str, size: int, mtime_ns: int) -> tuple[bytes, str]:
    """The file compressed (level 9, no name or time in the header: the same bytes each time),
    and its ETag. Keyed by size and modification time: a changed file is compressed again."""
    body = gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)
    return body, '"gz-' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def gzipped(
    path: Path, stat: os.stat_result, request: Headers, extra: Mapping[str, str] = {}
) -> Response | None:
    """The answer with `path` gzipped, a 304 when the browser has it, or None when the file is
    sent as it is (the browser takes no gzip, or the file is small or not text)."""
    kind = TYPES.get(path.suffix)
    if kind is None or stat.st_size < SMALLEST or not takes_gzip(request):
        return None
    body, etag = _gzip(str(path), stat.st_size, stat.st_mtime_ns)
    headers = {"etag": etag, "vary": "accept-encoding", **extra}
    if etag in request.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    headers["content-encoding"] = "gzip"
    return Response(body, headers=headers, media_type=kind)


class GzippedFiles(StaticFiles):
    """Starlette's StaticFiles, its text files gzipped (`gzipped`) for the browsers that take it."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        if status_code == 200:
            answer = gzipped(Path(full_path), stat_result, Headers(scope=scope))
            if answer is not None:
                return answer
        response = super().file_response(full_path, stat_result, scope, status_code)
        if Path(full_path).suffix in TYPES:  # another browser may be sent it gzipped
            response.headers["vary"] = "accept-encoding"
        return response

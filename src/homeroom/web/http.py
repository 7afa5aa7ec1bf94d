"""Reading a request and answering it the same way in the gate and the school.

The page's language (`lang_of`), a body read within a size limit (`read_body`), a place to go
next that stays on this site (`safe_next`), Set-Cookie headers (`Cookies`), and `error_response`,
which renders every HomeroomError as JSON or as the error page by the Accept header (docs/architecture.md#layers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from homeroom.core import clientjson
from homeroom.errors import BadRequest, HomeroomError, TooLarge
from homeroom.web import i18n
from homeroom.web.pages import render_page


def lang_of(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen is not None and i18n.known(chosen):
        return chosen
    return i18n.negotiate(request.headers.get("accept-language"))


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


async def read_body(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object or form of a request, bounded in size; {} when empty."""
    if request.headers.get("content-length") == "0":
        return {}
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise TooLarge("too_large", "Requête trop volumineuse.", "Request body too large.")
    if not chunks:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(chunks.decode("utf-8", "replace"), max_num_fields=20))
        if not all(clientjson.writable(key + value) for key, value in form.items()):
            raise _unreadable("bad_text")  # %00: PostgreSQL cannot store NUL
        return form
    try:
        # UTF-8 only (RFC 8259), a byte order mark allowed; decoded within bounds, so that
        # nesting, NaN or text no database can store is a 400, never a 500 further on
        data = clientjson.decode(chunks.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BadRequest("malformed_json", "Corps JSON illisible.", "Malformed JSON body.") from exc
    except clientjson.Refused as exc:
        raise _unreadable(exc.reason) from exc
    if not isinstance(data, dict):
        raise BadRequest(
            "malformed_json", "Un objet JSON est attendu.", "A JSON object is expected."
        )
    return data


def _unreadable(reason: str) -> BadRequest:
    if reason == "bad_text":
        return BadRequest(
            "bad_text",
            "Le texte contient un caractère impossible à enregistrer.",
            "The text holds a character that cannot be stored (a lone surrogate or NUL).",
        )
    if reason == "too_deep":
        return BadRequest(
            "malformed_json", "Corps JSON trop imbriqué.", "JSON body nested too deeply."
        )
    return BadRequest("malformed_json", "Corps JSON illisible.", "Malformed JSON body.")


def error_response(request: Request, exc: HomeroomError) -> Response:
    lang = lang_of(request)
    headers = {"cache-control": "no-store"}
    if exc.retry_after is not None:
        headers["retry-after"] = str(exc.retry_after)
    if wants_html(request):
        again = exc.retry_after is not None and request.method in ("GET", "HEAD")
        html = render_page(
            "error.html",
            lang,
            status=exc.status,
            reason=exc.reason,
            message=exc.message(lang),
            retry_after=exc.retry_after,
            retry_url=_here(request) if again else None,
            page_url=_here(request) if request.method in ("GET", "HEAD") else None,
        )
        return HTMLResponse(html, exc.status, headers=headers)
    return JSONResponse(exc.body(lang), exc.status, headers=headers)


def _here(request: Request) -> str:
    """This request's own path and query: a link to try it again (stays on this site)."""
    query = f"?{request.url.query}" if request.url.query else ""
    return safe_next(request.url.path + query)


class Cookies:
    """Set-Cookie headers: HttpOnly, SameSite=Lax, for the whole site; Secure behind TLS."""

    def __init__(self, secure: bool) -> None:
        self.secure = secure

    def header(self, name: str, value: str, max_age: int) -> tuple[bytes, bytes]:
        """Names are ours and values are base64url, so no quoting is needed."""
        text = f"{name}={value}; Max-Age={max(0, max_age)}; Path=/; HttpOnly; SameSite=Lax"
        if self.secure:
            text += "; Secure"
        return b"set-cookie", text.encode("latin-1")

"""Reading the school pages' forms safely, and the CSRF check of forms sent before signing in.

Forms sent while signed in carry their session's token (`Current.csrf`). The sign-in, sign-up
and one-time code forms have no session yet, so they carry a signed double-submit token: the
page sets a cookie holding a random nonce, and the form holds the nonce signed by the server
(itsdangerous, timed). A post is accepted only if the signature is good, not older than
`FORM_MAX_AGE_S`, and its nonce is the cookie's. A forged site can neither read the cookie nor
sign a nonce, so it cannot sign a person in under its own account (login CSRF). Behind TLS the
cookie is `__Host-` prefixed, so a sibling subdomain cannot plant one (docs/school.md#pages).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from homeroom.errors import BadRequest, Forbidden, TooLarge
from homeroom.web.http import Cookies, read_body

FORM_LIMIT: Final = 8 * 1024  # a form of a few fields; the roster upload has its own limit
FORM_MAX_AGE_S: Final = 24 * 3600  # a sign-in page left open overnight must be reloaded
FIELD_MAX: Final = 1024
CSRF_FIELD: Final = "csrf"


def bad_csrf() -> Forbidden:
    return Forbidden(
        "bad_csrf",
        "Ce formulaire a expiré ou ne vient pas de ce site. Rechargez la page et recommencez.",
        "This form has expired or does not come from this site. Reload the page and try again.",
    )


def bad_field(name: str) -> BadRequest:
    return BadRequest(
        "bad_field", f"Le champ « {name} » n'est pas valide.", f"The field {name!r} is not valid."
    )


def missing_field(name: str) -> BadRequest:
    return BadRequest(
        "missing_field", f"Le champ « {name} » est à remplir.", f"Please fill in {name!r}."
    )


@dataclass(frozen=True, slots=True)
class Form:
    """A submitted form's fields: text only, each bounded."""

    fields: Mapping[str, str]

    def get(self, name: str, max_len: int = FIELD_MAX) -> str:
        """The field's text, "" if absent; BadRequest if too long or with a NUL."""
        value = self.fields.get(name, "")
        if len(value) > max_len or "\x00" in value:
            raise bad_field(name)
        return value

    def need(self, name: str, max_len: int = FIELD_MAX) -> str:
        value = self.get(name, max_len)
        if not value.strip():
            raise missing_field(name)
        return value

    def flag(self, name: str) -> bool:
        return self.fields.get(name) in ("on", "1", "true")


def _unreadable() -> BadRequest:
    return BadRequest(
        "bad_form", "Formulaire illisible : rechargez la page.", "Unreadable form: reload the page."
    )


async def read_form(request: Request, limit: int = FORM_LIMIT) -> Form:
    """A urlencoded form, bounded in size and number of fields; BadRequest or TooLarge else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise _unreadable()
    try:
        body: dict[str, Any] = await read_body(request, limit)
    except ValueError as exc:  # more fields than read_body accepts
        raise _unreadable() from exc
    return Form({k: v for k, v in body.items() if isinstance(v, str)})


async def read_upload(request: Request, limit: int, file_field: str) -> tuple[Form, bytes | None]:
    """A multipart form with at most one file, read whole but never past `limit` bytes."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
        raise _unreadable()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise TooLarge("too_large", "Fichier trop volumineux.", "File too large.")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(data), "more_body": False}

    try:
        parsed = await Request(request.scope, replay).form(
            max_files=1, max_fields=10, max_part_size=limit
        )
    except Exception as exc:  # python-multipart and Starlette raise several kinds
        raise _unreadable() from exc
    fields = {k: v for k, v in parsed.items() if isinstance(v, str)}
    upload = parsed.get(file_field)
    content = await upload.read() if isinstance(upload, UploadFile) else None
    await parsed.close()
    return Form(fields), content


class FormGuard:
    """The signed double-submit token of the forms sent before signing in."""

    def __init__(self, secret: bytes, secure: bool) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="homeroom.form-csrf")
        self.cookie = "__Host-hr_form" if secure else "hr_form"
        self._cookies = Cookies(secure)

    def _nonce(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookie, "")
        return value if len(value) == 32 and all(c in "0123456789abcdef" for c in value) else None

    def issue(self, request: Request) -> tuple[str, tuple[bytes, bytes]]:
        """A token for the page's form, and the Set-Cookie header of its nonce (kept if set)."""
        nonce = self._nonce(request) or secrets.token_hex(16)
        token = self._signer.dumps(nonce)
        return token, self._cookies.header(self.cookie, nonce, FORM_MAX_AGE_S)

    def ok(self, request: Request, token: str) -> bool:
        nonce = self._nonce(request)
        if nonce is None or not token or len(token) > 200:
            return False
        try:
            signed = self._signer.loads(token, max_age=FORM_MAX_AGE_S)
        except BadData:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, nonce)

"""What every school API module shares: the signed-in caller, CSRF, body fields, ids, pages.

Design: docs/api.md#school-api. Reading the caller costs the session (1 query, often cached)
and the Principal (2). Every state-changing call of a signed-in person needs the session's CSRF
token in `X-CSRF-Token`. Ids in paths are read here, so an id that is not a positive 32-bit
integer answers the same 404 as an id that does not exist (and never reaches the database,
where PostgreSQL would refuse it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from homeroom.errors import BadRequest, Forbidden, HomeroomError, NotFound
from homeroom.school.auth.sessions import COOKIE, Current, Sessions
from homeroom.school.data.access import Principal
from homeroom.school.data.models import MAX_ID
from homeroom.school.deps import SchoolDeps
from homeroom.web.http import Cookies

BODY_LIMIT: Final = 16 * 1024
NO_STORE: Final = {"cache-control": "no-store"}
MAX_PAGE: Final = 10_000
MAX_PER_PAGE: Final = 200
DEFAULT_PER_PAGE: Final = 50
_ID = re.compile(r"[1-9][0-9]{0,9}")
_PAGE = re.compile(r"[1-9][0-9]{0,4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# RFC 3339 with an offset: a naive time would be ambiguous (schools sit in several zones).
_MOMENT = re.compile(
    r"([0-9]{4})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


class Unauthorized(HomeroomError):
    status = 401


def signed_out() -> Unauthorized:
    return Unauthorized("signed_out", "Vous n'êtes pas connecté.", "You are not signed in.")


def bad_csrf() -> Forbidden:
    return Forbidden("bad_csrf", "Jeton CSRF invalide.", "Invalid CSRF token.")


def bad_field(name: str) -> BadRequest:
    return BadRequest("bad_field", f"Champ « {name} » invalide.", f"Invalid field {name!r}.")


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def path_id(request: Request, name: str, not_found: NotFound) -> int:
    """The id in the path, or `not_found`: the same answer as for an id that does not exist."""
    text = request.path_params.get(name, "")
    if not isinstance(text, str) or not _ID.fullmatch(text) or int(text) > MAX_ID:
        raise not_found
    return int(text)


def text(
    body: dict[str, Any], name: str, *, limit: int = 1024, required: bool = True
) -> str | None:
    """A string field: 1 to `limit` characters, or absent (None) if not `required`."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise bad_field(name)
    return value


def required_text(body: dict[str, Any], name: str, *, limit: int = 1024) -> str:
    value = text(body, name, limit=limit)
    assert value is not None
    return value


def label(body: dict[str, Any], name: str, limit: int) -> str:
    """A title: spaces collapsed, 1 to `limit` characters, no control characters."""
    value = " ".join(required_text(body, name, limit=4 * limit).split())
    if not value or len(value) > limit or _CONTROL.search(value):
        raise bad_field(name)
    return value


def integer(body: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(
            "bad_field",
            f"Champ « {name} » : un entier de {low} à {high}.",
            f"Field {name!r}: an integer from {low} to {high}.",
        )
    return value


def optional_id(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise bad_field(name)
    return value


def moment(body: dict[str, Any], name: str) -> dt.datetime:
    """An RFC 3339 instant with its offset, between the years 2000 and 9000."""
    value = body.get(name)
    match = _MOMENT.fullmatch(value) if isinstance(value, str) else None
    if match is None or not 2000 <= int(match[1]) <= 9000:
        raise bad_field(name)
    try:
        return dt.datetime.fromisoformat(match[0]).astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise bad_field(name) from exc


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def body(self, total: int, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"items": items, "page": self.number, "per_page": self.size, "total": total}


def page_of(request: Request) -> Page:
    """`?page=` (from 1) and `?per_page=` (1 to MAX_PER_PAGE) of a list."""
    number = request.query_params.get("page", "1")
    size = request.query_params.get("per_page", str(DEFAULT_PER_PAGE))
    if not _PAGE.fullmatch(number) or int(number) > MAX_PAGE:
        raise BadRequest("bad_page", f"Page : de 1 à {MAX_PAGE}.", f"Page: from 1 to {MAX_PAGE}.")
    if not _PAGE.fullmatch(size) or int(size) > MAX_PER_PAGE:
        raise BadRequest(
            "bad_page",
            f"Taille de page : de 1 à {MAX_PER_PAGE}.",
            f"Page size: from 1 to {MAX_PER_PAGE}.",
        )
    return Page(int(number), int(size))


class Endpoints:
    """The base of the school's endpoint groups: the deps, and who is calling."""

    def __init__(self, deps: SchoolDeps) -> None:
        self.deps = deps
        self.cookies = Cookies(deps.secure_cookies)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.deps.clock(), dt.UTC)

    async def current(self, request: Request, db: AsyncSession) -> Current:
        current = await self.deps.sessions.check(db, request.cookies.get(COOKIE))
        if current is None:
            raise signed_out()
        return current

    async def principal(self, request: Request, db: AsyncSession) -> Principal:
        """The signed-in person, for a read."""
        return await self._principal_of(db, await self.current(request, db))

    async def acting(self, request: Request, db: AsyncSession) -> Principal:
        """The signed-in person, for a change: the session's CSRF token must come with it."""
        return (await self.acting_in(request, db))[1]

    async def acting_in(self, request: Request, db: AsyncSession) -> tuple[Current, Principal]:
        """The same, with the sign-in session it acts in."""
        current = await self.current(request, db)
        if not Sessions.csrf_ok(current, request.headers.get("x-csrf-token")):
            raise bad_csrf()
        return current, await self._principal_of(db, current)

    async def _principal_of(self, db: AsyncSession, current: Current) -> Principal:
        principal = await self.deps.principals.get(db, current.person_id)
        if principal is None:  # disabled or gone since signing in
            raise signed_out()
        return principal

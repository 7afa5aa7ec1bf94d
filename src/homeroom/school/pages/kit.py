"""What every school page handler shares: rendering in the right language, errors as pages,
the signed-in person, URLs that keep the chosen language (docs/school.md#pages).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from homeroom.core.blocks import address_block
from homeroom.errors import HomeroomError
from homeroom.school.auth.passwords import hash_password
from homeroom.school.auth.sessions import COOKIE, Current, Sessions
from homeroom.school.data.access import Principal
from homeroom.school.deps import SchoolDeps
from homeroom.school.pages.forms import CSRF_FIELD, Form, FormGuard, bad_csrf
from homeroom.web import i18n
from homeroom.web.http import Cookies, lang_of, safe_next
from homeroom.web.pages import render_page, with_query

NO_STORE: Final = {"cache-control": "no-store"}
Handler = Callable[[Request], Awaitable[Response]]


class PageKit:
    def __init__(self, deps: SchoolDeps) -> None:
        self.deps = deps
        self.cookies = Cookies(deps.secure_cookies)
        self.guard = FormGuard(deps.sessions.derive(b"homeroom.forms"), deps.secure_cookies)
        self.hasher = deps.passwords.hash if deps.passwords is not None else hash_password

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.deps.clock(), dt.UTC)

    @staticmethod
    def block(request: Request) -> str:
        return address_block(request.client.host if request.client else None)

    @staticmethod
    def url(request: Request, path: str, **params: object) -> str:
        """`path` on this site, keeping a language chosen with ?lang=."""
        chosen = request.query_params.get("lang")
        if i18n.known(chosen):
            params = {"lang": chosen, **params}
        return with_query(safe_next(path), **params) if params else safe_next(path)

    def redirect(self, request: Request, path: str, **params: object) -> RedirectResponse:
        return RedirectResponse(self.url(request, path, **params), 303, headers=NO_STORE)

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        context: dict[str, Any] = {
            "account": None,
            "notice": None,
            "problem": None,
            "page_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **ctx,
        }
        html = render_page(template, lang_of(request), **context)
        return HTMLResponse(html, status, headers={**NO_STORE, **(headers or {})})

    def error(self, request: Request, exc: HomeroomError, back_url: str = "/home") -> HTMLResponse:
        """A refusal as a page in the person's language, with its status and Retry-After."""
        lang = lang_of(request)
        headers = {} if exc.retry_after is None else {"retry-after": str(exc.retry_after)}
        html = render_page(
            "error.html",
            lang,
            status=exc.status,
            reason=exc.reason,
            message=exc.message(lang),
            retry_after=exc.retry_after,
            back_url=self.url(request, back_url),
            page_url=self.url(request, back_url),  # a POST's address cannot be reloaded
        )
        return HTMLResponse(html, exc.status, headers={**NO_STORE, **headers})

    def pages(self, handler: Handler) -> Handler:
        """`handler` with every HomeroomError shown as a page (never JSON, never a 500)."""

        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except HomeroomError as exc:
                return self.error(request, exc)

        return wrapped

    async def current(self, request: Request, db: AsyncSession) -> Current | None:
        return await self.deps.sessions.check(db, request.cookies.get(COOKIE))

    async def principal(
        self, request: Request, db: AsyncSession
    ) -> tuple[Current, Principal] | None:
        """The signed-in person's session and Principal, or None (signed out, or disabled)."""
        current = await self.current(request, db)
        if current is None:
            return None
        principal = await self.deps.principals.get(db, current.person_id)
        return None if principal is None else (current, principal)

    async def signed(
        self, request: Request, db: AsyncSession, form: Form | None = None
    ) -> tuple[Current, Principal] | None:
        """The signed-in person; with a form, its session token must be good (else 403)."""
        signed = await self.principal(request, db)
        token = form.get(CSRF_FIELD, 300) if form is not None else None
        if signed is not None and form is not None and not Sessions.csrf_ok(signed[0], token):
            raise bad_csrf()
        return signed

    def to_signin(self, request: Request) -> RedirectResponse:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.redirect(request, "/signin", next=here)

    def account(self, request: Request, name: str, current: Current) -> dict[str, str]:
        """What the frame shows a signed-in person: their name and a sign-out form."""
        return {"name": name, "csrf": current.csrf, "signout_url": self.url(request, "/signout")}

    def session_cookie(self, response: Response, cookie: str, max_age: int) -> None:
        response.raw_headers.append(self.cookies.header(COOKIE, cookie, max_age))

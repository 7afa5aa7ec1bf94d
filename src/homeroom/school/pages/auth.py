"""The pages that let people in: sign-in, sign-out, sign-up, one-time codes (docs/school.md#pages).

Forms before signing in carry the signed double-submit token of `forms.FormGuard`; a
refusal is shown in the form itself, with the same words for an unknown login and a wrong
password, and with the delay before trying again for 429 and 503.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from homeroom.errors import HomeroomError, NotFound, TooManyRequests
from homeroom.school.auth.sessions import COOKIE, LONG, SHARED_DEVICE, STAFF, Sessions
from homeroom.school.auth.throttle import Kind
from homeroom.school.data.models import Person, Role
from homeroom.school.pages.dashboard import invitation_state
from homeroom.school.pages.forms import CSRF_FIELD, Form, bad_csrf, read_form
from homeroom.school.pages.kit import PageKit
from homeroom.school.people import enrol
from homeroom.web import i18n
from homeroom.web.http import lang_of, safe_next
from homeroom.web.pages import with_query

LOGIN_MAX: Final = 200
PASSWORD_MAX: Final = 1024
NOTICES: Final = {"out": i18n.N_("school_signed_out"), "code": i18n.N_("school_code_done")}


def _retry(exc: HomeroomError) -> dict[str, str]:
    return {} if exc.retry_after is None else {"retry-after": str(exc.retry_after)}


def _throttled(retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        "signin_throttled",
        "Trop d'essais : attendez un peu avant de réessayer.",
        "Too many attempts: wait a little before trying again.",
        retry_after=max(1, retry_after),
    )


class AuthPages(PageKit):
    def routes(self) -> list[Route]:
        return [
            Route("/signin", self.pages(self.signin_page), methods=["GET"]),
            Route("/signin", self.pages(self.signin), methods=["POST"]),
            Route("/signout", self.pages(self.signout), methods=["POST"]),
            Route("/signup", self.pages(self.signup_page), methods=["GET"]),
            Route("/signup", self.pages(self.signup), methods=["POST"]),
            Route("/signup/claim", self.pages(self.claim), methods=["POST"]),
            Route("/welcome", self.pages(self.welcome), methods=["GET"]),
            Route("/signin/code", self.pages(self.code_page), methods=["GET"]),
            Route("/signin/code", self.pages(self.use_code), methods=["POST"]),
        ]

    def _form_page(
        self, request: Request, template: str, status: int = 200, **ctx: Any
    ) -> Response:
        """A pre-sign-in form, with a fresh token and its cookie."""
        token, cookie = self.guard.issue(request)
        headers = ctx.pop("headers", None)
        response = self.render(request, template, status, headers, csrf=token, **ctx)
        response.raw_headers.append(cookie)
        return response

    async def _posted(self, request: Request) -> Form | None:
        """The form if its pre-sign-in token is good, else None."""
        form = await read_form(request)
        return form if self.guard.ok(request, form.get(CSRF_FIELD, 300)) else None

    # ------------------------------------------------------------ sign-in and out

    def _signin_form(self, request: Request, status: int = 200, **ctx: Any) -> Response:
        values: dict[str, Any] = {
            "login": "",
            "shared": False,
            "next_url": safe_next(request.query_params.get("next") or "/home"),
            "action": self.url(request, "/signin"),
            "retry_after": None,
            **ctx,
        }
        return self._form_page(request, "signin.html", status, **values)

    async def signin_page(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            if await self.principal(request, db) is not None:  # not a disabled account's
                return self.redirect(request, "/home")
        notice = NOTICES.get(request.query_params.get("done", ""))
        lang = lang_of(request)
        return self._signin_form(request, notice=i18n.translate(lang, notice) if notice else None)

    async def signin(self, request: Request) -> Response:
        lang = lang_of(request)
        form = await self._posted(request)
        if form is None:
            return self._signin_form(
                request, 403, problem=i18n.translate(lang, "school_form_expired")
            )
        login = form.get("login", LOGIN_MAX).strip()
        password = form.get("password", PASSWORD_MAX)
        shared = form.flag("shared_device")
        next_url = safe_next(form.get("next") or "/home")
        next_url = "/home" if next_url == "/" else next_url
        kept: dict[str, Any] = {"login": login, "shared": shared, "next_url": next_url}
        if not login or not password:
            problem = i18n.translate(lang, "school_signin_missing")
            return self._signin_form(request, 400, problem=problem, **kept)
        try:
            async with self.deps.sessionmaker() as db:
                done = await self.deps.signin.sign_in(
                    db, login, password, self.block(request), shared_device=shared
                )
        except HomeroomError as exc:  # bad_credentials 403, throttled 429, busy 503
            return self._signin_form(
                request,
                exc.status,
                problem=exc.message(lang),
                retry_after=exc.retry_after,
                headers=_retry(exc),
                **kept,
            )
        response = self.redirect(request, next_url)
        self.session_cookie(response, done.cookie, done.lifetime.absolute_s)
        return response

    async def signout(self, request: Request) -> Response:
        form = await read_form(request)
        async with self.deps.sessionmaker() as db:
            current = await self.current(request, db)
            if current is not None:
                if not Sessions.csrf_ok(current, form.get(CSRF_FIELD, 300)):
                    raise bad_csrf()
                await self.deps.sessions.revoke(db, request.cookies.get(COOKIE))
                await db.commit()
        response = self.redirect(request, "/signin", done="out")
        self.session_cookie(response, "", 0)
        return response

    # ------------------------------------------------------------ sign-up

    def _signup_form(self, request: Request, status: int = 200, **ctx: Any) -> Response:
        values: dict[str, Any] = {
            "mode": "code",
            "invite": "",
            "code": "",
            "display_name": "",
            "email": "",
            "shared": False,
            "action": self.url(request, "/signup"),
            "claim_action": self.url(request, "/signup/claim"),
            **ctx,
        }
        if values["invite"]:  # the language switch keeps the invitation
            values["page_url"] = with_query("/signup", invite=values["invite"])
        return self._form_page(request, "signup.html", status, **values)

    async def signup_page(self, request: Request) -> Response:
        invite = request.query_params.get("invite", "")[:200]
        if not invite:
            return self._signup_form(request)
        lang = lang_of(request)
        async with self.deps.sessionmaker() as db:
            state = await invitation_state(db, invite, self.now())
            signed = await self.principal(request, db)
        if state.problem is not None or state.role is None:
            reason = state.problem or "unknown_invitation"
            message = enrol.MESSAGES[reason][1 if lang == "en" else 0]
            status = 404 if reason == "unknown_invitation" else 410
            return self._signup_form(request, status, mode="invalid", problem=message)
        if signed is not None and state.role is Role.PARENT:
            current, _ = signed
            return self._signup_form(
                request, mode="claim", invite=invite, session_csrf=current.csrf
            )
        return self._signup_form(request, mode=state.role.value, invite=invite)

    async def signup(self, request: Request) -> Response:
        lang = lang_of(request)
        form = await self._posted(request)
        if form is None:
            problem = i18n.translate(lang, "school_form_expired")
            return self._signup_form(request, 403, problem=problem)
        invite = form.get("invite", 200)
        kept: dict[str, Any] = {
            "mode": "pupil" if invite else "code",
            "invite": invite,
            "code": form.get("code", 40),
            "display_name": form.get("display_name", 200),
            "email": form.get("email", 254),
            "shared": form.flag("shared_device"),
        }
        try:
            async with self.deps.sessionmaker() as db:
                role = Role.PUPIL
                if invite:  # an unknown one is refused by enrol, as a pupil invitation
                    role = (await invitation_state(db, invite, self.now())).role or Role.PUPIL
                    kept["mode"] = role.value
                done = await self._sign_up(request, db, form, role, kept)
                life = LONG if done.role is not Role.TEACHER else STAFF
                life = SHARED_DEVICE if kept["shared"] else life
                cookie = await self.deps.sessions.create(db, done.person_id, life)
                await db.commit()
        except HomeroomError as exc:
            return self._signup_form(
                request, exc.status, problem=exc.message(lang), headers=_retry(exc), **kept
            )
        response = self.redirect(request, "/welcome")
        self.session_cookie(response, cookie, life.absolute_s)
        return response

    async def _sign_up(
        self, request: Request, db: AsyncSession, form: Form, role: Role, kept: dict[str, Any]
    ) -> enrol.SignedUp:
        name = form.get("display_name", 200)
        password = form.get("password", PASSWORD_MAX)
        now = self.now()
        invite = kept["invite"]
        if role is Role.PARENT:
            return await enrol.sign_up_parent(
                db, invite, name, password, self.hasher, now, email=kept["email"] or None
            )
        if role is Role.TEACHER:
            return await enrol.sign_up_teacher(
                db, invite, name, password, self.hasher, now, email=kept["email"] or None
            )
        if invite:
            return await enrol.sign_up_pupil(db, invite, name, password, self.hasher, now)
        # A class code is guessable: count failures per (code, address block), which puts
        # every guess from a block under the block's limit of sign-in (docs/school.md).
        key = f"class-code:{enrol.normalise_code(kept['code'])}"
        verdict = await self.deps.signin.throttle.check(key, self.block(request))
        if verdict.kind is not Kind.OK:
            raise _throttled(verdict.retry_after)
        try:
            return await enrol.sign_up_pupil(db, kept["code"], name, password, self.hasher, now)
        except NotFound:
            await self.deps.signin.throttle.failed(key, self.block(request))
            raise

    async def claim(self, request: Request) -> Response:
        form = await read_form(request)
        async with self.deps.sessionmaker() as db:
            signed = await self.signed(request, db, form)
            if signed is None:
                return self.to_signin(request)
            principal = signed[1]
            await enrol.claim_child(db, principal, form.get("invite", 200), self.now())
            await db.commit()
        self.deps.principals.forget(principal.person_id)  # one child more
        return self.redirect(request, "/home", done="claimed")

    async def welcome(self, request: Request) -> Response:
        async with self.deps.sessionmaker() as db:
            current = await self.current(request, db)
            if current is None:
                return self.to_signin(request)
            row = (
                await db.execute(
                    select(Person.display_name, Person.login).where(Person.id == current.person_id)
                )
            ).one()
        return self.render(
            request,
            "signed_up.html",
            login=row.login,
            account=self.account(request, row.display_name, current),
            home_url=self.url(request, "/home"),
        )

    # ------------------------------------------------------------ one-time codes

    def _code_form(self, request: Request, status: int = 200, **ctx: Any) -> Response:
        values: dict[str, Any] = {"login": "", "action": self.url(request, "/signin/code"), **ctx}
        return self._form_page(request, "code.html", status, **values)

    async def code_page(self, request: Request) -> Response:
        return self._code_form(request)

    async def use_code(self, request: Request) -> Response:
        lang = lang_of(request)
        form = await self._posted(request)
        if form is None:
            return self._code_form(
                request, 403, problem=i18n.translate(lang, "school_form_expired")
            )
        login = form.get("login", LOGIN_MAX).strip()
        throttle, block = self.deps.signin.throttle, self.block(request)
        try:
            verdict = await throttle.check(login, block)
            if verdict.kind is not Kind.OK:
                raise _throttled(verdict.retry_after)
            async with self.deps.sessionmaker() as db:
                try:
                    await enrol.use_code(
                        db,
                        self.deps.sessions,
                        login,
                        form.get("code", 40),
                        form.get("password", PASSWORD_MAX),
                        self.hasher,
                        self.now(),
                    )
                except HomeroomError as exc:
                    if exc.reason == "bad_code":
                        await throttle.failed(login, block)
                    raise
                await db.commit()
        except HomeroomError as exc:
            return self._code_form(
                request, exc.status, problem=exc.message(lang), login=login, headers=_retry(exc)
            )
        await throttle.succeeded(login, block)
        return self.redirect(request, "/signin", done="code")

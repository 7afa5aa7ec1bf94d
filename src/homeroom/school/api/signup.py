"""Getting in over JSON: sign-up with a class code or an invitation, one-time codes, claiming a child.

The rules are school/people/enrol.py's (docs/school.md#getting-people-in); this module reads the
bodies, hashes with the application's `Passwords` and commits once. Sign-up opens no session:
the new person signs in with the login the answer shows them once. Using a one-time code is
throttled like a sign-in (per account and address block), since a code is a password for once.
Design: docs/api.md#school-api.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeroom.core.blocks import address_block
from homeroom.errors import Forbidden, TooManyRequests, Unavailable
from homeroom.school.api.base import BODY_LIMIT, NO_STORE, Endpoints, bad_field, required_text, text
from homeroom.school.auth.throttle import Kind
from homeroom.school.people import enrol
from homeroom.school.people.enrol import Hasher, SignedUp
from homeroom.web.http import read_body


class InvitedSignUp(Protocol):
    def __call__(
        self,
        db: AsyncSession,
        token: str,
        display_name: str,
        password: str,
        hasher: Hasher,
        now: dt.datetime,
        *,
        email: str | None = None,
    ) -> Awaitable[SignedUp]: ...


MAX_PASSWORD = 1024
MAX_EMAIL = 254


def _signed_up(done: SignedUp) -> Response:
    return JSONResponse(
        {
            "person_id": done.person_id,
            "login": done.login,
            "role": done.role.value,
            "school_id": done.school_id,
        },
        201,
        headers=NO_STORE,
    )


def _account(body: dict[str, Any]) -> tuple[str, str]:
    return (
        required_text(body, "display_name", limit=4 * enrol.MAX_DISPLAY_NAME),
        required_text(body, "password", limit=MAX_PASSWORD),
    )


class SignUpEndpoints(Endpoints):
    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/signup/pupil", self.pupil, methods=["POST"]),
            Route("/api/v1/signup/parent", self.parent, methods=["POST"]),
            Route("/api/v1/signup/teacher", self.teacher, methods=["POST"]),
            Route("/api/v1/password/code", self.use_code, methods=["POST"]),
            Route("/api/v1/me/children", self.claim_child, methods=["POST"]),
        ]

    def _hasher(self) -> Hasher:
        if self.deps.passwords is None:
            raise Unavailable(
                "signup_unavailable",
                "L'inscription n'est pas ouverte ici.",
                "Sign-up is not available here.",
                retry_after=300,
            )
        return self.deps.passwords.hash

    async def pupil(self, request: Request) -> Response:
        body = await read_body(request, BODY_LIMIT)
        code = required_text(body, "code", limit=200)
        name, password = _account(body)
        hasher = self._hasher()
        async with self.deps.sessionmaker() as db:
            done = await enrol.sign_up_pupil(db, code, name, password, hasher, self.now())
            await db.commit()
        return _signed_up(done)

    async def parent(self, request: Request) -> Response:
        return await self._invited(request, enrol.sign_up_parent)

    async def teacher(self, request: Request) -> Response:
        return await self._invited(request, enrol.sign_up_teacher)

    async def _invited(self, request: Request, sign_up: InvitedSignUp) -> Response:
        """Sign-up with an invitation token (parents and teachers)."""
        body = await read_body(request, BODY_LIMIT)
        token = required_text(body, "token", limit=200)
        name, password = _account(body)
        email = text(body, "email", limit=MAX_EMAIL, required=False)
        hasher = self._hasher()
        async with self.deps.sessionmaker() as db:
            done = await sign_up(db, token, name, password, hasher, self.now(), email=email)
            await db.commit()
        return _signed_up(done)

    async def use_code(self, request: Request) -> Response:
        """A new password with a printed one-time code; the person's sessions are revoked."""
        body = await read_body(request, BODY_LIMIT)
        login = required_text(body, "login", limit=200)
        code = required_text(body, "code", limit=64)
        password = required_text(body, "password", limit=MAX_PASSWORD)
        hasher = self._hasher()
        throttle = self.deps.signin.throttle
        block = address_block(request.client.host if request.client else None)
        verdict = await throttle.check(login, block)
        if verdict.kind is not Kind.OK:
            raise TooManyRequests(
                "code_throttled",
                "Trop d'essais : attendez un peu avant de réessayer.",
                "Too many attempts: wait a little before trying again.",
                retry_after=max(1, verdict.retry_after),
            )
        async with self.deps.sessionmaker() as db:
            try:
                await enrol.use_code(
                    db, self.deps.sessions, login, code, password, hasher, self.now()
                )
            except Forbidden:
                await throttle.failed(login, block)
                raise
            await db.commit()
        await throttle.succeeded(login, block)
        return Response(status_code=204, headers=NO_STORE)

    async def claim_child(self, request: Request) -> Response:
        """A signed-in parent follows another child's parent invitation."""
        body = await read_body(request, BODY_LIMIT)
        async with self.deps.sessionmaker() as db:
            principal = await self.acting(request, db)
            token = body.get("token")
            if not isinstance(token, str) or not 1 <= len(token) <= 200:
                raise bad_field("token")
            child_id = await enrol.claim_child(db, principal, token, self.now())
            await db.commit()
        self.deps.principals.forget(principal.person_id)  # one child more
        return JSONResponse({"child_id": child_id}, headers=NO_STORE)

"""Composition of the embedded default: the gate, its protection and the demo services it guards.

`create_app(settings)` is the ASGI application `homeroom run` serves (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

import homeroom
from homeroom.backends.factory import open_gate_store
from homeroom.config import Settings
from homeroom.drain import Drain, DrainCollector
from homeroom.errors import HomeroomError, NotFound
from homeroom.gate import metrics, openapi
from homeroom.gate.abuse import Abuse
from homeroom.gate.admin import AdminEndpoints
from homeroom.gate.assets import vendor_files
from homeroom.gate.check import Answer, CheckFastPath, PassCheck
from homeroom.gate.fastpath import BodyLimit, StateFastPath
from homeroom.gate.http import GateEndpoints
from homeroom.gate.protect import Protect
from homeroom.gate.service import Gatekeeper
from homeroom.gate.ticketpath import TicketFastPath
from homeroom.headers import BrowserPolicy, SecurityHeaders
from homeroom.school.api import openapi as school_openapi
from homeroom.school.auth.passwords import OWASP_MINIMUM, PasswordParameters
from homeroom.school.component import School
from homeroom.web.away import AWAY_FAILURES, AwayCollector, AwayLog, store_away
from homeroom.web.gzipped import GzippedFiles, gzipped
from homeroom.web.http import error_response, lang_of
from homeroom.web.pages import render_page, use_static_path

log = logging.getLogger("homeroom")
REPO_ROOT = Path(homeroom.__file__).resolve().parents[2]
TOKEN_FILE = Path(".homeroom") / "operator-token"


Door = Callable[[Scope], Answer | None]


class Homeroom:
    """The ASGI application, with handles on its parts for tests and operators' tools."""

    def __init__(
        self,
        asgi: ASGIApp,
        keeper: Gatekeeper,
        router: Starlette,
        school: School,
        drain: Drain,
        door: Door | None = None,
    ) -> None:
        self.asgi = asgi
        # answers the server may give as soon as a head is read, without ASGI (httpserver.py)
        self.door = door
        self.keeper = keeper  # the gates' runtimes
        self.router = router  # the routes under the protecting middleware
        self.school = school  # the school's database, sessions and sign-in
        self.drain = drain  # ready, or draining since SIGTERM: /readyz (httpserver.py)

    @property
    def registry(self) -> CollectorRegistry:
        """What /metrics renders; the server adds its own collectors (httpserver.py)."""
        registry: CollectorRegistry = self.router.state.registry
        return registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)


def operator_token(settings: Settings) -> str:
    """The configured token, or one made for this run and written where `homeroom gate` reads it."""
    if settings.operator_token is not None:
        return settings.operator_token.get_secret_value()
    token = secrets.token_urlsafe(24)
    with contextlib.suppress(OSError):
        TOKEN_FILE.parent.mkdir(exist_ok=True)
        TOKEN_FILE.write_text(token)
        os.chmod(TOKEN_FILE, 0o600)
    return token


def static_routes(path: str, vendor_file: Callable[[Request], Any]) -> list[BaseRoute]:
    """homeroom's own files under /static and, when HOMEROOM_STATIC_PATH names another path
    (in front of a workspace whose /static/ is its own), there too; pages link to the latter."""
    routes: list[BaseRoute] = []
    for prefix in dict.fromkeys(["/static", path]):
        routes.append(Route(f"{prefix}/vendor/{{name}}", vendor_file))
        routes.append(Mount(prefix, GzippedFiles(packages=[("homeroom", "static")])))
    return routes


def create_app(
    settings: Settings,
    *,
    store_url: str | None = None,
    clock: Callable[[], float] = time.time,
    password_parameters: PasswordParameters = OWASP_MINIMUM,
) -> Homeroom:
    keys = settings.keyring()
    use_static_path(settings.static_path)
    store = open_gate_store(store_url or settings.backend_url)
    abuse = Abuse(
        settings.limits_url(),
        settings.ticket_limit,
        settings.pow_above,
        keys.keys[keys.current],
        settings.pow_max_number,
    )
    keeper = Gatekeeper(settings, store, keys, abuse, clock)
    school = School.from_settings(
        settings, clock=clock, password_parameters=password_parameters, gate=keeper
    )
    keeper.identify_with(school.who)  # the gate learns who is coming from the school's sessions
    token = operator_token(settings)
    registry = metrics.registry_for(keeper.gates)
    drain = Drain.of(settings.drain_notice_s, settings.drain_window_s, settings.drain_deadline_s)
    registry.register(DrainCollector(drain, gateway=False))
    spec = openapi.document(homeroom.__version__)
    spec["paths"].update(school_openapi.paths())
    components = spec["components"]
    components["schemas"] = {**components["schemas"], **school_openapi.schemas()}
    components["securitySchemes"] = {
        **components["securitySchemes"],
        **school_openapi.security_schemes(),
    }
    vendor = vendor_files(REPO_ROOT)
    away_log = AwayLog()  # its counts go to /metrics: homeroom_http_store_away_total
    registry.register(AwayCollector(away_log))
    endpoints = GateEndpoints(keeper)
    check = PassCheck(keeper)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await school.start()
        await keeper.start()
        try:
            yield
        finally:
            await keeper.stop()
            await school.stop()

    async def home(request: Request) -> Response:
        return HTMLResponse(render_page("demo.html", lang_of(request), area="home", path="/"))

    async def demo_area(request: Request) -> Response:
        area = request.url.path.strip("/").split("/")[0]
        return HTMLResponse(
            render_page("demo.html", lang_of(request), area=area, path=request.url.path)
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {"ok": True, "degraded": [g for g, rt in keeper.gates.items() if rt.degraded]}
        )

    async def readyz(request: Request) -> Response:
        if drain.draining:  # the balancer sends no more; what is in flight still finishes
            return PlainTextResponse("draining\n", 503, headers={"cache-control": "no-store"})
        return PlainTextResponse("ready\n", headers={"cache-control": "no-store"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(registry), media_type="text/plain; version=0.0.4")

    async def openapi_endpoint(request: Request) -> Response:
        return JSONResponse(spec)

    async def vendor_file(request: Request) -> Response:
        path = vendor.get(request.path_params["name"])
        if path is None or not path.exists():
            raise NotFound("no_asset", "Fichier introuvable.", "No such file.")
        cache = {"cache-control": "public, max-age=86400"}
        answer = gzipped(path, path.stat(), request.headers, cache)
        if answer is not None:
            return answer
        return FileResponse(path, headers={**cache, "vary": "accept-encoding"})

    async def homeroom_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HomeroomError)
        return error_response(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        word = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        err = HomeroomError(
            word,
            "Page introuvable." if exc.status_code == 404 else "Requête refusée.",
            str(exc.detail),
        )
        response = error_response(request, err)
        response.status_code = exc.status_code
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        away = store_away(exc)
        if away is not None:  # a store did not answer: 503 and Retry-After, never 500
            away_log.note(away, request.url.path, exc)
            return error_response(request, away)
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        err = HomeroomError(
            "internal", "Erreur interne ; réessayez.", "Internal error; please retry."
        )
        return error_response(request, err)

    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_endpoint),
        Route("/openapi.json", openapi_endpoint),
        *static_routes(settings.static_path, vendor_file),
        *endpoints.routes(),
        *check.routes(),
        *AdminEndpoints(keeper, token).routes(),
        *school.routes(),
        Route("/class/{rest:path}", demo_area),
        Route("/class", demo_area),
        Route("/workspace/{rest:path}", demo_area),
        Route("/workspace", demo_area),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HomeroomError: homeroom_error,
            HTTPException: http_error,
            # the failures of a store away, answered here (the catch-all below re-raises)
            **dict.fromkeys(AWAY_FAILURES, server_error),
            Exception: server_error,
        },
    )
    app.state.keeper = keeper
    app.state.operator_token = token
    app.state.registry = registry
    protected = Protect(app, keeper, rules=settings.protected_routes())
    policy = BrowserPolicy(settings)  # every answer, the two raw layers' included
    guarded: ASGIApp = SecurityHeaders(protected, policy)
    fast = StateFastPath(
        guarded,
        lambda gate: keeper.gates[gate].state if gate in keeper.gates else None,
        policy.resource,
    )
    limited: ASGIApp = BodyLimit(
        fast, settings.max_body_bytes, school.large_bodies(), policy.resource
    )
    door: Door | None = None
    if settings.gate_fast_path:
        checks = CheckFastPath(
            limited,
            check,
            policy.resource,
            lambda path, method: protected.gate_for(path, method) is not None,
        )
        door = checks.at_door  # the proxies' pass check: answered as its head is read
        # Tickets and redeems before every other layer, answered as the router would: the two
        # busiest POSTs cross no layer that would let them pass (the checks, the state, the body
        # limit, which TicketFastPath keeps for its own paths).
        limited = TicketFastPath(
            checks,
            endpoints,
            policy,
            app.exception_handlers,
            lambda path, method: protected.gate_for(path, method) is not None,
        )
    return Homeroom(limited, keeper, app, school, drain, door)

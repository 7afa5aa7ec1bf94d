"""A stand-in school workspace (ENT) that refuses when full, for the proxy tests (docs/operations.md#in-front-of-a-workspace).

It behaves as the regional workspaces did on the first morning: a session per browser cookie
(`ws_sid`), at most `capacity` signed-in people at once, and beyond that an HTTP 503 page
"quota de connexions atteint"; a session unused for `idle_s` seconds is dropped (so is its
place). `/health` and `/static/...` are open to all and hold no place. Every admission (who,
when, which path) and every refusal is recorded; `GET /_standin/audit` gives the record, for the
test to check order and the peak held. Who a person is: the `user` query parameter of the first
request of their session (the tests put it in the URL they ask for), else `anonymous`.

Run it as a process: `python -m tests.workspace_standin --port P --capacity N --idle-s T`.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

QUOTA = "quota de connexions atteint"
SESSION_COOKIE = "ws_sid"
STYLE = "body { font-family: sans-serif; }\n"
# as a careful workspace would send it (the browser tests check every page has one)
POLICY = {"content-security-policy": "default-src 'self'; frame-ancestors 'none'"}


@dataclass
class Session:
    user: str
    last_seen: float


@dataclass
class Ledger:
    """The workspace's sessions and what happened to them."""

    capacity: int
    idle_s: float
    sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)  # oldest use first
    admissions: list[dict[str, object]] = field(default_factory=list)
    refused: list[dict[str, object]] = field(default_factory=list)
    dropped: int = 0
    peak: int = 0
    requests: int = 0

    def sweep(self, now: float) -> None:
        """Drop the sessions unused for longer than idle_s: their places come back."""
        while self.sessions:
            sid, session = next(iter(self.sessions.items()))
            if now - session.last_seen <= self.idle_s:
                return
            del self.sessions[sid]
            self.dropped += 1

    def use(self, sid: str | None, user: str, path: str, now: float) -> tuple[str | None, bool]:
        """(the session id, whether it is new), or (None, False) when the quota is reached."""
        self.requests += 1
        self.sweep(now)
        if sid is not None and sid in self.sessions:
            self.sessions[sid].last_seen = now
            self.sessions.move_to_end(sid)
            return sid, False
        if len(self.sessions) >= self.capacity:
            self.refused.append({"user": user, "at": now, "path": path})
            return None, False
        sid = secrets.token_urlsafe(16)
        self.sessions[sid] = Session(user, now)
        self.peak = max(self.peak, len(self.sessions))
        self.admissions.append({"user": user, "at": now, "path": path, "held": len(self.sessions)})
        return sid, True

    def audit(self, now: float) -> dict[str, object]:
        self.sweep(now)
        return {
            "capacity": self.capacity,
            "idle_s": self.idle_s,
            "held": len(self.sessions),
            "peak": self.peak,
            "dropped": self.dropped,
            "requests": self.requests,
            "admissions": self.admissions,
            "refused": self.refused,
            "cpu_s": round(time.process_time(), 1),  # this process's, for the figures
        }


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/static/ent.css"></head>'
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def create_app(capacity: int, idle_s: float) -> Starlette:
    ledger = Ledger(capacity, idle_s)

    async def health(request: Request) -> Response:
        ledger.sweep(time.time())
        return JSONResponse({"status": "ok", "held": len(ledger.sessions), "capacity": capacity})

    async def static(request: Request) -> Response:
        return PlainTextResponse(STYLE, media_type="text/css")

    async def audit(request: Request) -> Response:
        return JSONResponse(ledger.audit(time.time()))

    async def workspace(request: Request) -> Response:
        path = request.url.path
        user = request.query_params.get("user", "anonymous")
        sid, new = ledger.use(request.cookies.get(SESSION_COOKIE), user, path, time.time())
        if sid is None:
            html = page("Espace de travail", f"<p>{QUOTA}. Réessayez plus tard.</p>")
            return HTMLResponse(html, 503, headers={"cache-control": "no-store", **POLICY})
        html = page(f"Espace de travail — {path}", f'<p id="ws-path">{escape(path)}</p>')
        response = HTMLResponse(html, headers={"cache-control": "no-store", **POLICY})
        if new:
            response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax")
        return response

    routes = [
        Route("/health", health),
        Route("/static/{name:path}", static),
        Route("/_standin/audit", audit),
        Route("/{rest:path}", workspace, methods=["GET", "POST", "HEAD"]),
    ]
    return Starlette(routes=routes)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--capacity", type=int, required=True)
    parser.add_argument("--idle-s", type=float, required=True)
    args = parser.parse_args()
    app = create_app(args.capacity, args.idle_s)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()

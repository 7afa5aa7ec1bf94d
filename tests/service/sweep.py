"""Every route of the application, asked once each while a store is away: what each answered.

`sweep` builds a concrete request for every Starlette route (path parameters filled with the
given ids, every method the route takes), sends it as a JSON client and as a browser, and
returns what came back, for the store-away tests to check that nothing answered 500 and that
every 503 carries Retry-After and a documented word (docs/operations.md#when-a-store-is-away).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.routing import Route

# Routes that end the session or erase something are asked last: what they do must not take
# the session away from the routes asked after them.
LAST = ("DELETE",)
PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    accept: str
    status: int
    word: str | None
    retry_after: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.accept}) → {self.status} {self.word}"


def concrete(path: str, ids: dict[str, str]) -> str:
    return PARAM.sub(lambda m: ids.get(m[1], "1"), path)


def requests_of(routes: list[Any], ids: dict[str, str]) -> list[tuple[str, str, str]]:
    """(method, path, route pattern) for every route and method, destructive ones last."""
    out: list[tuple[str, str, str]] = []
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, concrete(route.path, ids), route.path))
    out.sort(key=lambda r: r[0] in LAST)
    return out


def word_of(response: httpx.Response) -> str | None:
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            body = response.json()
        except ValueError:
            return None
        return body.get("error") if isinstance(body, dict) else None
    found = re.search(rb'data-(?:error|status)="([a-z_]+)"', response.content)
    return found[1].decode() if found else None


async def sweep(
    client: httpx.AsyncClient, routes: list[Any], ids: dict[str, str]
) -> tuple[list[Answer], set[str]]:
    """Ask every route as JSON and as HTML, each with the client's cookies as they were at the
    start (a leave or a sign-out does not take them from the routes after it); the answers,
    and the route patterns asked."""
    answers: list[Answer] = []
    asked: set[str] = set()
    kept = dict(client.cookies)
    for method, path, pattern in requests_of(routes, ids):
        asked.add(pattern)
        for accept in ("application/json", "text/html"):
            client.cookies.clear()
            for name, value in kept.items():
                client.cookies.set(name, value)
            body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            response = await client.request(
                method, path, headers={"accept": accept, "origin": "http://testserver"}, **body
            )
            answers.append(
                Answer(
                    method,
                    path,
                    accept.split("/")[1],
                    response.status_code,
                    word_of(response),
                    response.headers.get("retry-after"),
                )
            )
    return answers, asked

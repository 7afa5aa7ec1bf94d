"""The school's server-rendered pages: sign-in, sign-up, one-time codes, the dashboards.

`page_routes(deps)` gathers the routes of `auth` (getting in), `home` (the dashboard at
/home and its forms), `people` (invitation links, export, erasure) and `live` (the live class);
they share `kit.PageKit`. Design: docs/school.md#pages.
"""

from __future__ import annotations

from starlette.routing import Route

from homeroom.school.deps import SchoolDeps
from homeroom.school.pages.auth import AuthPages
from homeroom.school.pages.home import HomePages
from homeroom.school.pages.live import ClassPages
from homeroom.school.pages.people import PeoplePages


def page_routes(deps: SchoolDeps) -> list[Route]:
    return [
        *AuthPages(deps).routes(),
        *HomePages(deps).routes(),
        *PeoplePages(deps).routes(),
        *ClassPages(deps).routes(),
    ]

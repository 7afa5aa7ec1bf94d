"""What the school's pages and API need at hand, built once by `School` (school/component.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from homeroom.live.jointoken import JoinTokens
from homeroom.school.auth.passwords import Passwords
from homeroom.school.auth.principals import Principals
from homeroom.school.auth.sessions import Sessions
from homeroom.school.auth.signin import SignIn
from homeroom.school.data.slides import SlideStore
from homeroom.school.links.attendance import Attendance, NoAttendance


@dataclass
class SchoolDeps:
    sessionmaker: async_sessionmaker[AsyncSession]
    signin: SignIn
    sessions: Sessions
    passwords: Passwords | None = None  # hashes new passwords (sign-up, one-time codes)
    secure_cookies: bool = True
    clock: Callable[[], float] = field(default=time.time)
    appointment_lead_s: int = 600
    attendance: Attendance = field(default_factory=NoAttendance)
    principals: Principals = field(default_factory=Principals)  # cached a few seconds
    join_tokens: JoinTokens | None = None  # signs the live classes' join tokens
    live_url: str = ""  # the gateway's public WebSocket URL; empty: this host, live_port
    live_port: int = 8001
    slides: SlideStore = field(default_factory=SlideStore)  # the live classes' PDFs, on disk

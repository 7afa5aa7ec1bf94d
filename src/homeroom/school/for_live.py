"""What the live gateway reads and writes in the school's database, and nothing more.

`homeroom.live` imports this module of the school and no other (an import-linter contract in
pyproject.toml checks it; docs/architecture.md#layers): the engine for the database's URL, the
rows a live class leaves behind (`ChatMessage`, `PollResult`, written by live/records.py, which
checks their `ClassSession` and `Person` exist), and the `LiveRevocation` rows the gateways read
(live/revocations.py). A change to these tables is a change to the gateway's contract.
"""

from __future__ import annotations

from homeroom.school.data.db import engine_for, engine_from_settings
from homeroom.school.data.models import (
    MAX_ID,
    ChatAudience,
    ChatMessage,
    ClassSession,
    LiveRevocation,
    Person,
    PollResult,
)

__all__ = [
    "MAX_ID",
    "ChatAudience",
    "ChatMessage",
    "ClassSession",
    "LiveRevocation",
    "Person",
    "PollResult",
    "engine_for",
    "engine_from_settings",
]

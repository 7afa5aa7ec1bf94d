"""Every error a person or client can meet, and the HTTP status each maps to (docs/api.md#errors).

    HomeroomError
    ├── BadRequest          400  malformed body, ticket or pass
    ├── Forbidden           403  tampered, foreign, wrong browser, bad operator token
    │   └── ProofOfWorkRequired  403 with a challenge
    ├── NotFound            404
    ├── TooLarge            413
    ├── Conflict            409  replayed ticket (already redeemed)
    ├── Gone                410  expired ticket or pass, lapsed claim
    ├── TooEarly            425  not your turn yet (Retry-After)
    ├── TooManyRequests     429  rate limited (Retry-After)
    └── Unavailable         503  closed, not open yet, backend away (Retry-After)

`reason` is a stable word clients can test; `message` is for people, in French and English.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class HomeroomError(Exception):
    reason: str
    message_fr: str
    message_en: str
    retry_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    status: ClassVar[int] = 500

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_fr

    def body(self, lang: str) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.reason, "message": self.message(lang)}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        out.update(self.extra)
        return out

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message_en}"


class BadRequest(HomeroomError):
    status = 400


class Forbidden(HomeroomError):
    status = 403


class ProofOfWorkRequired(Forbidden):
    pass


class NotFound(HomeroomError):
    status = 404


class TooLarge(HomeroomError):
    status = 413


class Conflict(HomeroomError):
    status = 409


class Gone(HomeroomError):
    status = 410


class TooEarly(HomeroomError):
    status = 425


class TooManyRequests(HomeroomError):
    status = 429


class Unavailable(HomeroomError):
    status = 503

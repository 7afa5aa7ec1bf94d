"""What one probe of a workspace's health URL says, as adaptive capacity reads it (docs/gate.md).

Sans-I/O: the gate's probe (gate/probe.py) does the request and times it; this module says what
the answer means. A probe is one deliberate observation of the whole workspace, made once an
interval by the gate's controller process, so it is one step of the AIMD controller on its own
(`adaptive.next_capacity(..., min_samples=1)`): answered within the gate's `target_p95_ms` with
no error, capacity grows; slow, or any error, it is cut.
"""

from __future__ import annotations

from enum import StrEnum

from homeroom.core.adaptive import Health

BODY_READ = 65_536  # the quota marker is looked for in the answer's first bytes only


class Outcome(StrEnum):
    """How a probe ended; the label of `homeroom_gate_probes_total`."""

    OK = "ok"  # 1xx-3xx, no quota marker: latency alone decides
    TIMEOUT = "timeout"  # no whole answer within the probe's timeout
    UNREACHABLE = "unreachable"  # connection refused or reset, or not HTTP
    SERVER_ERROR = "server_error"  # 5xx, or 429 (too many requests)
    QUOTA = "quota"  # the answer says the workspace is full ("quota de connexions atteint")
    UNUSABLE = "unusable"  # another 4xx: the URL or its access is wrong; says nothing of load

    @property
    def error(self) -> bool:
        return self not in (Outcome.OK, Outcome.UNUSABLE)


def classify(status: int, body: bytes, marker: str) -> Outcome:
    """The outcome of an answer: its status and the start of its body."""
    if status >= 500 or status == 429:
        return Outcome.SERVER_ERROR
    if marker and marker.casefold() in body[:BODY_READ].decode("utf-8", "replace").casefold():
        return Outcome.QUOTA
    if status >= 400:
        return Outcome.UNUSABLE
    return Outcome.OK


def health_of(outcome: Outcome, seconds: float) -> Health | None:
    """The probe as one health observation; None when it says nothing of the workspace's load
    (a wrong URL: capacity must not fall because an operator mistyped it)."""
    if outcome is Outcome.UNUSABLE:
        return None
    return Health(max(0.0, seconds) * 1000, 1.0 if outcome.error else 0.0, 1)

"""Unexpected errors of the gateway (bugs), logged sparsely so that one cannot flood the log.

The gateway answers every input a client can send with a documented error or close code
(docs/live.md#what-a-client-may-send). An exception that still comes out of handling one is a
bug: the connection it met is closed with 1011, the class goes on, and the bug is logged here.
A bug that every message meets would otherwise print a traceback for each of them: the first
one is logged with its traceback, later ones as one line at the 10th, the 100th and then every
1,000th, with the count so far.
"""

from __future__ import annotations

import logging

CLOSE_INTERNAL = 1011  # RFC 6455 "internal error": reconnect after a pause (docs/live.md)


class Faults:
    """The unexpected errors of one process so far."""

    __slots__ = ("count", "log")

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.count = 0

    def report(self, what: str) -> None:
        """Log the exception being handled (call it in an `except` block); `what` says where."""
        self.count += 1
        if self.count == 1:
            self.log.exception("unexpected error %s (a bug: the connection is closed)", what)
        elif self.count in (10, 100) or self.count % 1000 == 0:
            self.log.error("unexpected error %s: %d so far since start", what, self.count)


def short(exc: BaseException) -> str:
    """An exception in one line, for a log that says what is wrong without a traceback: an
    outage of something the gateway relies on is not a bug."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}"

"""Janus's API as data: requests built, replies and events read, transactions matched (docs/av.md#janus).

Sans-I/O, in the manner of the websockets library's protocol objects: a `Conversation` is given
what to ask and returns the text to send, and is given each text received and returns what it
was: the answer to one of its transactions, or an event to route to a session or handle. The
asyncio layer (homeroom.av.client) owns the socket, the clock, keepalives and timeouts.

What Janus 1.1 answers, as observed against Debian's build (tests/av/test_janus.py):

| request | answer |
|---|---|
| `info` | `server_info` (no secret needed) |
| `create`, `attach`, `detach`, `destroy` | `success` (with `data.id` for the first two) or `error` |
| `keepalive`, `trickle`, `hangup` | `ack` |
| `message`, a synchronous plugin request (VideoRoom create, list, destroy, ...) | `success` with `plugindata` |
| `message`, an asynchronous one (join, publish, configure, start, ...) | `ack` and an `event` carrying the transaction, **in either order** |

So a transaction is finished by `success`, `server_info`, `error` or a plugin `event` bearing
its id; an `ack` finishes only the requests whose whole answer it is. A plugin's own refusal is a
`success` or `event` whose `plugindata.data` holds `error_code`: `plugin_error` reads it.
Events without a transaction (`webrtcup`, `media`, `slowlink`, `hangup`, `detached`, `timeout`,
and plugin events such as VideoRoom's `talking`) are returned as they are, for routing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal

VIDEOROOM: Final = "janus.plugin.videoroom"
MAX_TEXT: Final = 1 << 20  # a Janus message (an SDP with many candidates is ~10 KB)

JSON = dict[str, Any]


class JanusProtocolError(ValueError):
    """Janus sent something that is not one of its messages (not JSON, not an object, a field
    of the wrong type); the message says what."""


@dataclass(frozen=True, slots=True)
class JanusError(Exception):
    """Janus refused a request: its code and reason (403: wrong or missing api_secret; 458: no
    such session; 459: no such handle; 460: no such plugin; ...)."""

    code: int
    reason: str

    def __str__(self) -> str:
        return f"Janus error {self.code}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PluginError(Exception):
    """A plugin refused a request (VideoRoom: 429 a field missing, 433 wrong admin_key, 426 no
    such room, 427 the room exists, ...)."""

    plugin: str
    code: int
    reason: str

    def __str__(self) -> str:
        return f"{self.plugin} error {self.code}: {self.reason}"


# -- what Janus sends ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    transaction: str
    session_id: int | None


@dataclass(frozen=True, slots=True)
class Success:
    """`data` is the core's answer (`{"id": ...}` for create and attach), `plugin` and
    `plugindata` a plugin's (a synchronous plugin request)."""

    transaction: str
    session_id: int | None
    sender: int | None
    data: JSON
    plugin: str | None = None
    plugindata: JSON | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    transaction: str | None
    session_id: int | None
    error: JanusError


@dataclass(frozen=True, slots=True)
class ServerInfo:
    transaction: str
    info: JSON


@dataclass(frozen=True, slots=True)
class PluginEvent:
    """A plugin's event: the answer to an asynchronous request if `transaction` is set, news
    otherwise (VideoRoom: a publisher came or went, `talking`, the room destroyed, ...). `jsep`
    is an offer or answer when one goes with it."""

    transaction: str | None
    session_id: int
    sender: int
    plugin: str
    data: JSON
    jsep: JSON | None = None


@dataclass(frozen=True, slots=True)
class WebrtcUp:
    """The handle's PeerConnection is up (ICE and DTLS done)."""

    session_id: int
    sender: int


@dataclass(frozen=True, slots=True)
class Media:
    """Janus started or stopped receiving a kind of media on the handle (`no_media_timer`)."""

    session_id: int
    sender: int
    kind: str  # "audio" or "video"
    receiving: bool
    mid: str | None


@dataclass(frozen=True, slots=True)
class SlowLink:
    """Packets lost on the handle's link, `lost` in the last second (at least the configured
    `slowlink_threshold`). `uplink` is from Janus's side: true when packets Janus sent to the
    peer were lost (the peer asked for them again: a pupil's capped downlink gives this on the
    pupil's handle, tests/av/test_media.py), false when packets from the peer to Janus were.
    An input of the ladder. The VideoRoom also sends a plugin event `{"videoroom": "slow_link"}`
    beside it."""

    session_id: int
    sender: int
    uplink: bool
    kind: str | None
    mid: str | None
    lost: int


@dataclass(frozen=True, slots=True)
class Hangup:
    session_id: int
    sender: int
    reason: str


@dataclass(frozen=True, slots=True)
class Detached:
    session_id: int
    sender: int


@dataclass(frozen=True, slots=True)
class Timeout:
    """Janus destroyed the session: no request or keepalive within its session_timeout."""

    session_id: int


@dataclass(frozen=True, slots=True)
class Other:
    """A message of a kind this module does not know (a newer Janus): kept, not refused."""

    kind: str
    message: JSON


Reply = Ack | Success | Failure | ServerInfo
Event = PluginEvent | WebrtcUp | Media | SlowLink | Hangup | Detached | Timeout | Failure | Other
Received = Reply | Event


def _int(message: JSON, key: str, required: bool = True) -> int | None:
    value = message.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise JanusProtocolError(f"{message.get('janus')}: {key} is not an integer: {value!r}")
    return value


def _req_int(message: JSON, key: str) -> int:
    value = _int(message, key)
    assert value is not None
    return value


def _str(message: JSON, key: str, required: bool = True) -> str | None:
    value = message.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise JanusProtocolError(f"{message.get('janus')}: {key} is not a string: {value!r}")
    return value


def _obj(message: JSON, key: str, required: bool = True) -> JSON | None:
    value = message.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise JanusProtocolError(f"{message.get('janus')}: {key} is not an object: {value!r}")
    return value


def _error(message: JSON) -> JanusError:
    error = _obj(message, "error")
    assert error is not None
    return JanusError(_req_int(error, "code"), str(error.get("reason", "")))


def read(text: str | bytes) -> Received:
    """One message from Janus, read; JanusProtocolError if it is not one."""
    if len(text) > MAX_TEXT:
        raise JanusProtocolError(f"a message of {len(text)} bytes, above {MAX_TEXT}")
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JanusProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise JanusProtocolError(f"not a JSON object: {type(message).__name__}")
    kind = _str(message, "janus")
    transaction = _str(message, "transaction", required=False)
    session = _int(message, "session_id", required=False)
    match kind:
        case "ack":
            return Ack(_need(transaction, kind), session)
        case "success":
            plugindata = _obj(message, "plugindata", required=False)
            plugin = data = None
            if plugindata is not None:
                plugin = _str(plugindata, "plugin")
                data = _obj(plugindata, "data")
            return Success(
                _need(transaction, kind),
                session,
                _int(message, "sender", required=False),
                _obj(message, "data", required=False) or {},
                plugin,
                data,
            )
        case "error":
            return Failure(transaction, session, _error(message))
        case "server_info":
            return ServerInfo(_need(transaction, kind), message)
        case "event":
            plugindata = _obj(message, "plugindata")
            assert plugindata is not None
            data = _obj(plugindata, "data")
            assert data is not None
            return PluginEvent(
                transaction,
                _need_int(session, kind),
                _req_int(message, "sender"),
                _str(plugindata, "plugin") or "",
                data,
                _obj(message, "jsep", required=False),
            )
        case "webrtcup":
            return WebrtcUp(_need_int(session, kind), _req_int(message, "sender"))
        case "media":
            return Media(
                _need_int(session, kind),
                _req_int(message, "sender"),
                _str(message, "type") or "",
                bool(message.get("receiving")),
                _str(message, "mid", required=False),
            )
        case "slowlink":
            return SlowLink(
                _need_int(session, kind),
                _req_int(message, "sender"),
                bool(message.get("uplink")),
                _str(message, "media", required=False),
                _str(message, "mid", required=False),
                _int(message, "lost", required=False) or 0,
            )
        case "hangup":
            return Hangup(
                _need_int(session, kind),
                _req_int(message, "sender"),
                _str(message, "reason", required=False) or "",
            )
        case "detached":
            return Detached(_need_int(session, kind), _req_int(message, "sender"))
        case "timeout":
            return Timeout(_need_int(session, kind))
        case _:
            assert kind is not None
            return Other(kind, message)


def _need(transaction: str | None, kind: str) -> str:
    if transaction is None:
        raise JanusProtocolError(f"{kind}: no transaction")
    return transaction


def _need_int(value: int | None, kind: str) -> int:
    if value is None:
        raise JanusProtocolError(f"{kind}: no session_id")
    return value


def plugin_error(plugin: str | None, data: JSON | None) -> PluginError | None:
    """The plugin's refusal held in its data, if it is one."""
    if data is None or "error_code" not in data:
        return None
    code = data["error_code"]
    if not isinstance(code, int):
        raise JanusProtocolError(f"{plugin}: error_code is not an integer: {code!r}")
    return PluginError(plugin or "", code, str(data.get("error", "")))


# -- what homeroom asks -----------------------------------------------------------------------


class Finish(Enum):
    """What finishes a transaction."""

    ACK = "ack"  # keepalive, trickle, hangup: the ack is the whole answer
    ANSWER = "answer"  # success, server_info, error or an event bearing the transaction


Kind = Literal[
    "info", "create", "attach", "detach", "destroy", "keepalive", "message", "trickle", "hangup"
]

_FINISH: Final[dict[str, Finish]] = {
    "info": Finish.ANSWER,
    "create": Finish.ANSWER,
    "attach": Finish.ANSWER,
    "detach": Finish.ANSWER,
    "destroy": Finish.ANSWER,
    "message": Finish.ANSWER,
    "keepalive": Finish.ACK,
    "trickle": Finish.ACK,
    "hangup": Finish.ACK,
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A request to send: its transaction and its text."""

    transaction: str
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The end of a transaction: what Janus answered (Success, ServerInfo, PluginEvent, Ack)
    or the error it refused with."""

    transaction: str
    reply: Success | ServerInfo | PluginEvent | Ack | Failure


@dataclass(slots=True)
class Conversation:
    """One connection's requests and their transactions. `ask` makes a request's text and
    remembers its transaction; `receive` says whether a text finished one (`Answer`), was only
    an acknowledgement (None), or is an event (returned as read)."""

    api_secret: str | None
    prefix: str = "hr"
    _count: int = 0
    _pending: dict[str, Finish] = field(default_factory=dict)

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def ask(
        self,
        kind: Kind,
        session_id: int | None = None,
        handle_id: int | None = None,
        **fields: Any,
    ) -> Outgoing:
        """The text of one request; `fields` are its own (`plugin`, `body`, `jsep`,
        `candidate`, ...)."""
        if kind not in _FINISH:
            raise ValueError(f"not a Janus request: {kind!r}")
        if kind not in ("info", "create") and session_id is None:
            raise ValueError(f"{kind} needs a session_id")
        if kind in ("detach", "message", "trickle", "hangup") and handle_id is None:
            raise ValueError(f"{kind} needs a handle_id")
        self._count += 1
        transaction = f"{self.prefix}{self._count}"
        message: JSON = {"janus": kind, "transaction": transaction}
        if self.api_secret is not None:
            message["apisecret"] = self.api_secret
        if session_id is not None:
            message["session_id"] = session_id
        if handle_id is not None:
            message["handle_id"] = handle_id
        message.update(fields)
        self._pending[transaction] = _FINISH[kind]
        return Outgoing(transaction, json.dumps(message, separators=(",", ":")))

    def forget(self, transaction: str) -> None:
        """Stop waiting for a transaction (its caller gave up): a late answer is then an
        event like any other."""
        self._pending.pop(transaction, None)

    def receive(self, text: str | bytes) -> Answer | Event | None:
        """What `text` was: the end of a pending transaction, None for an acknowledgement of
        one still waiting for its answer (or of one already answered), or an event."""
        received = read(text)
        transaction = getattr(received, "transaction", None)
        finish = self._pending.get(transaction) if transaction is not None else None
        if isinstance(received, Ack):
            if finish is Finish.ACK:
                del self._pending[received.transaction]
                return Answer(received.transaction, received)
            return None  # an ANSWER request's ack, or a late one: its answer is what counts
        if finish is not None and transaction is not None:
            # any answer bearing the transaction ends it (an error ends an ACK request too)
            assert isinstance(received, Success | ServerInfo | PluginEvent | Failure)
            del self._pending[transaction]
            return Answer(transaction, received)
        if isinstance(received, Success | ServerInfo):
            return Other(f"unmatched {type(received).__name__}", {"transaction": transaction})
        return received

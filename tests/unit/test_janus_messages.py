"""Janus's API as data (core.janus): requests, replies, events and transactions, without Janus.

The messages below are what Debian's Janus 1.1.2 sent to the requests beside them (captured
against it; tests/av/test_janus.py checks the same against the real one).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeroom.core import janus
from homeroom.core.janus import (
    Ack,
    Answer,
    Conversation,
    Detached,
    Failure,
    Hangup,
    JanusError,
    JanusProtocolError,
    Media,
    Other,
    PluginEvent,
    ServerInfo,
    SlowLink,
    Success,
    Timeout,
    WebrtcUp,
    plugin_error,
    read,
)

SECRET = "s" * 20


def text(message: dict[str, Any]) -> str:
    return json.dumps(message)


def sent(out: janus.Outgoing) -> dict[str, Any]:
    message = json.loads(out.text)
    assert message["transaction"] == out.transaction
    return message  # type: ignore[no-any-return]


# -- requests ---------------------------------------------------------------------------------


def test_every_request_carries_the_secret_and_a_fresh_transaction() -> None:
    talk = Conversation(SECRET)
    first = sent(talk.ask("create"))
    second = sent(talk.ask("attach", 7, plugin=janus.VIDEOROOM))
    assert first == {"janus": "create", "transaction": first["transaction"], "apisecret": SECRET}
    assert second["apisecret"] == SECRET
    assert second["session_id"] == 7 and second["plugin"] == janus.VIDEOROOM
    assert first["transaction"] != second["transaction"]
    assert talk.pending == {first["transaction"], second["transaction"]}


def test_no_secret_no_apisecret_field() -> None:
    assert "apisecret" not in sent(Conversation(None).ask("info"))


def test_a_message_carries_body_and_jsep() -> None:
    out = sent(
        Conversation(SECRET).ask(
            "message", 1, 2, body={"request": "publish"}, jsep={"type": "offer", "sdp": "v=0"}
        )
    )
    assert out["handle_id"] == 2 and out["body"] == {"request": "publish"}
    assert out["jsep"]["type"] == "offer"


@pytest.mark.parametrize(
    ("kind", "session", "handle", "missing"),
    [
        ("attach", None, None, "session_id"),
        ("keepalive", None, None, "session_id"),
        ("message", 1, None, "handle_id"),
        ("trickle", 1, None, "handle_id"),
        ("detach", 1, None, "handle_id"),
    ],
)
def test_a_request_without_its_ids_is_refused(
    kind: Any, session: int | None, handle: int | None, missing: str
) -> None:
    talk = Conversation(SECRET)
    with pytest.raises(ValueError, match=missing):
        talk.ask(kind, session, handle)
    assert talk.pending == frozenset()


def test_an_unknown_request_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Janus request"):
        Conversation(SECRET).ask("launch")  # type: ignore[arg-type]


# -- transactions -----------------------------------------------------------------------------


def test_create_is_answered_by_success() -> None:
    talk = Conversation(SECRET)
    out = talk.ask("create")
    got = talk.receive(
        text({"janus": "success", "transaction": out.transaction, "data": {"id": 4035726525574718}})
    )
    assert isinstance(got, Answer) and isinstance(got.reply, Success)
    assert got.reply.data == {"id": 4035726525574718}
    assert talk.pending == frozenset()


def test_a_wrong_secret_is_an_error_answer() -> None:
    talk = Conversation("wrong-secret-0123456")
    out = talk.ask("create")
    reason = "Unauthorized request (wrong or missing secret/token)"
    got = talk.receive(
        text(
            {
                "janus": "error",
                "transaction": out.transaction,
                "error": {"code": 403, "reason": reason},
            }
        )
    )
    assert isinstance(got, Answer) and isinstance(got.reply, Failure)
    assert got.reply.error == JanusError(403, reason)
    assert "403" in str(got.reply.error)


def test_an_async_plugin_request_ends_with_its_event_whichever_comes_first() -> None:
    """Janus sent the `joined` event before the ack of the same join."""
    for order in ("event-first", "ack-first"):
        talk = Conversation(SECRET)
        out = talk.ask("message", 1, 2, body={"request": "join"})
        ack = text({"janus": "ack", "session_id": 1, "transaction": out.transaction})
        event = text(
            {
                "janus": "event",
                "session_id": 1,
                "transaction": out.transaction,
                "sender": 2,
                "plugindata": {"plugin": janus.VIDEOROOM, "data": {"videoroom": "joined"}},
            }
        )
        texts = [event, ack] if order == "event-first" else [ack, event]
        results = [talk.receive(t) for t in texts]
        answers = [r for r in results if isinstance(r, Answer)]
        assert len(answers) == 1 and isinstance(answers[0].reply, PluginEvent), order
        assert None in results
        assert talk.pending == frozenset()


def test_keepalive_and_trickle_end_with_their_ack() -> None:
    talk = Conversation(SECRET)
    for out in (talk.ask("keepalive", 1), talk.ask("trickle", 1, 2, candidate={"completed": True})):
        got = talk.receive(text({"janus": "ack", "session_id": 1, "transaction": out.transaction}))
        assert isinstance(got, Answer) and isinstance(got.reply, Ack)
    assert talk.pending == frozenset()


def test_an_error_ends_a_keepalive_too() -> None:
    talk = Conversation(SECRET)
    out = talk.ask("keepalive", 9)
    got = talk.receive(
        text(
            {
                "janus": "error",
                "session_id": 9,
                "transaction": out.transaction,
                "error": {"code": 458, "reason": "No such session 9"},
            }
        )
    )
    assert isinstance(got, Answer) and isinstance(got.reply, Failure)
    assert got.reply.error.code == 458


def test_a_forgotten_transaction_answered_late_is_not_an_answer() -> None:
    talk = Conversation(SECRET)
    out = talk.ask("create")
    talk.forget(out.transaction)
    late = talk.receive(text({"janus": "success", "transaction": out.transaction, "data": {}}))
    assert isinstance(late, Other)
    assert talk.receive(text({"janus": "ack", "transaction": out.transaction})) is None


def test_server_info_answers_info() -> None:
    talk = Conversation(None)
    out = talk.ask("info")
    got = talk.receive(
        text({"janus": "server_info", "transaction": out.transaction, "version": 1102})
    )
    assert isinstance(got, Answer) and isinstance(got.reply, ServerInfo)
    assert got.reply.info["version"] == 1102


@given(
    kinds=st.lists(st.sampled_from(["create", "message", "keepalive", "trickle"]), max_size=8),
    data=st.data(),
)
def test_each_transaction_is_answered_once_in_any_order(kinds: list[str], data: Any) -> None:
    """Whatever the interleaving of acks and answers, each request gets exactly one Answer and
    nothing of its own comes out as an event."""
    talk = Conversation(SECRET)
    texts: list[str] = []
    outs = []
    for kind in kinds:
        ids: tuple[int | None, int | None] = (1, 2) if kind in ("message", "trickle") else (1, None)
        if kind == "create":
            ids = (None, None)
        out = talk.ask(kind, *ids)  # type: ignore[arg-type]
        outs.append(out)
        t = out.transaction
        if kind == "create":
            texts.append(text({"janus": "success", "transaction": t, "data": {"id": 5}}))
        elif kind == "message":
            texts.append(text({"janus": "ack", "session_id": 1, "transaction": t}))
            texts.append(
                text(
                    {
                        "janus": "event",
                        "session_id": 1,
                        "sender": 2,
                        "transaction": t,
                        "plugindata": {"plugin": janus.VIDEOROOM, "data": {"videoroom": "event"}},
                    }
                )
            )
        else:
            texts.append(text({"janus": "ack", "session_id": 1, "transaction": t}))
    order = data.draw(st.permutations(texts))
    answered: list[str] = []
    for t in order:
        got = talk.receive(t)
        if isinstance(got, Answer):
            answered.append(got.transaction)
        else:
            assert got is None, got
    assert sorted(answered) == sorted(o.transaction for o in outs)
    assert talk.pending == frozenset()


# -- events -----------------------------------------------------------------------------------


def test_events_without_a_transaction_are_returned_for_routing() -> None:
    talk = Conversation(SECRET)
    cases: list[tuple[dict[str, Any], object]] = [
        ({"janus": "webrtcup", "session_id": 1, "sender": 2}, WebrtcUp(1, 2)),
        (
            {
                "janus": "media",
                "session_id": 1,
                "sender": 2,
                "type": "video",
                "receiving": False,
                "mid": "1",
            },
            Media(1, 2, "video", False, "1"),
        ),
        (
            {
                "janus": "slowlink",
                "session_id": 1,
                "sender": 2,
                "uplink": False,
                "media": "video",
                "mid": "1",
                "lost": 12,
            },
            SlowLink(1, 2, False, "video", "1", 12),
        ),
        (
            {"janus": "hangup", "session_id": 1, "sender": 2, "reason": "DTLS alert"},
            Hangup(1, 2, "DTLS alert"),
        ),
        ({"janus": "detached", "session_id": 1, "sender": 2}, Detached(1, 2)),
        ({"janus": "timeout", "session_id": 6521350476958097}, Timeout(6521350476958097)),
        (
            {
                "janus": "event",
                "session_id": 1,
                "sender": 2,
                "plugindata": {
                    "plugin": janus.VIDEOROOM,
                    "data": {"videoroom": "destroyed", "room": 77},
                },
            },
            PluginEvent(None, 1, 2, janus.VIDEOROOM, {"videoroom": "destroyed", "room": 77}),
        ),
    ]
    for message, expected in cases:
        assert talk.receive(text(message)) == expected


def test_an_unknown_kind_is_kept_not_refused() -> None:
    got = read(text({"janus": "trickle", "session_id": 1, "sender": 2, "candidate": {}}))
    assert isinstance(got, Other) and got.kind == "trickle"


def test_a_plugin_refusal_is_read_from_its_data() -> None:
    data = {"videoroom": "event", "error_code": 433, "error": "Unauthorized (wrong admin_key)"}
    refusal = plugin_error(janus.VIDEOROOM, data)
    assert refusal is not None and refusal.code == 433
    assert "wrong admin_key" in str(refusal)
    assert plugin_error(janus.VIDEOROOM, {"videoroom": "created", "room": 1}) is None
    with pytest.raises(JanusProtocolError):
        plugin_error(janus.VIDEOROOM, {"error_code": "433"})


# -- what is not a Janus message --------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"transaction": "x"}', "janus is not a string"),
        ('{"janus": "ack"}', "no transaction"),
        ('{"janus": "success", "transaction": 5}', "transaction is not a string"),
        ('{"janus": "error", "transaction": "x", "error": "boom"}', "error is not an object"),
        ('{"janus": "error", "transaction": "x", "error": {"code": "403"}}', "code is not"),
        ('{"janus": "event", "session_id": 1, "sender": 2}', "plugindata is not an object"),
        ('{"janus": "webrtcup", "sender": 2}', "no session_id"),
        ('{"janus": "webrtcup", "session_id": true, "sender": 2}', "session_id is not"),
        ('{"janus": "timeout", "session_id": 1.5}', "session_id is not"),
        ('"' + "x" * (janus.MAX_TEXT + 1) + '"', "above"),
    ],
)
def test_what_is_not_a_janus_message_is_a_clear_error(bad: str | bytes, why: str) -> None:
    with pytest.raises(JanusProtocolError, match=why):
        read(bad)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
KINDS = [
    "ack",
    "success",
    "error",
    "server_info",
    "event",
    "webrtcup",
    "media",
    "slowlink",
    "hangup",
    "detached",
    "timeout",
]
FIELDS = ["transaction", "session_id", "sender", "data", "plugindata", "error", "jsep", "mid"]


@given(
    kind=st.sampled_from(KINDS) | JSON_VALUES,
    fields=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6),
)
def test_any_json_is_read_or_refused_clearly(kind: Any, fields: dict[str, Any]) -> None:
    """Whatever Janus (or something posing as it) sends: a value, or JanusProtocolError."""
    message = json.dumps({"janus": kind, **fields})
    with contextlib.suppress(JanusProtocolError):
        read(message)

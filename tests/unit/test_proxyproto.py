"""The PROXY protocol header a trusted balancer sends first, and the door that reads it
(core/proxyproto.py, door.py, docs/server.md#the-clients-real-address)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeroom.config import ConfigError, load_settings
from homeroom.core.door import Door, DoorLimits, Phase, Refusal
from homeroom.core.proxyproto import (
    MAX_V1,
    MAX_V2,
    V2_SIGNATURE,
    BadHeader,
    Header,
    Trusted,
    read_header,
)
from homeroom.door import Doorman

GET = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"


def v2(
    src: str = "203.0.113.7",
    sport: int = 5555,
    *,
    command: int = 1,
    family: int | None = None,
    tlvs: bytes = b"",
    length: int | None = None,
) -> bytes:
    """A v2 header as HAProxy writes it (send-proxy-v2), from a client at src:sport."""
    addr = ipaddress.ip_address(src)
    if addr.version == 4:
        body = addr.packed + ipaddress.IPv4Address("10.0.0.1").packed
        fam = 0x11
    else:
        body = addr.packed + ipaddress.IPv6Address("2001:db8::1").packed
        fam = 0x21
    body += struct.pack("!HH", sport, 8000) + tlvs
    fam = fam if family is None else family
    size = len(body) if length is None else length
    return V2_SIGNATURE + bytes([0x20 | command, fam]) + struct.pack("!H", size) + body


# -- the format ---------------------------------------------------------------------------------


def test_v2_ipv4_names_the_client_and_its_length():
    data = v2("203.0.113.7", 5555) + GET
    assert read_header(data) == Header(("203.0.113.7", 5555), 28)
    assert data[28:] == GET


def test_v2_ipv6_names_the_client():
    assert read_header(v2("2001:db8:1:2::9", 443)) == Header(("2001:db8:1:2::9", 443), 52)


def test_v2_tlvs_are_skipped():
    tlvs = bytes([0x04, 0, 3]) + b"abc"  # a NOOP TLV
    header = read_header(v2(tlvs=tlvs) + GET)
    assert header == Header(("203.0.113.7", 5555), 28 + 6)


def test_v2_local_is_a_header_without_a_client():
    """HAProxy's health check (check-send-proxy) sends LOCAL: the peer is itself."""
    local = V2_SIGNATURE + bytes([0x20, 0x00, 0, 0])
    assert read_header(local + GET) == Header(None, 16)
    assert read_header(v2(command=0)) == Header(None, 28)


def test_v1_tcp4_tcp6_and_unknown():
    assert read_header(b"PROXY TCP4 198.51.100.4 10.0.0.1 4000 80\r\nGET") == Header(
        ("198.51.100.4", 4000), 42
    )
    line = b"PROXY TCP6 2001:db8::5 2001:db8::1 4000 80\r\n"
    assert read_header(line) == Header(("2001:db8::5", 4000), len(line))
    assert read_header(b"PROXY UNKNOWN\r\n") == Header(None, 15)


def test_a_header_in_pieces_is_not_whole_until_its_last_byte():
    for whole in (v2(), v2("2001:db8::5"), b"PROXY TCP4 198.51.100.4 10.0.0.1 4000 80\r\n"):
        for cut in range(len(whole)):
            assert read_header(whole[:cut]) is None, cut
        assert read_header(whole) is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (GET, "missing"),
        (b"\x16\x03\x01", "missing"),  # TLS
        (b"POST / HTTP/1.1\r\n", "signature"),
        (b"\r\n\r\n\x00\r\nQUIZ\n" + bytes(20), "signature"),
        (V2_SIGNATURE + bytes([0x11, 0x11, 0, 12]) + bytes(12), "version"),
        (V2_SIGNATURE + bytes([0x22, 0x11, 0, 12]) + bytes(12), "command"),
        (v2(family=0x12), "family"),  # UDP
        (v2(family=0x31), "family"),  # UNIX
        (v2(length=4) + bytes(12), "short"),
        (v2("2001:db8::5", length=12) + bytes(24), "short"),
        (V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", MAX_V2), "oversize"),
        (b"PROXY " + b"A" * MAX_V1, "oversize"),
        (b"PROXY TCP4 198.51.100.4 10.0.0.1 4000\r\n", "malformed"),
        (b"PROXY TCP4 2001:db8::5 10.0.0.1 4000 80\r\n", "malformed"),
        (b"PROXY TCP4 300.1.1.1 10.0.0.1 4000 80\r\n", "malformed"),
        (b"PROXY TCP4 198.51.100.4 10.0.0.1 99999 80\r\n", "malformed"),
        (b"PROXY TCP4 198.51.100.4 10.0.0.1 \xc2\xb2 80\r\n", "malformed"),
        (b"PROXY UDP4 198.51.100.4 10.0.0.1 4000 80\r\n", "malformed"),
    ],
)
def test_what_is_not_a_header_is_refused_with_its_reason(data: bytes, reason: str):
    with pytest.raises(BadHeader) as caught:
        read_header(data)
    assert caught.value.reason == reason


@given(st.binary(max_size=600))
def test_any_bytes_are_a_header_not_yet_one_or_refused(data: bytes):
    try:
        header = read_header(data)
    except BadHeader as exc:
        assert exc.reason
        return
    if header is None:
        assert len(data) < MAX_V2
    else:
        assert 0 < header.length <= len(data) and header.length <= MAX_V2


@given(st.ip_addresses(), st.integers(0, 65535), st.binary(max_size=40))
def test_any_v2_header_gives_back_its_client_and_what_follows(addr, port, rest):
    data = v2(str(addr), port) + rest
    header = read_header(data)
    assert header is not None and header.client == (str(addr), port)
    assert data[header.length :] == rest


# -- who is trusted -----------------------------------------------------------------------------


def test_trusted_covers_its_blocks_only():
    trusted = Trusted.parse(["10.0.0.0/8", "::1"])
    assert trusted.covers("10.9.8.7") and trusted.covers("::1")
    assert trusted.covers("::ffff:10.1.1.1")  # an IPv4 peer on a dual-stack socket
    assert not trusted.covers("11.0.0.1") and not trusted.covers(None)
    assert not trusted.covers("not an address")
    assert not Trusted() and not Trusted().covers("10.0.0.1")


def test_the_setting_is_a_list_of_blocks_empty_by_default(monkeypatch):
    monkeypatch.delenv("HOMEROOM_TRUSTED_PROXIES", raising=False)
    assert load_settings().trusted_proxies == []
    monkeypatch.setenv("HOMEROOM_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert load_settings().trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
    monkeypatch.setenv("HOMEROOM_TRUSTED_PROXIES", "10.0.0.0/8,nowhere")
    with pytest.raises(ConfigError, match="HOMEROOM_TRUSTED_PROXIES"):
        load_settings()


# -- the door -----------------------------------------------------------------------------------


class Visitor:
    def door_closes(self, why: Refusal | None) -> None:
        self.closed = why


def doorman(per_block: int = 2) -> Doorman:
    return Doorman(
        DoorLimits(per_block=per_block),
        clock=lambda: 0.0,
        count_files=lambda: 0,
        trusted=Trusted.parse(["10.0.0.1"]),
    )


async def test_behind_a_trusted_proxy_each_client_block_has_its_own_limit():
    door = doorman(per_block=2)  # its timer: stopped at the end
    a = [Visitor() for _ in range(3)]
    b = [Visitor() for _ in range(2)]
    for v in a + b:  # no block's limit while the header comes: HAProxy opens many at once
        assert door.arrive(v, "10.0.0.1", proxied=True) is None
    got = [door.unwrap(v, v2("203.0.113.1") + GET, trusted=True) for v in a]
    assert got[:2] == [Header(("203.0.113.1", 5555), 28)] * 2
    assert got[2] is Refusal.BLOCK
    for v in b:  # another block behind the same proxy: not refused
        assert isinstance(door.unwrap(v, v2("198.51.100.1"), trusted=True), Header)
    policy = door.policy
    assert policy.heads_of("203.0.113.0/24") == 2 and policy.heads_of("198.51.100.0/24") == 2
    assert policy.heads_of("") == 0
    assert policy.phase(a[2]) is None and policy.refused[Refusal.BLOCK] == 1
    policy.leave(a[2])  # the server's report once closed: nothing left of it
    assert policy.connections == 4
    door.stop()


async def test_a_trusted_peer_without_a_header_and_an_untrusted_one_with_one_are_refused(caplog):
    door = doorman()
    v = Visitor()
    door.arrive(v, "10.0.0.1", proxied=True)
    assert door.unwrap(v, GET, trusted=True) is Refusal.PROXY
    assert door.unwrap(v, v2(), trusted=False) is Refusal.PROXY
    assert door.unwrap(v, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", trusted=False) is Refusal.PROXY
    assert door.policy.refused[Refusal.PROXY] == 3
    assert "without a valid PROXY header (missing)" in caplog.text
    assert "(untrusted)" in caplog.text
    assert door.unwrap(v, GET, trusted=False) == Header(None, 0)  # plain HTTP: as before
    assert door.unwrap(v, b"\r\nGET", trusted=False) == Header(None, 0)
    door.stop()


async def test_a_header_not_yet_whole_keeps_the_heads_deadline():
    door = doorman()
    v = Visitor()
    door.arrive(v, "10.0.0.1", proxied=True)
    assert door.unwrap(v, v2()[:10], trusted=True) is None
    assert door.policy.phase(v) is Phase.HEAD
    door.clock = lambda: 60.0
    assert door.tick() == 1 and v.closed is Refusal.LATE
    door.stop()


def test_move_is_nothing_for_a_connection_not_in_its_head():
    d: Door[str] = Door(DoorLimits(per_block=1))
    d.arrive("c", "10.0.0.0/24", 0)
    d.done("c")
    assert d.move("c", "203.0.113.0/24") is None and d.heads_of("203.0.113.0/24") == 0
    assert d.move("unknown", "203.0.113.0/24") is None

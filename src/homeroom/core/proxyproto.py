"""The PROXY protocol header (v2 binary, v1 text) a trusted balancer sends first: the client's
real address (docs/server.md#the-clients-real-address).

Sans-I/O: `read_header` is given the bytes received so far and says whether they are not yet a
whole header (None), a whole one (`Header`: the client's address, or none for a LOCAL
connection such as HAProxy's health check, and how many bytes it took), or not a header at all
(`BadHeader`, with a short reason for the log and the metric). Only what HAProxy sends is
accepted: TCP over IPv4 or IPv6 (or UNSPEC/UNKNOWN, taken as "no address"), TLVs skipped, the
whole header within `MAX_V2` bytes.

The formats (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt):
- v2: 12-byte signature, version/command byte (0x20 LOCAL, 0x21 PROXY), family/transport byte
  (0x11 TCP/IPv4, 0x21 TCP/IPv6, 0x00 UNSPEC), 2-byte length of what follows, then the source
  and destination addresses and ports (12 bytes for IPv4, 36 for IPv6), then TLVs;
- v1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\\r\\n` or `PROXY UNKNOWN ...\\r\\n`, at most
  107 bytes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

from homeroom.core.blocks import Networks

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
MAX_V1 = 107  # the specification's bound, CRLF included
MAX_V2 = 16 + 512  # fixed part + addresses and TLVs; HAProxy's own are far smaller
_V2_IPV4 = 12
_V2_IPV6 = 36


class Header(NamedTuple):  # a tuple: a fifth of a frozen dataclass's cost to make
    """A whole header: the client's (host, port), or None (LOCAL, UNSPEC, UNKNOWN: use the
    connection's own peer), and its length in bytes."""

    client: tuple[str, int] | None
    length: int


class BadHeader(ValueError):
    """Not a PROXY header this server accepts; `reason` is a short word for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_header(data: bytes) -> Header | None:
    """The header at the start of `data`, or None while `data` may still become one."""
    if data[:1] == b"\r":
        return _v2(data)
    if data[:1] == b"P":
        return _v1(data)
    if not data:
        return None
    raise BadHeader("missing")


def _v2(data: bytes) -> Header | None:
    known = min(len(data), len(V2_SIGNATURE))
    if data[:known] != V2_SIGNATURE[:known]:
        raise BadHeader("signature")
    if len(data) < 16:
        return None
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2:
        raise BadHeader("version")
    if command > 1:
        raise BadHeader("command")
    family = data[13]
    length = 16 + int.from_bytes(data[14:16], "big")
    if length > MAX_V2:
        raise BadHeader("oversize")
    if len(data) < length:
        return None
    if command == 0 or family == 0x00:  # LOCAL (a health check), or UNSPEC: no client address
        return Header(None, length)
    body = data[16:length]
    if family == 0x11:
        if len(body) < _V2_IPV4:
            raise BadHeader("short")
        host = f"{body[0]}.{body[1]}.{body[2]}.{body[3]}"  # ipaddress takes five times as long
        port = int.from_bytes(body[8:10], "big")
    elif family == 0x21:
        if len(body) < _V2_IPV6:
            raise BadHeader("short")
        host = str(ipaddress.IPv6Address(body[0:16]))
        port = int.from_bytes(body[32:34], "big")
    else:
        raise BadHeader("family")  # UDP or UNIX sockets: not what reaches an HTTP server
    return Header((host, port), length)


def _v1(data: bytes) -> Header | None:
    known = min(len(data), len(V1_PREFIX))
    if data[:known] != V1_PREFIX[:known]:
        raise BadHeader("signature")
    end = data.find(b"\r\n", 0, MAX_V1)
    if end < 0:
        if len(data) >= MAX_V1:
            raise BadHeader("oversize")
        return None
    length = end + 2
    try:
        line = data[len(V1_PREFIX) : end].decode("ascii")
    except UnicodeDecodeError:
        raise BadHeader("malformed") from None
    parts = line.split(" ")
    if parts[0] == "UNKNOWN":
        return Header(None, length)
    if len(parts) != 5 or parts[0] not in ("TCP4", "TCP6"):
        raise BadHeader("malformed")
    family, source, _dest, sport, _dport = parts
    try:
        host = str(
            ipaddress.IPv4Address(source) if family == "TCP4" else ipaddress.IPv6Address(source)
        )
    except ValueError:
        raise BadHeader("malformed") from None
    if not (sport.isascii() and sport.isdigit() and len(sport) <= 5 and int(sport) <= 65535):
        raise BadHeader("malformed")
    return Header((host, int(sport)), length)


@dataclass(frozen=True, slots=True)
class Trusted(Networks):
    """The peers whose PROXY header is believed (the setting trusted_proxies)."""

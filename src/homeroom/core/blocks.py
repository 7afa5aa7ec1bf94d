"""Address blocks: what rate limits and the door count by, one key per network (docs/server.md).

A person rarely controls one address but often a whole small network: an IPv4 /24, or the /64
an IPv6 provider hands one home or phone. A school behind a NAT is one address, so one block.
"""

from __future__ import annotations

import functools
import ipaddress


@functools.lru_cache(maxsize=65_536)  # a few thousand blocks are seen again and again
def address_block(host: str | None) -> str:
    """The /24 of an IPv4 address or the /64 of an IPv6 address, as a limiter key."""
    try:
        addr = ipaddress.ip_address(host or "")
    except ValueError:
        return "unknown"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        return str(ipaddress.ip_network(f"{addr}/24", strict=False))
    return str(ipaddress.ip_network(f"{addr}/64", strict=False))

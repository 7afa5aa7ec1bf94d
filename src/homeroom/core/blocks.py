"""Address blocks: what rate limits and the door count by, one key per network (docs/server.md).

A person rarely controls one address but often a whole small network: an IPv4 /24, or the /64
an IPv6 provider hands one home or phone. A school behind a NAT is one address, so one block.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Self


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


@dataclass(frozen=True, slots=True)
class Networks:
    """A set of address blocks (CIDRs): a school's and an office's, or the trusted balancers."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, cidrs: list[str] | tuple[str, ...]) -> Self:
        """From CIDRs ("10.0.0.0/8", "::1", ...); ValueError names a bad one."""
        return cls(tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def covers(self, host: str | None) -> bool:
        """`host` is inside one of the blocks (an IPv4-mapped IPv6 address as its IPv4)."""
        if not self.networks or host is None:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks)

"""The nodes' network: a namespace per node, a veth pair into a bridge (docs/operations.md#the-deployment).

Where namespaces cannot be made (no root, no `ip`, a container without CAP_NET_ADMIN),
`available()` says why and the deployment falls back to one 127.0.0.x address per node.
Every name carries the deployment's identity, so `leftovers()` finds exactly what one
deployment made and `remove()` takes it all away.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess

from homeroom.deploy.topology import Node, Topology

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"


class NetworkError(RuntimeError):
    """A command of `ip` or `nft` failed; the message has its words."""


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def available() -> tuple[bool, str]:
    """Whether namespaces can be made here, and the reason when not (made and removed once)."""
    if not os.path.exists(IP):
        return False, "no `ip` command (Debian package iproute2)"
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    probe = f"hr-probe-{secrets.token_hex(3)}"
    try:
        _run(IP, "netns", "add", probe)
    except NetworkError as exc:
        return False, f"`ip netns add` refused: {exc}"
    with contextlib.suppress(NetworkError):
        _run(IP, "netns", "delete", probe)
    return True, "network namespaces with veth pairs into a bridge"


def free_subnet_octet() -> int:
    """An octet k for 10.213.k.0/24 that no interface of this machine uses yet."""
    used = set(re.findall(r"10\.213\.(\d+)\.", _run(IP, "-4", "-o", "addr")))
    for _ in range(500):
        k = secrets.randbelow(254) + 1
        if str(k) not in used:
            return k
    raise NetworkError("no free 10.213.k.0/24")


def bridge(t: Topology) -> str:
    return f"hr{t.ident}br"  # interface names are at most 15 characters


def veth(t: Topology, node: Node) -> str:
    return f"hr{t.ident}{node.name}"


def create(t: Topology) -> None:
    """The bridge with the host's address and HAProxy's, then per node: namespace, veth pair, address, route,
    and the redirect of the gateway's extra ports to the one it listens on."""
    br = bridge(t)
    _run(IP, "link", "add", br, "type", "bridge")
    _run(IP, "addr", "add", f"{t.host_address}/24", "dev", br)
    _run(IP, "addr", "add", f"{t.balancer_address}/24", "dev", br)  # HAProxy's, toward the nodes
    _run(IP, "link", "set", br, "up")
    for node in t.nodes:
        assert node.namespace is not None
        ns, host_end = node.namespace, veth(t, node)
        _run(IP, "netns", "add", ns)
        _run(IP, "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _run(IP, "link", "set", host_end, "master", br)
        _run(IP, "link", "set", host_end, "up")
        inside = (IP, "netns", "exec", ns, IP)
        _run(*inside, "link", "set", "lo", "up")
        _run(*inside, "addr", "add", f"{node.address}/24", "dev", "eth0")
        _run(*inside, "link", "set", "eth0", "up")
        _run(*inside, "route", "add", "default", "via", t.host_address)
        if len(node.live_ports) > 1:
            _redirect(ns, node.live_ports)


def _redirect(ns: str, ports: tuple[int, ...]) -> None:
    """nftables in the node's namespace: connections to ports[1:] reach ports[0]."""
    rules = (
        "table ip homeroom {\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f"    tcp dport {{ {', '.join(str(p) for p in ports[1:])} }} redirect to :{ports[0]}\n"
        "  }\n"
        "}\n"
    )
    done = subprocess.run(
        [IP, "netns", "exec", ns, NFT, "-f", "-"],
        input=rules,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise NetworkError(f"nft in {ns}: {done.stderr.strip()}")


def exec_prefix(node: Node) -> list[str]:
    """What to put before a command so that it runs inside the node's namespace."""
    return [] if node.namespace is None else [IP, "netns", "exec", node.namespace]


def leftovers(ident: str) -> list[str]:
    """Namespaces and links that carry the deployment's identity (empty once removed)."""
    found = [
        f"netns {line.split()[0]}"
        for line in _run(IP, "netns", "list").splitlines()
        if line.startswith(f"hr-{ident}-")
    ]
    for line in _run(IP, "-o", "link").splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(f"hr{ident}"):
            found.append(f"link {name}")
    return found


def remove(t: Topology) -> None:
    """Kill what still runs in the namespaces, delete them (their veth ends go with them), then
    whatever link of the deployment is left and the bridge. Missing parts are skipped."""
    for node in t.nodes:
        if node.namespace is None:
            continue
        with contextlib.suppress(NetworkError):
            for pid in _run(IP, "netns", "pids", node.namespace).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(NetworkError):
            _run(IP, "netns", "delete", node.namespace)
    for left in leftovers(t.ident):
        kind, name = left.split(" ", 1)
        with contextlib.suppress(NetworkError):
            if kind == "link":
                _run(IP, "link", "delete", name)
            else:
                _run(IP, "netns", "delete", name)

"""The deployment's Janus pool: one Janus a node, on a configuration homeroom writes (docs/operations.md#the-janus-pool).

Each node's Janus runs in the node's namespace, its WebSocket API on the node's address only
(no admin API), its media on a slice of ports of its own (`Node.janus_rtp`). In a namespace
it gathers ICE candidates on the node's veth alone (`eth0` in every node's namespace), so the
address browsers send media to is the node's. Without namespaces (127.0.0.x nodes) there is
no per-node interface to give it: Janus binds every interface when `ws_ip` is an address no
interface holds (127.0.0.11 is routed to `lo`, not assigned), so its API listens on
127.0.0.1; and it never gathers on loopback (an `ice_enforce_list` naming a loopback address
is ignored), so every instance offers the machine's own addresses, each from its own ports. The secrets are the deployment's (`Topology.janus_*`,
in topology.json, mode 0600); `cluster.start_janus` starts an instance and waits for it.
"""

from __future__ import annotations

from pathlib import Path

from homeroom.av import process
from homeroom.av.janusconfig import JanusSettings
from homeroom.deploy import netns
from homeroom.deploy.topology import JANUS_EVENT_LOOPS, Node, Topology

NODE_INTERFACE = "eth0"  # the node's end of its veth pair, inside its namespace (netns.create)


def available() -> tuple[bool, str]:
    """Whether Debian's janus is installed here, and the reason when not."""
    try:
        process.janus_binary()
    except process.JanusStartError as exc:
        return False, str(exc)
    return True, "Debian's janus"


def name(node: Node) -> str:
    """The instance's process name in `Topology.pids` (and its log, logs/NAME.log)."""
    return f"janus-{node.name}"


def folder(t: Topology, node: Node) -> Path:
    return t.path / name(node)


def settings(t: Topology, node: Node) -> JanusSettings:
    """The node's instance: the pool's secrets, the node's address and ports."""
    return JanusSettings(
        folder(t, node),
        t.janus_api_secret,
        t.janus_admin_key,
        ws_port=node.janus_port,
        ws_ip=node.janus_host,
        rtp_ports=node.janus_rtp,
        ice_enforce_list=(NODE_INTERFACE,) if node.namespace is not None else (),
        event_loops=JANUS_EVENT_LOOPS,
    )


def argv(t: Topology, node: Node) -> list[str]:
    """Janus in the node's namespace (`ip netns exec` execs it: the id kept is Janus's)."""
    return [*netns.exec_prefix(node), *process.command(settings(t, node))]


def answering(t: Topology, node: Node) -> bool:
    """The instance answers on its API and takes the pool's secret."""
    return process.probe(settings(t, node), timeout_s=1.0) is not None

"""The deployment's Janus pool as laid out and configured, without starting it (docs/operations.md#the-janus-pool)."""

from __future__ import annotations

import itertools
import stat
from pathlib import Path

import pytest

from homeroom.av import janusconfig, process
from homeroom.config import load_settings
from homeroom.deploy import januspool, netns
from homeroom.deploy.topology import RTP_PORTS, Mode, Topology, plan
from tests.unit.test_janus_config import INSTALLED


def topology(tmp_path: Path, mode: Mode = "netns", nodes: int = 3, av: bool = True) -> Topology:
    counter = itertools.count(21_000)
    return plan(tmp_path, mode, lambda: next(counter), nodes=nodes, subnet_octet=7, av=av)


@pytest.mark.parametrize("nodes", [1, 2, 3, 8])
def test_each_instance_has_its_own_media_ports_inside_janus_s_range(
    tmp_path: Path, nodes: int
) -> None:
    t = topology(tmp_path, nodes=nodes)
    ranges = sorted(n.janus_rtp for n in t.nodes)
    assert ranges[0][0] == RTP_PORTS[0] and ranges[-1][1] <= RTP_PORTS[1]
    for (low, high), (next_low, _) in itertools.pairwise(ranges):
        assert low < high < next_low  # a range each, none shared
    assert all(high - low >= 2000 for low, high in ranges)  # a port a PeerConnection


def test_every_gateway_gets_the_whole_pool_and_its_secrets(tmp_path: Path) -> None:
    t = topology(tmp_path)
    urls = [f"ws://10.213.7.{11 + i}:{n.janus_port}" for i, n in enumerate(t.nodes)]
    assert t.janus_urls == urls
    for node in t.nodes:
        env = t.env(node)
        assert env["HOMEROOM_JANUS_URLS"] == ",".join(urls)
        settings = load_settings(**{k.removeprefix("HOMEROOM_").lower(): v for k, v in env.items()})
        assert settings.janus_urls == urls
        assert settings.janus_api_secret is not None and settings.janus_admin_key is not None
        assert settings.janus_api_secret.get_secret_value() == t.janus_api_secret
        assert settings.janus_admin_key.get_secret_value() == t.janus_admin_key
    assert len({t.janus_api_secret, t.janus_admin_key}) == 2
    assert min(len(t.janus_api_secret), len(t.janus_admin_key)) >= 16
    # another deployment has secrets of its own
    assert topology(tmp_path).janus_api_secret != t.janus_api_secret


def test_without_av_there_is_no_pool_and_no_janus_setting(tmp_path: Path) -> None:
    t = topology(tmp_path, av=False)
    assert t.janus_urls == [] and not t.janus_api_secret
    assert all(n.janus_port == 0 for n in t.nodes)
    assert not any(k.startswith("HOMEROOM_JANUS") for k in t.env(t.nodes[0]))


def test_the_pool_survives_the_topology_s_json_which_only_its_owner_reads(tmp_path: Path) -> None:
    t = topology(tmp_path)
    assert Topology.from_json(t.to_json()) == t
    t.save()
    saved = tmp_path / "topology.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert Topology.load(tmp_path) == t
    used = [t.haproxy_port, t.stats_port, t.pgbouncer_port, *t.redis_ports]
    for n in t.nodes:
        used += [n.http_port, n.agent_port, *n.live_ports, n.live_agent_port, n.live_health_port]
        used.append(n.janus_port)
    assert len(used) == len(set(used))


def test_an_older_topology_without_the_pool_still_loads(tmp_path: Path) -> None:
    t = topology(tmp_path, av=False)
    text = t.to_json()
    for gone in ('"janus_port": 0,', '"janus_rtp": [\n        0,\n        0\n      ]'):
        assert gone in text
    older = text.replace(
        ',\n      "janus_port": 0,\n      "janus_rtp": [\n        0,\n        0\n      ]', ""
    )
    assert "janus_rtp" not in older
    assert Topology.from_json(older) == t


def test_a_node_s_janus_listens_on_the_node_alone_and_gathers_on_its_veth(
    tmp_path: Path,
) -> None:
    t = topology(tmp_path)
    node = t.nodes[1]
    s = januspool.settings(t, node)
    assert (s.ws_ip, s.ws_port, s.rtp_ports) == (node.address, node.janus_port, node.janus_rtp)
    assert s.admin_ws_port is None and s.admin_secret is None
    assert s.ice_enforce_list == ("eth0",)  # the node's end of its veth, in its namespace
    assert s.event_loops > 0
    files = janusconfig.render(s, INSTALLED)
    ws = files[janusconfig.WEBSOCKETS]
    assert f'ws_ip = "{node.address}"' in ws and "admin_ws = false" in ws
    assert (
        f'rtp_port_range = "{node.janus_rtp[0]}-{node.janus_rtp[1]}"' in files[janusconfig.CONFIG]
    )
    argv = januspool.argv(t, node)
    assert argv[:4] == [netns.IP, "netns", "exec", node.namespace]
    assert argv[5:7] == ["-C", str(januspool.folder(t, node) / janusconfig.CONFIG)]
    assert januspool.folder(t, node).parent == tmp_path.resolve()


def test_loopback_nodes_gather_on_the_machine_s_addresses(tmp_path: Path) -> None:
    t = topology(tmp_path, "loopback")
    s = januspool.settings(t, t.nodes[0])
    # 127.0.0.11 is held by no interface: told it, Janus would listen on every interface
    assert s.ws_ip == "127.0.0.1" and t.janus_urls[0] == f"ws://127.0.0.1:{s.ws_port}"
    assert len(set(t.janus_urls)) == 3
    # Janus never gathers on loopback, and ignores an enforce list naming a loopback address
    assert s.ice_enforce_list == ()
    assert januspool.argv(t, t.nodes[0])[0].endswith("janus")


def test_a_janus_listening_on_every_interface_is_refused(tmp_path: Path) -> None:
    s = januspool.settings(topology(tmp_path, "loopback"), topology(tmp_path).nodes[0])
    log = "[WARN] No interface associated with 10.213.7.11? Falling back to no interface...\n"
    with pytest.raises(process.JanusStartError, match="every interface"):
        process.refuse_wide_listen(s, f"Loading transport plugin...\n{log}")
    process.refuse_wide_listen(s, "Websockets server started (port 21000)...\n")

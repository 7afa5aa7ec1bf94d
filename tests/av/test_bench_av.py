"""`make bench-av`'s pieces at a tiny scale: aiortc pupils receive an aiortc teacher through the real Janus.

The bench's own code (bench/av_bench.py `clients`, bench/av_clients.py) runs as the bench runs
it: Janus on homeroom's configuration with its API on the veth's private address, the clients in
a network namespace joined by a veth pair, pinned to a core. Two pupils, one step, a window of
two seconds: every pupil decodes a first frame, and video and audio packets arrive, counted by
the pupils themselves. Figures are the bench's business, not asserted here.
"""

from __future__ import annotations

from typing import Any

import pytest
from bench.av_bench import clients

from tests.av_network import client_namespace
from tests.janus_servers import janus_instance

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def one_step(room: int, size: str | None, kbps: int) -> dict[str, Any]:
    """Janus and the namespace as the bench makes them; two pupils join in one step."""
    with (
        client_namespace() as net,
        janus_instance(
            ws_ip=net.host_address, ice_enforce_list=(net.host_end,), rtp_ports=(44_000, 44_999)
        ) as janus,
    ):
        [row] = clients(net, janus, room, size, kbps, [2], window_s=2.0, budget_s=60)
    return row


def test_two_aiortc_pupils_receive_a_180p_teacher_through_janus() -> None:
    row = one_step(7101, "180p", 150)
    assert row["pupils"] == 2 and row["joins"] == 2
    assert all(ms is not None and ms > 0 for ms in row["first_frame_ms"])
    assert row["video_packets"] > 0 and row["audio_packets"] > 0
    assert row["janus_cores"] > 0 and row["client_cores"] > 0 and row["silent_pupils"] == 0
    assert row["rx_kbps"] > 0  # the media crossed the veth into the namespace


def test_two_aiortc_pupils_hear_an_audio_only_teacher_through_janus() -> None:
    row = one_step(7102, None, 0)
    assert row["pupils"] == 2
    assert row["audio_packets"] > 0 and row["video_packets"] == 0
    assert row["first_frame_ms"] == [None, None]  # no video to decode

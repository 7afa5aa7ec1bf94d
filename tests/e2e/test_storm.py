"""A small reconnect storm: 2,000 recorded clients, every gateway worker killed (-9) at once.

The storm of `make bench-storm` (bench/storm_bench.py) at a tenth of its size, with the servers
it starts (redis-server, `homeroom run`, `homeroom live` with two workers on one port) and its
clients (bench/storm_clients.py, three processes). Nothing about time is asserted: every
client is back, nothing is lost or doubled (the audit of every record), and every process
stayed within its memory bound. The figures are the bench's.
"""

from __future__ import annotations

import pytest
from bench.storm_bench import BOUNDS_MB, Storm, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_after_a_storm_every_client_is_back_and_nothing_was_lost_or_doubled() -> None:
    storm = Storm(clients=2_000, gateways=2, client_procs=2, back_deadline_s=180, settle_s=120)
    outcome = run(storm)
    figures, report = outcome.figures, outcome.report
    assert figures["storm_clients"] == 2_000
    assert figures["storm_killed_gateways"] == 2
    assert outcome.all_back and figures["storm_back"] == 2_000
    assert figures["storm_settled"]
    assert report is not None
    assert report.ok, (report.summary(), report.findings)
    assert report.clients == 2_000 and report.messages > 0
    # each client's record holds the cut (1006, no close frame) and the way back
    assert figures["storm_cut"] == 2_000
    assert all(figures["storm_rss_mb"][kind] <= bound for kind, bound in BOUNDS_MB.items())

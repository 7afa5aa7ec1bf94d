"""Prometheus metrics of the gates, read from their runtimes at scrape time (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from homeroom.gate.runtime import GateRuntime


class GateCollector(Collector):
    def __init__(self, runtimes: Mapping[str, GateRuntime]) -> None:
        self.runtimes = runtimes

    def collect(self) -> Iterable[Metric]:
        waiting = GaugeMetricFamily(
            "homeroom_gate_waiting", "People waiting", labels=["gate", "lane"]
        )
        horizon = GaugeMetricFamily(
            "homeroom_gate_horizon", "Admitted horizon", labels=["gate", "lane"]
        )
        issued_n = GaugeMetricFamily(
            "homeroom_gate_issued_number", "Highest ticket number", labels=["gate", "lane"]
        )
        active = GaugeMetricFamily(
            "homeroom_gate_active_passes", "Active passes", labels=["gate", "lane"]
        )
        capacity = GaugeMetricFamily(
            "homeroom_gate_capacity", "Effective capacity", labels=["gate"]
        )
        rate = GaugeMetricFamily(
            "homeroom_gate_admissions_per_second",
            "Admissions a second (controller)",
            labels=["gate"],
        )
        degraded = GaugeMetricFamily(
            "homeroom_gate_degraded", "1 while the backend is away", labels=["gate"]
        )
        issued = CounterMetricFamily(
            "homeroom_gate_tickets_issued",
            "Tickets issued by this process",
            labels=["gate", "lane"],
        )
        redeemed = CounterMetricFamily(
            "homeroom_gate_tickets_redeemed",
            "Tickets redeemed by this process",
            labels=["gate", "lane"],
        )
        refused = CounterMetricFamily(
            "homeroom_gate_refused", "Requests refused, by reason", labels=["gate", "reason"]
        )
        pending = GaugeMetricFamily(
            "homeroom_gate_pending_leaves",
            "Passes given back while the store was away, not uncounted yet",
            labels=["gate"],
        )
        deferred = CounterMetricFamily(
            "homeroom_gate_leaves_deferred",
            "Passes given back while the store was away (uncounted later)",
            labels=["gate"],
        )
        late = CounterMetricFamily(
            "homeroom_gate_leaves_late",
            "Deferred passes uncounted once the store was back",
            labels=["gate"],
        )
        checks = CounterMetricFamily(
            "homeroom_gate_checks",
            "Pass checks of the proxies answered by this process: valid, renewed, or why refused",
            labels=["gate", "answer"],
        )
        at_door = CounterMetricFamily(
            "homeroom_gate_checks_at_door",
            "Of those, answered as soon as the request head was read (no ASGI task)",
            labels=["gate"],
        )
        for gate, rt in self.runtimes.items():
            for answer, count in sorted(rt.stats.checks.items()):
                checks.add_metric([gate, answer], count)
            at_door.add_metric([gate], rt.stats.checks_at_door)
            for lane, c in rt.counters.items():
                labels = [gate, lane.value]
                waiting.add_metric(labels, max(0, c.issued - c.horizon))
                horizon.add_metric(labels, c.horizon)
                issued_n.add_metric(labels, c.issued)
                active.add_metric(labels, c.active)
                issued.add_metric(labels, rt.stats.issued[lane])
                redeemed.add_metric(labels, rt.stats.redeemed[lane])
            for reason, count in sorted(rt.stats.refused.items()):
                refused.add_metric([gate, reason], count)
            capacity.add_metric([gate], rt.capacity)
            rate.add_metric([gate], rt.stats.admitted_per_s)
            degraded.add_metric([gate], 1 if rt.degraded else 0)
            pending.add_metric([gate], len(rt.pending_leaves))
            deferred.add_metric([gate], rt.stats.leaves_deferred)
            late.add_metric([gate], rt.stats.leaves_late)
        yield from (
            waiting,
            horizon,
            issued_n,
            active,
            capacity,
            rate,
            degraded,
            issued,
            redeemed,
            refused,
            pending,
            deferred,
            late,
            checks,
            at_door,
        )


def registry_for(runtimes: Mapping[str, GateRuntime]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GateCollector(runtimes))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)

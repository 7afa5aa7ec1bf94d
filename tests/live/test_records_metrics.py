"""What a gateway's /metrics says of its records while the database is away: queued, the bound,
and what the bound dropped (docs/operations.md#when-a-store-is-away)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from homeroom.live.records import DatabaseRecorder, RecordsCollector
from tests.live.test_records import chat, record


def test_the_queue_and_what_its_bound_dropped_are_on_metrics() -> None:
    recorder = DatabaseRecorder(None, capacity=3)  # type: ignore[arg-type]  # never writes
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordsCollector(recorder, process="p1"))
    for seq in range(1, 6):
        record(recorder, chat(1, seq, 1))
    text = generate_latest(registry).decode()
    assert 'homeroom_live_records_queued{process="p1"} 3.0' in text
    assert 'homeroom_live_records_capacity{process="p1"} 3.0' in text
    assert 'homeroom_live_records_dropped_total{process="p1"} 2.0' in text
    assert 'homeroom_live_records_written_total{process="p1"} 0.0' in text

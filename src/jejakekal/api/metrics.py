"""Prometheus metrics, read from the fleet read model at each scrape.

A custom collector rather than counters kept in memory: every process of a fleet (an
API in front of separate workers, several APIs) answers the same numbers, because they
come from the shared database, not from what this process happened to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from jejakekal.domain.fleet import STEP_BUCKETS_S, Fleet

# The classic text format, which `generate_latest` writes: every Prometheus reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class FleetCollector:
    """Turns one reading of the fleet into metric families."""

    def __init__(self, read: Callable[[], Fleet]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        fleet = self.read()
        yield _runs(fleet)
        yield _queues(fleet)
        yield GaugeMetricFamily(
            "jejakekal_workers_alive",
            "Workers (of any version) whose heartbeat is younger than the dead-after bound.",
            value=fleet.workers_alive,
        )
        yield _heartbeats(fleet)
        yield GaugeMetricFamily(
            "jejakekal_open_gates",
            "Gates a waiting run asks a human to answer.",
            value=fleet.open_gates.count,
        )
        yield GaugeMetricFamily(
            "jejakekal_open_gate_oldest_age_seconds",
            "How long the oldest open gate has waited; 0 when none is open.",
            value=fleet.open_gates.oldest_age_s or 0.0,
        )
        yield _step_durations(fleet)


def _runs(fleet: Fleet) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jejakekal_runs",
        "Runs by kind and the status their view shows.",
        labels=["kind", "status"],
    )
    for count in fleet.runs:
        family.add_metric([count.kind.value, count.status], count.count)
    return family


def _queues(fleet: Fleet) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jejakekal_queue_depth",
        "Workflows on each DBOS queue: enqueued (waiting for a worker) or pending (taken).",
        labels=["queue", "status"],
    )
    for depth in fleet.queues:
        family.add_metric([depth.queue, "enqueued"], depth.enqueued)
        family.add_metric([depth.queue, "pending"], depth.pending)
    return family


def _heartbeats(fleet: Fleet) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jejakekal_worker_heartbeat_age_seconds",
        "Seconds since each worker's last heartbeat (workers that shut down cleanly are left out).",
        labels=["worker"],
    )
    for worker in fleet.workers:
        if worker.age_s is not None:
            family.add_metric([worker.executor_id], worker.age_s)
    return family


def _step_durations(fleet: Fleet) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "jejakekal_step_duration_seconds",
        f"Durations of the last {fleet.step_sample} completed steps (at most), by step name.",
        labels=["step"],
    )
    for step in fleet.steps:
        bounds = [(str(b), float(n)) for b, n in zip(STEP_BUCKETS_S, step.buckets, strict=True)]
        family.add_metric([step.step], [*bounds, ("+Inf", float(step.count))], step.sum_s)
    return family


def exposition(read: Callable[[], Fleet]) -> bytes:
    """The text exposition of the fleet as read now (blocking: call off the event loop)."""
    return generate_latest(FleetCollector(read))

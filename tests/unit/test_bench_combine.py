"""`bench throughput --repeat`: repeated measurements of one setup become one result."""

from __future__ import annotations

from jejakekal.bench.results import PathFigures, ThroughputMeasurement
from jejakekal.bench.throughput import combine


def _measurement(
    ours_p50: float, bare_p50: float, ours_rate: float, bare_rate: float
) -> ThroughputMeasurement:
    def path(p50: float, rate: float) -> PathFigures:
        return {
            "latency_p50_ms": p50,
            "latency_p95_ms": p50 * 2,
            "latency_mean_ms": p50,
            "runs_per_sec": rate,
        }

    return {
        "db": "postgresql",
        "runs": 10,
        "concurrency": 4,
        "worker_processes": 0,
        "rounds": 8,
        "batch": 4,
        "queue_poll_sec": 0.05,
        "ours": path(ours_p50, ours_rate),
        "bare_dbos": path(bare_p50, bare_rate),
        "latency_p50_ratio": round(ours_p50 / bare_p50, 3),
        "throughput_ratio": round(bare_rate / ours_rate, 3),
    }


def test_figures_and_ratios_are_medians_of_the_repeats_and_every_repeat_is_kept() -> None:
    measurements = [
        _measurement(100, 80, 20, 25),  # ratios 1.25, 1.25
        _measurement(150, 100, 10, 16),  # ratios 1.5, 1.6: a noisy repeat
        _measurement(90, 85, 22, 24),  # ratios 1.059, 1.091
    ]
    result = combine(measurements)

    assert result["repeats"] == 3
    assert result["measurements"] == measurements
    assert result["ours"]["latency_p50_ms"] == 100
    assert result["bare_dbos"]["runs_per_sec"] == 24
    # Each repeat's own ratio (both paths from one process), not a ratio of the medians
    # (100 / 85 and 24 / 20 here).
    assert result["latency_p50_ratio"] == 1.25
    assert result["throughput_ratio"] == 1.25
    assert result["db"] == "postgresql"


def test_one_measurement_is_reported_as_it_is() -> None:
    only = _measurement(120, 100, 15, 18)
    result = combine([only])

    assert result["latency_p50_ratio"] == only["latency_p50_ratio"]
    assert result["ours"] == only["ours"]
    assert result["repeats"] == 1

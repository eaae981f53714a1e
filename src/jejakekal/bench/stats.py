"""Percentiles as the benches report them (nearest rank on the sorted samples)."""

from __future__ import annotations

import statistics

from jejakekal.bench.results import Latency


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(seconds: list[float]) -> Latency:
    return {
        "p50_ms": round(percentile(seconds, 0.5) * 1000, 2),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 2),
    }

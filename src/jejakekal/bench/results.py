"""The shapes of bench results: what each bench measures, as written to `.cache/bench/*.json`.

TypedDicts, not dataclasses: a result crosses a process pool and is written as JSON
exactly as built, and `bench check` reads the files back by key.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Latency(TypedDict):
    """Milliseconds over a sample of requests (`stats.summary`)."""

    p50_ms: float
    p95_ms: float
    mean_ms: float


class PathFigures(TypedDict):
    """One path of `bench throughput` (ours or bare DBOS)."""

    latency_p50_ms: float
    latency_p95_ms: float
    latency_mean_ms: float
    runs_per_sec: float


class ThroughputMeasurement(TypedDict):
    db: str
    runs: int
    concurrency: int
    worker_processes: int
    rounds: int
    batch: int
    queue_poll_sec: float
    ours: PathFigures
    bare_dbos: PathFigures
    latency_p50_ratio: float
    throughput_ratio: float


class ThroughputResult(ThroughputMeasurement):
    """Repeated measurements of one setup: medians, and every repeat kept."""

    repeats: int
    measurements: list[ThroughputMeasurement]


class IngestFloor(TypedDict):
    in_process: Latency
    bare_dbos: Latency
    p50_ratio: float
    queues: str | None


class PagesResult(TypedDict):
    """Uploaded PDFs to `done`, one at a time (`bench ingest`)."""

    runs: int
    pages: int
    pages_per_sec: float
    ms_per_page: float
    p50_run_ms: float


class IngestResult(Latency):
    db: str
    runs: int
    sleep_ms: int
    queues: str | None
    floor: NotRequired[IngestFloor]  # measured in a process of its own, then added
    pdf: NotRequired[PagesResult]  # a PDF's text layer
    ocr: NotRequired[PagesResult]  # the same pages scanned, read by OCR


class ResumeResult(Latency):
    db: str
    runs: int


class UiResult(Latency):
    db: str
    samples: int
    runs_listed: int
    cache: str
    warm_cache: Latency


class QueryResult(Latency):
    db: str
    seeded_runs: int
    seeded_chunks: int
    samples: int
    queues: str | None
    search: Latency
    run_view: Latency


class HealthzPhase(TypedDict):
    healthz_samples: int
    healthz_p50_ms: float
    healthz_p99_ms: float
    cpu_cores: float


class LongpollResult(TypedDict):
    db: str
    api: str
    waiters: int
    seconds: float
    wait_ms: int
    queues: str | None
    idle: HealthzPhase
    waiting: HealthzPhase
    healthz_p50_ms: float
    healthz_p99_ms: float
    extra_cpu_cores: float
    long_poll_replies: int


HttpLatencyResult = IngestResult | ResumeResult | UiResult

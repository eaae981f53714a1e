"""Intent runs against bare DBOS, same process, same database, same queue polling.

Latency: one run at a time, start request to the engine's SUCCESS. Throughput: `runs`
runs started from `concurrency` threads, first start to last SUCCESS. Both paths are
observed by the same status query, so the ratio compares the workflows, not the probes.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dbos import DBOS, SetWorkflowID

from jejakekal.bootstrap import Kernel, build_kernel
from jejakekal.config import Settings
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.storage.readmodels import engine_status

PROBE_SEC = 0.002


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _wait_success(kernel: Kernel, workflow_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with kernel.engine.connect() as conn:
            row = engine_status(conn, workflow_id)
        if row and row["status"] == "SUCCESS":
            return
        if row and row["status"] in ("ERROR", "CANCELLED"):
            raise RuntimeError(f"{workflow_id} ended {row['status']}")
        time.sleep(PROBE_SEC)
    raise TimeoutError(f"{workflow_id} did not finish in {timeout}s")


def _new_intent(kernel: Kernel) -> str:
    return kernel.control.create_intent(IntentCreate(goal="bench run", inputs={}, constraints={}))


def _ours(kernel: Kernel, intent_id: str) -> float:
    """Start a run of an existing intent (intents are inputs, made before the clock)."""
    started = time.perf_counter()
    run = kernel.control.start_intent_run(intent_id, RunRequest())
    _wait_success(kernel, run.workflow_id)
    return time.perf_counter() - started


def _bare(kernel: Kernel, _: str) -> float:
    from jejakekal.workflows.bench import BARE_QUEUE, bench_bare

    queue = DBOS.retrieve_queue(BARE_QUEUE)
    assert queue is not None
    workflow_id = f"bare-{uuid.uuid4().hex}"
    started = time.perf_counter()
    with SetWorkflowID(workflow_id):
        queue.enqueue(bench_bare, "bench run")
    _wait_success(kernel, workflow_id)
    return time.perf_counter() - started


def _measure(kernel: Kernel, one: Any, runs: int, concurrency: int) -> dict[str, float]:
    intents = (
        [_new_intent(kernel) for _ in range(2 * runs + 1)]
        if one is _ours
        else [""] * (2 * runs + 1)
    )
    one(kernel, intents.pop())  # warm-up: first queue poll, connection pool, imports
    latencies = [one(kernel, intents.pop()) for _ in range(runs)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda intent: one(kernel, intent), intents))
    elapsed = time.perf_counter() - started
    return {
        "latency_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "latency_p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "runs_per_sec": round(runs / elapsed, 2),
    }


def measure_backend(settings: Settings, runs: int, concurrency: int) -> dict[str, Any]:
    import jejakekal.workflows.bench  # noqa: F401  (registers the baseline before launch)
    from jejakekal.workflows.bench import BARE_NODE_QUEUE, BARE_QUEUE

    kernel = build_kernel(settings, "full")
    try:
        for name in (BARE_QUEUE, BARE_NODE_QUEUE):
            DBOS.register_queue(name, polling_interval_sec=settings.queue_poll_sec)
        ours = _measure(kernel, _ours, runs, concurrency)
        bare = _measure(kernel, _bare, runs, concurrency)
    finally:
        kernel.close()
    return {
        "db": kernel.db_kind,
        "runs": runs,
        "concurrency": concurrency,
        "queue_poll_sec": settings.queue_poll_sec,
        "ours": ours,
        "bare_dbos": bare,
        "latency_p50_ratio": round(ours["latency_p50_ms"] / bare["latency_p50_ms"], 3),
        "throughput_ratio": round(bare["runs_per_sec"] / ours["runs_per_sec"], 3),
    }


def scratch_sqlite_url() -> str:
    folder = Path(tempfile.mkdtemp(prefix="jejakekal-bench-"))
    return f"sqlite:///{folder / 'bench.sqlite'}"

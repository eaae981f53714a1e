"""Intent runs against bare DBOS, same process, same database, same queue polling.

Latency: one run at a time, start request to the engine's SUCCESS. Throughput: batches
of runs started from `concurrency` threads, first start to last SUCCESS, watched by one
observer. Both paths are observed by the same status query, so the ratio compares the
workflows, not the probes, and they alternate, so a noisy neighbour slows both alike.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dbos import EnqueueOptions

from jejakekal.bench.results import PathFigures, ThroughputMeasurement, ThroughputResult
from jejakekal.bench.stats import percentile
from jejakekal.bootstrap import Kernel, build_kernel
from jejakekal.config import Settings
from jejakekal.domain import names
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.workflows.bench import WF_BARE

LATENCY_PROBE_SEC = 0.002  # one run at a time: a fine probe costs little
BATCH_PROBE_SEC = 0.01  # one observer for a whole batch, so it does not compete for CPU


class StatusProbe:
    """Engine statuses of workflows, read by one plain DBAPI query.

    The observer shares the process (and its GIL) with the workflows it times. Through
    SQLAlchemy a probe cost about a millisecond of interpreter time, every 2 ms, which
    slowed both paths by a third; a prepared DBAPI statement costs tens of microseconds.
    """

    def __init__(self, kernel: Kernel) -> None:
        sqlite = kernel.db_kind == "sqlite"
        self._table = "workflow_status" if sqlite else "dbos.workflow_status"
        self._mark = "?" if sqlite else "%s"
        self._conn = kernel.db.engine.raw_connection()

    def statuses(self, workflow_ids: list[str]) -> dict[str, str]:
        # Only the table name (a constant) and placeholders are formatted in; ids are bound.
        marks = ", ".join([self._mark] * len(workflow_ids))
        query = f"SELECT workflow_uuid, status FROM {self._table} WHERE workflow_uuid IN ({marks})"  # noqa: S608
        cursor = self._conn.cursor()
        try:
            cursor.execute(query, workflow_ids)
            rows = cursor.fetchall()
        finally:
            cursor.close()
            self._conn.rollback()  # end the read, so PostgreSQL sees no idle transaction
        return {row[0]: row[1] for row in rows}

    def close(self) -> None:
        self._conn.close()


def _wait_success(probe: StatusProbe, workflow_ids: list[str], probe_sec: float) -> None:
    """Return when every workflow is SUCCESS; one status query per probe."""
    deadline = time.monotonic() + 60.0 + len(workflow_ids)
    pending = set(workflow_ids)
    while pending and time.monotonic() < deadline:
        for workflow_id, status in probe.statuses(sorted(pending)).items():
            if status == "SUCCESS":
                pending.discard(workflow_id)
            elif status in ("ERROR", "CANCELLED"):
                raise RuntimeError(f"{workflow_id} ended {status}")
        if pending:
            time.sleep(probe_sec)
    if pending:
        raise TimeoutError(f"{len(pending)} workflow(s) did not finish in time")


def _new_intent(kernel: Kernel) -> str:
    return kernel.control.create_intent(IntentCreate(goal="bench run", inputs={}, constraints={}))


def _start_ours(kernel: Kernel, intent_id: str) -> str:
    """Start a run of an existing intent (intents are inputs, made before the clock)."""
    return kernel.control.start_intent_run(intent_id, RunRequest()).workflow_id


def _start_bare(kernel: Kernel, _: str) -> str:
    """Enqueue the baseline by name, as a client: the same call wherever workers run."""
    workflow_id = f"bare-{uuid.uuid4().hex}"
    options: EnqueueOptions = {
        "workflow_name": WF_BARE,
        "queue_name": names.INTENT_QUEUE,
        "workflow_id": workflow_id,
        "app_version": kernel.settings.app_version,
    }
    kernel.control.client.enqueue(options, "bench run")
    return workflow_id


Start = Callable[[Kernel, str], str]  # starts one run of an input: its workflow id


def _latency(kernel: Kernel, probe: StatusProbe, start: Start, item: str) -> float:
    started = time.perf_counter()
    _wait_success(probe, [start(kernel, item)], LATENCY_PROBE_SEC)
    return time.perf_counter() - started


# Throughput batches per path, alternated so drift hits both paths alike. One batch's
# rate varies up to 2x from the next on this kind of machine; eight give a stable median.
ROUNDS = 8


def _throughput(
    kernel: Kernel, probe: StatusProbe, start: Start, inputs: list[str], concurrency: int
) -> float:
    """Runs per second: `concurrency` threads start the batch, one observer sees it end."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        workflow_ids = list(pool.map(lambda item: start(kernel, item), inputs))
    _wait_success(probe, workflow_ids, BATCH_PROBE_SEC)
    return len(inputs) / (time.perf_counter() - started)


def _summary(latencies: list[float], rates: list[float]) -> PathFigures:
    return {
        "latency_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "latency_p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "runs_per_sec": round(statistics.median(rates), 2),
    }


def measure_backend(
    settings: Settings, runs: int, concurrency: int, workers: int = 0, rounds: int = ROUNDS
) -> ThroughputMeasurement:
    """Both paths, interleaved: latency samples alternate run by run, throughput batches
    alternate round by round, and each figure is a median.

    With `workers` = 0 this process runs the workflows itself (the `serve` setup); with
    N > 0 it only starts runs, as an API-only process would, and N `jejakekal worker`
    processes execute them.
    """
    if workers:
        fleet = WorkerFleet(settings, workers)
        kernel = build_kernel(settings, "shim")
        fleet.wait_live(kernel)
    else:
        fleet = None
        kernel = build_kernel(settings, "full")
    probe = StatusProbe(kernel)
    batch = max(concurrency, runs // 4)
    try:
        ours, bare = _alternate(kernel, probe, runs, rounds, batch, concurrency)
    finally:
        probe.close()
        kernel.close()
        if fleet is not None:
            fleet.stop()
    return {
        "db": kernel.db_kind,
        "runs": runs,
        "concurrency": concurrency,
        "worker_processes": workers,
        "rounds": rounds,
        "batch": batch,
        "queue_poll_sec": settings.queue_poll_sec,
        "ours": ours,
        "bare_dbos": bare,
        "latency_p50_ratio": round(ours["latency_p50_ms"] / bare["latency_p50_ms"], 3),
        "throughput_ratio": round(bare["runs_per_sec"] / ours["runs_per_sec"], 3),
    }


def _alternate(
    kernel: Kernel, probe: StatusProbe, runs: int, rounds: int, batch: int, concurrency: int
) -> tuple[PathFigures, PathFigures]:
    """The figures of both paths, ours then bare DBOS, measured turn about."""
    # Intents are inputs of a run, made before any clock starts.
    intents = [_new_intent(kernel) for _ in range(runs + rounds * batch + 1)]
    # Warm-up: first queue poll, connection pool, imports.
    _latency(kernel, probe, _start_ours, intents.pop())
    _latency(kernel, probe, _start_bare, "")
    latency: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(runs):
        latency["ours"].append(_latency(kernel, probe, _start_ours, intents.pop()))
        latency["bare"].append(_latency(kernel, probe, _start_bare, ""))
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(rounds):
        goals = [""] * batch
        rates["bare"].append(_throughput(kernel, probe, _start_bare, goals, concurrency))
        mine = [intents.pop() for _ in range(batch)]
        rates["ours"].append(_throughput(kernel, probe, _start_ours, mine, concurrency))
    return (
        _summary(latency["ours"], rates["ours"]),
        _summary(latency["bare"], rates["bare"]),
    )


def combine(measurements: list[ThroughputMeasurement]) -> ThroughputResult:
    """Repeated measurements of one setup as one result: each figure is the median of the
    repeats, each ratio the median of the repeats' own ratios (both paths of a ratio
    were measured in the same process, alternating), and every repeat is kept.

    On a shared machine one measurement's ratio can move by a fifth from the next, with
    the same code; the median of several is what a target can be held against.
    """

    def median(values: list[float], digits: int) -> float:
        return round(statistics.median(values), digits)

    def path(figures: list[PathFigures]) -> PathFigures:
        return {
            "latency_p50_ms": median([f["latency_p50_ms"] for f in figures], 2),
            "latency_p95_ms": median([f["latency_p95_ms"] for f in figures], 2),
            "latency_mean_ms": median([f["latency_mean_ms"] for f in figures], 2),
            "runs_per_sec": median([f["runs_per_sec"] for f in figures], 2),
        }

    return {
        **measurements[0],
        "ours": path([m["ours"] for m in measurements]),
        "bare_dbos": path([m["bare_dbos"] for m in measurements]),
        "latency_p50_ratio": median([m["latency_p50_ratio"] for m in measurements], 3),
        "throughput_ratio": median([m["throughput_ratio"] for m in measurements], 3),
        "repeats": len(measurements),
        "measurements": measurements,
    }


class WorkerFleet:
    """N `jejakekal worker` processes on the bench's database and app version."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.ids = [f"bench-worker-{n}-{uuid.uuid4().hex[:6]}" for n in range(count)]
        env = {
            **os.environ,
            "JEJAKEKAL_DATABASE_URL": settings.resolved_database_url,
            "JEJAKEKAL_HOME": str(settings.home),
            "JEJAKEKAL_QUEUE_POLL_SEC": str(settings.queue_poll_sec),
            "DBOS__APPVERSION": settings.app_version,
        }
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "jejakekal.cli.main", "worker"],
                env={**env, "JEJAKEKAL_EXECUTOR_ID": executor_id},
                stdout=subprocess.DEVNULL,
            )
            for executor_id in self.ids
        ]

    def wait_live(self, kernel: Kernel, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while set(self.ids) - set(kernel.control.live_workers()):
            if time.monotonic() > deadline:
                raise TimeoutError("bench workers did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

"""`bench resume`: `POST /runs/{id}/resume` on a cancelled run to its next step starting
(README, "Current figures").

Each sample: a document run is cancelled during its durable sleep; once the sleep's
deadline has passed, the clock starts at the resume request and stops when the engine
records the start of the run's next step (`side-effect`). Client and server share the
host clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from jejakekal.bench.client import BenchClient
from jejakekal.bench.results import ResumeResult
from jejakekal.bench.server import api_process
from jejakekal.bench.stats import summary
from jejakekal.storage.engine import db_kind

SLEEP_MS = 200
WARMUP = 3


T = TypeVar("T")


def _wait(check: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.001)
    raise TimeoutError("the run did not get there in time")


def _op_started(client: BenchClient, run_id: str, name: str) -> int | None:
    for op in client.get(f"/runs/{run_id}").json()["timeline"]:
        if op["function_name"] == name:
            return int(op["started_at_epoch_ms"])
    return None


def resume_once(client: BenchClient, n: int) -> float:
    body = {"source": f"resume sample {n}", "sleepMs": SLEEP_MS}
    run_id = client.post("/runs", json=body).json()["run_id"]
    _wait(lambda: _op_started(client, run_id, "DBOS.sleep"))
    client.post(f"/runs/{run_id}/cancel").raise_for_status()
    _wait(lambda: client.get(f"/runs/{run_id}").json()["dbos_status"] == "CANCELLED")
    time.sleep(SLEEP_MS / 1000)  # past the sleep's deadline: the next step is due at once
    started_ms = time.time() * 1000
    client.post(f"/runs/{run_id}/resume").raise_for_status()
    next_step_ms: int = _wait(lambda: _op_started(client, run_id, "side-effect"))
    return max(0.0, (next_step_ms - started_ms) / 1000)


def measure(
    database_url: str, home: Path, runs: int, progress: Callable[[], object] | None = None
) -> ResumeResult:
    with api_process(database_url, home) as base, BenchClient(base) as client:
        for n in range(WARMUP):
            resume_once(client, -n - 1)
        latencies = []
        for n in range(runs):
            latencies.append(resume_once(client, n))
            if progress:
                progress()
    return {"db": db_kind(database_url), "runs": runs, **summary(latencies)}

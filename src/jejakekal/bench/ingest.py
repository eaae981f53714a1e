"""`bench ingest`: POST /runs (sleepMs=0) to a terminal `done`, over HTTP [BENCH].

The client learns the end by a long poll (`GET /runs/{id}?waitMs=`), as a UI or script
watching one run would, rather than by hammering the server it is timing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from jejakekal.bench.server import api_process
from jejakekal.bench.stats import summary

WARMUP = 5
DOCUMENT = (
    "# Ingest benchmark\n\nalpha beta gamma delta\n\n- one item [low]\n- two item\n\n"
    "A closing paragraph with a sentence. And another one.\n"
)


def ingest_once(client: httpx.Client, n: int) -> tuple[str, float]:
    """One document run, POST to `done` as a client sees it: (run id, seconds)."""
    started = time.perf_counter()
    reply = client.post("/runs", json={"source": f"{DOCUMENT}run {n}\n", "sleepMs": 0})
    reply.raise_for_status()
    run_id = reply.json()["run_id"]
    # A long poll: the server answers as soon as the run is no longer running.
    status = client.get(f"/runs/{run_id}", params={"waitMs": 30_000}).json()["status"]
    if status != "done":
        raise RuntimeError(f"run {run_id} ended {status}, not done")
    return run_id, time.perf_counter() - started


def measure(database_url: str, home: Path, runs: int, progress: Any = None) -> dict[str, Any]:
    with api_process(database_url, home) as base, httpx.Client(base_url=base) as client:
        for n in range(WARMUP):
            ingest_once(client, -n - 1)
        latencies = []
        for n in range(runs):
            latencies.append(ingest_once(client, n)[1])
            if progress:
                progress()
    return {"runs": runs, "sleep_ms": 0, **summary(latencies)}

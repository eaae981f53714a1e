"""Rendering of benchmark results; the measuring lives in `jejakekal.bench`."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from jejakekal.config import load_settings

RESULTS = Path(".cache/bench")


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def throughput(runs: int, urls: list[str], concurrency: int) -> None:
    from jejakekal.bench.throughput import measure_backend, scratch_sqlite_url

    console = Console()
    base = load_settings()
    results = []
    for url in urls or [scratch_sqlite_url()]:
        console.print(f"measuring {runs} runs on {url.split('@')[-1]} ...")
        settings = base.with_overrides(database_url=url)
        # A fresh process per backend: DBOS is a process-wide singleton, and threads of
        # a destroyed instance would otherwise share the CPU with the next measurement.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            results.append(pool.apply(measure_backend, (settings, runs, concurrency)))
    table = Table("db", "path", "p50 ms", "p95 ms", "runs/s")
    for r in results:
        for path in ("ours", "bare_dbos"):
            m = r[path]
            table.add_row(
                r["db"],
                path,
                str(m["latency_p50_ms"]),
                str(m["latency_p95_ms"]),
                str(m["runs_per_sec"]),
            )
        table.add_row(
            r["db"], "ratio", f"x{r['latency_p50_ratio']}", "", f"x{r['throughput_ratio']}"
        )
    console.print(table)
    written = write_result("throughput", {"results": results})
    console.print(f"written {written}")

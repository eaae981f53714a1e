"""`bench query`, `bench ui` and `bench resume` as an operator runs them, at tiny sizes,
on both backends: each exits 0 and writes its result where `bench check` reads it,
with the fields that file promises and figures a real run could give.

A few seconds each; the sizes the budgets judge are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from jejakekal.storage.engine import db_kind

LATENCY = {"p50_ms", "p95_ms", "mean_ms"}
# Far above any real figure on a loaded machine, far below a hang or a unit mix-up.
PLAUSIBLE_MS = 10_000.0


def _bench(tmp_path: Path, database_url: str, name: str, *args: str) -> dict[str, Any]:
    """`jejakekal bench NAME ARGS --db URL` in `tmp_path`: its one result, once it has
    exited 0 and left no scratch behind."""
    # A short temporary folder of its own: Chromium refuses a socket path over 107 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="jejakekal-test-"))
    home = tmp_path / "home"
    try:
        done = run_cli(
            tmp_path,
            "bench",
            name,
            *args,
            "--db",
            database_url,
            timeout=150,
            TMPDIR=str(scratch),
            JEJAKEKAL_HOME=str(home),
        )
        left = [p.name for p in scratch.iterdir() if p.name.startswith("jejakekal-")]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert left == []
    assert f"written .cache/bench/{name}.json" in done.stdout
    results = json.loads((tmp_path / f".cache/bench/{name}.json").read_text())["results"]
    assert len(results) == 1, results
    assert not home.exists()  # the operator's home was never touched
    result: dict[str, Any] = results[0]
    assert result["db"] == db_kind(database_url)
    return result


def _plausible(figures: dict[str, Any], *, floor: float = 0.0) -> None:
    assert set(figures) >= LATENCY, figures
    assert floor <= figures["p50_ms"] <= figures["p95_ms"] < PLAUSIBLE_MS, figures
    assert floor <= figures["mean_ms"] < PLAUSIBLE_MS, figures


@pytest.mark.timeout(180)
def test_bench_query_times_search_and_run_views_on_a_small_seeded_store(
    database_url: str, tmp_path: Path
) -> None:
    result = _bench(
        tmp_path,
        database_url,
        "query",
        "--samples",
        "5",
        "--seed-runs",
        "20",
        "--seed-chunks",
        "40",
    )

    assert set(result) == LATENCY | {
        "db",
        "seeded_runs",
        "seeded_chunks",
        "samples",
        "queues",
        "search",
        "run_view",
    }
    assert (result["seeded_runs"], result["seeded_chunks"], result["samples"]) == (20, 40, 5)
    assert result["queues"] in ("idle", "off", "busy")
    # Every sample is an HTTP round trip: none takes no time at all.
    for figures in (result, result["search"], result["run_view"]):
        _plausible(figures, floor=0.01)


@pytest.mark.timeout(180)
def test_bench_ui_times_first_and_returning_visits_in_chromium(
    database_url: str, tmp_path: Path
) -> None:
    result = _bench(tmp_path, database_url, "ui", "--runs", "2")

    assert set(result) == LATENCY | {"db", "samples", "runs_listed", "cache", "warm_cache"}
    assert (result["samples"], result["runs_listed"], result["cache"]) == (2, 5, "cold")
    # A page load parses HTML and renders a frame: a millisecond at the very least.
    _plausible(result, floor=1.0)
    _plausible(result["warm_cache"], floor=1.0)


@pytest.mark.timeout(180)
def test_bench_resume_times_a_cancelled_run_to_its_next_step(
    database_url: str, tmp_path: Path
) -> None:
    result = _bench(tmp_path, database_url, "resume", "--runs", "2")

    assert set(result) == LATENCY | {"db", "runs"}
    assert result["runs"] == 2
    # The engine stamps the step's start in whole milliseconds: a fast resume reads as 0.
    _plausible(result)

"""`bench throughput` times both paths to the end, on both backends (README, "Current figures").

Only what the figures stand on is checked here (every timed run really finished, on
the path it names); the figures themselves are reported by the bench, not asserted.
"""

from __future__ import annotations

from jejakekal.bench.throughput import measure_backend
from jejakekal.config import Settings
from jejakekal.domain import names
from jejakekal.storage.console import run_readonly
from jejakekal.workflows.bench import WF_BARE


def _count(settings: Settings, query: str) -> int:
    _, rows = run_readonly(settings.resolved_database_url, query)
    return int(rows[0][0])


def test_the_bench_times_runs_that_all_succeeded_on_each_path(settings: Settings) -> None:
    result = measure_backend(settings, runs=2, concurrency=2, rounds=2)

    # One warm-up run, the latency runs, then `rounds` batches, per path.
    per_path = 1 + 2 + 2 * result["batch"]
    assert _count(settings, "SELECT COUNT(*) FROM app.runs WHERE status = 'succeeded'") == per_path
    assert _count(settings, "SELECT COUNT(*) FROM app.runs") == per_path
    ours = f"SELECT COUNT(*) FROM dbos.workflow_status WHERE name = '{names.WF_RUN_INTENT}'"
    bare = f"SELECT COUNT(*) FROM dbos.workflow_status WHERE name = '{WF_BARE}'"
    assert _count(settings, ours + " AND status = 'SUCCESS'") == per_path
    assert _count(settings, bare + " AND status = 'SUCCESS'") == per_path
    # Each run's one node ran as a child workflow on sandboxQ, on both paths.
    children = (
        "SELECT COUNT(*) FROM dbos.workflow_status"
        f" WHERE queue_name = '{names.SANDBOX_QUEUE}' AND status = 'SUCCESS'"
    )
    assert _count(settings, children) == 2 * per_path
    for path in ("ours", "bare_dbos"):
        figures = result[path]
        assert figures["runs_per_sec"] > 0
        assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]

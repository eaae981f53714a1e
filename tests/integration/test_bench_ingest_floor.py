"""`bench ingest`'s floor times both in-process paths to the end, on both backends
(README, "Current figures").

As for `bench throughput`, only what the figures stand on is checked: every timed run
finished, on the path it names, and the bare path stored no document.
"""

from __future__ import annotations

from jejakekal.bench.ingest import WARMUP, measure_floor
from jejakekal.config import Settings
from jejakekal.domain import names
from jejakekal.storage.console import run_readonly
from jejakekal.workflows.bench import WF_BARE_DOC


def _count(settings: Settings, query: str) -> int:
    _, rows = run_readonly(settings.resolved_database_url, query)
    return int(rows[0][0])


def test_the_floor_times_document_runs_that_all_finished_on_each_path(settings: Settings) -> None:
    result = measure_floor(settings, runs=3)

    per_path = WARMUP + 3
    assert _count(settings, "SELECT COUNT(*) FROM app.runs WHERE status = 'done'") == per_path
    assert _count(settings, "SELECT COUNT(*) FROM app.runs") == per_path
    for workflow in (names.WF_DOC_INGEST, WF_BARE_DOC):
        finished = (
            "SELECT COUNT(*) FROM dbos.workflow_status"
            f" WHERE name = '{workflow}' AND status = 'SUCCESS'"
        )
        assert _count(settings, finished) == per_path, workflow
    # The bare path recorded DBOS's four operations per run, and kept no document.
    bare_ops = "SELECT COUNT(*) FROM dbos.operation_outputs WHERE workflow_uuid LIKE 'bare-doc-%'"
    assert _count(settings, bare_ops) == 4 * per_path
    assert _count(settings, "SELECT COUNT(*) FROM app.artifacts") == 4 * per_path
    assert _count(settings, "SELECT COUNT(*) FROM app.chunks WHERE run_id LIKE 'bare-%'") == 0
    for path in ("in_process", "bare_dbos"):
        assert 0 < result[path]["p50_ms"] <= result[path]["p95_ms"]
    assert result["p50_ratio"] > 0

"""Run views as values: their JSON is the API's shape, and reads back into the same value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.views import RunSummary, RunView

GOLDEN = Path(__file__).parent.parent / "golden"
RECORDED_VIEWS = sorted(GOLDEN.glob("*/run_view.json"))
EPOCH_MS = 1767225600000


def with_dbos_times(recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded view with DBOS's times, which the snapshot shows as "<time>", as the
    epoch milliseconds the view holds."""

    def ms(value: object) -> int | None:
        return None if value is None else EPOCH_MS

    epoch_keys = ("started_at_epoch_ms", "completed_at_epoch_ms")
    header = recorded["header"]
    return {
        **recorded,
        "header": {
            **header,
            "created_at": ms(header["created_at"]),
            "updated_at": ms(header["updated_at"]),
        },
        "timeline": [{**op, **{k: ms(op[k]) for k in epoch_keys}} for op in recorded["timeline"]],
    }


@pytest.mark.parametrize("path", RECORDED_VIEWS, ids=lambda p: p.parent.name)
def test_a_recorded_run_view_reads_in_and_writes_out_unchanged(path: Path) -> None:
    recorded = with_dbos_times(json.loads(path.read_bytes()))

    view = RunView.from_json(recorded)

    assert view.to_json() == recorded
    assert RunView.from_json(view.to_json()) == view
    kind = RunKind.INTENT if path.parent.name.startswith("intent-") else RunKind.DOC
    assert view.kind == kind and view.steps and view.timeline


def test_the_corpus_has_recorded_views() -> None:
    assert len(RECORDED_VIEWS) >= 4


def test_a_run_summary_keeps_the_list_keys_in_order_and_reads_back() -> None:
    summary = RunSummary(
        run_id="r1",
        workflow_id="w1",
        kind=RunKind.INTENT,
        status="failed",
        dbos_status="ERROR",
        last_step="ExecuteST",
        retry_count=2,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at=None,
    )

    shown = summary.to_json()

    assert list(shown) == [
        "run_id", "workflowId", "kind", "status", "dbos_status", "lastStep", "retryCount",
        "goal", "recipe", "created_at", "updated_at",
    ]  # fmt: skip
    assert json.dumps(shown).startswith('{"run_id": "r1", "workflowId": "w1", "kind": "intent"')
    assert RunSummary.from_json(json.loads(json.dumps(shown))) == summary

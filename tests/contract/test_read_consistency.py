"""A run view never pairs an old run row with a newer engine row, on both backends.

A document run's last step commits `done` before DBOS marks the workflow `SUCCESS`.
A view that read the two rows by separate statements could land between those commits
and pair our `running` with the engine's `SUCCESS`, which reads as `unknown`. The test
replays exactly that interleaving: right after the view's first statement, another
connection commits both rows, in the order the workflow does.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.domain.contracts import DocRunRequest
from jejakekal.storage.database import Database, Tx


def _finished_doc_run(kernel: Kernel) -> str:
    run_id = kernel.control.start_doc_run(DocRunRequest(source="alpha\nbeta")).run_id
    assert kernel.control.wait_run_view(run_id, 30).status == "done"
    return run_id


def _set(tx: Tx, run_status: str, engine_status: str, run_id: str) -> None:
    # On SQLite both families live unqualified in one file.
    dbos = "workflow_status" if tx.dialect.name == "sqlite" else "dbos.workflow_status"
    runs = "runs" if tx.dialect.name == "sqlite" else "app.runs"
    tx.execute(
        sa.text(f"UPDATE {runs} SET status = :s WHERE id = :r"), {"s": run_status, "r": run_id}
    )
    tx.execute(
        sa.text(f"UPDATE {dbos} SET status = :s WHERE workflow_uuid = :r"),
        {"s": engine_status, "r": run_id},
    )


@pytest.mark.parametrize("read", ["view", "list"])
def test_a_view_read_between_the_last_commits_is_never_unknown(
    kernel: Kernel, settings: Settings, read: str
) -> None:
    run_id = _finished_doc_run(kernel)
    other = Database.open(settings.resolved_database_url)
    # Back to the moment before `finalize` committed.
    with other.write() as tx:
        _set(tx, "running", "PENDING", run_id)

    fired: list[str] = []
    reader = threading.get_ident()

    def finish_in_between(*_: Any) -> None:
        # Other threads (the queue pacing probe) share this engine; only the read counts.
        if fired or threading.get_ident() != reader:
            return
        fired.append("once")
        with other.write() as tx:
            _set(tx, "done", "PENDING", run_id)  # finalize's commit
        with other.write() as tx:
            _set(tx, "done", "SUCCESS", run_id)  # DBOS closing the workflow

    sa.event.listen(kernel.db.engine, "after_cursor_execute", finish_in_between)
    try:
        if read == "view":
            status = kernel.control.run_view(run_id).status
        else:
            listed = kernel.control.list_runs(status=None, kind=None, limit=10, offset=0)
            status = next(r.status for r in listed if r.run_id == run_id)
    finally:
        sa.event.remove(kernel.db.engine, "after_cursor_execute", finish_in_between)
        other.dispose()
    assert fired, "the interleaving never happened"
    assert status == "running"
    assert kernel.control.run_view(run_id).status == "done"

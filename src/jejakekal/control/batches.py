"""One operator action on every run a filter matches (domain/batch.py).

A dry run only counts. Otherwise each matched run, oldest first and at most `limit`
of them, gets the single-run action with its own checks and its own audit row (all
rows of one call share a batch id); a run the action refuses is listed, not failed.
"""

from __future__ import annotations

from collections.abc import Callable

from jejakekal.control.operations import RunOperations
from jejakekal.domain import errors
from jejakekal.domain.audit import Who, new_batch_id
from jejakekal.domain.batch import BatchRequest
from jejakekal.domain.views import BatchResult
from jejakekal.storage import readmodels
from jejakekal.storage.database import Database


class Batches:
    def __init__(self, db: Database, operations: RunOperations) -> None:
        self.db = db
        self.operations = operations

    def run(self, request: BatchRequest, who: Who) -> BatchResult:
        if request.filter.is_empty():
            raise errors.InvalidBatch(
                "filter: name at least one of status, kind, recipe, createdAfter, createdBefore",
                field="filter",
            )
        with self.db.read() as tx:
            matched, run_ids = readmodels.matching_runs(tx, request.filter, request.limit)
        if request.dryRun:
            return BatchResult(
                action=request.action,
                dry_run=True,
                batch_id=None,
                matched=matched,
                limit=request.limit,
            )
        batch_id = new_batch_id()
        one = self._action(request.action, who.in_batch(batch_id))
        done: list[str] = []
        refused: list[dict[str, object]] = []
        for run_id in run_ids:
            try:
                one(run_id)
            except errors.Conflict as exc:
                refused.append({"runId": run_id, "error": exc.code, "message": exc.message})
            else:
                done.append(run_id)
        return BatchResult(
            action=request.action,
            dry_run=False,
            batch_id=batch_id,
            matched=matched,
            limit=request.limit,
            done=tuple(done),
            refused=tuple(refused),
        )

    def _action(self, action: str, who: Who) -> Callable[[str], object]:
        ops = self.operations
        if action == "cancel":
            return lambda run_id: ops.cancel(run_id, who)
        if action == "resume":
            return lambda run_id: ops.resume(run_id, who)
        return lambda run_id: ops.retry(run_id, who)

"""What an operator does to a run: retry it, resume it, cancel it (answers: gates.py,
forks: forks.py, batches: batches.py).

Each checks the life cycle's rule first (a refused action is a typed 409 that writes
nothing), then changes the run, with its audit row in the same transaction, and tells
DBOS, through `DBOSClient`, so this works the same in a process that runs workflows and
in one that does not.
"""

from __future__ import annotations

from jejakekal import runlog
from jejakekal.control.context import Context
from jejakekal.control.reads import RunReads
from jejakekal.domain import errors, gates, lifecycle, names
from jejakekal.domain.audit import Who
from jejakekal.domain.lifecycle import Action, DocStatus, RunKind, RunStatus
from jejakekal.domain.views import Canceled, Resumed, Retried
from jejakekal.storage import audit, execute, runs
from jejakekal.storage import gates as gate_store


class RunOperations:
    def __init__(self, ctx: Context, reads: RunReads) -> None:
        self.ctx = ctx
        self.reads = reads

    def retry(self, run_id: str, who: Who, *, as_action: Action = Action.RETRY) -> Retried:
        """Re-enter a failed run where it failed, same run id, earlier steps untouched.

        The failed child workflows are rewound to their first step, then the run is
        rewound to the operation that failed (awaiting a child, for ExecuteST): every
        operation before it replays from its checkpoint.
        """
        view = self.reads.view(run_id)
        lifecycle.check_retry(view.run_id, view.kind, view.status, view.dbos_status)
        start_step, from_step = self._rewind_point(view.run_id, view.workflow_id)
        with self.ctx.db.write() as tx:
            run = runs.find_run(tx, view.run_id)
            assert run is not None
            change = lifecycle.retried(RunStatus(run.status), run.retry_count, from_step)
            if not runs.change_run(tx, run.run_id, change):
                raise errors.RunNotRetryable("a concurrent retry won", run_id=run.run_id)
            if from_step == names.STEP_EXECUTE:
                execute.reopen(tx, run.run_id)
            after = RunStatus.QUEUED.value if change.status is None else change.status.value
            audit.record(
                tx,
                run.run_id,
                as_action,
                who,
                before=view.status,
                after=after,
                detail={"fromStep": from_step},
            )
        settings = self.ctx.settings
        for child in runs.failed_children(self.ctx.db, view.workflow_id):
            self.ctx.client.rewind_workflow(
                child, queue_name=names.SANDBOX_QUEUE, application_version=settings.app_version
            )
        self.ctx.client.rewind_workflow(
            view.workflow_id,
            start_step=start_step,
            queue_name=names.INTENT_QUEUE,
            application_version=settings.app_version,
        )
        return Retried(run_id=view.run_id, from_step=from_step)

    def _rewind_point(self, run_id: str, workflow_id: str) -> tuple[int, str]:
        """The run's first failed operation, and the step it belongs to."""
        for op in runs.operations(self.ctx.db, workflow_id):
            if op.error is not None:
                name = op.function_name
                step = names.STEP_EXECUTE if name == names.OP_GET_RESULT else name
                return op.function_id, step
        raise errors.RunNotRetryable("the run has no failed operation to re-enter", run_id=run_id)

    def resume(self, run_id: str, who: Who) -> Resumed:
        """Continue a cancelled or recovery-exhausted run where it stopped (README, "How
        runs work").

        DBOS re-enqueues the workflow; every operation already checkpointed replays from
        its record, so no finished step runs again. A `retries_exceeded` run resumes by
        the retry path (its failed operation is re-entered).
        """
        view = self.reads.view(run_id)
        kind, status = view.kind, view.status
        lifecycle.check_resume(view.run_id, kind, status, view.dbos_status)
        if lifecycle.resumes_by_retry(kind, status):
            self.retry(run_id, who, as_action=Action.RESUME)
            return Resumed(run_id=view.run_id, status=RunStatus.RUNNING.value)
        change = None
        if kind == RunKind.INTENT:
            ops = {op.function_name for op in view.timeline}
            # A run cancelled while it waited for a human waits again after the resume.
            with self.ctx.db.read() as tx:
                waiting = gate_store.open_of_run(tx, view.run_id) is not None
            waiting = waiting or (
                names.OP_AWAIT_INPUT in ops and names.OP_INPUT_RECEIVED not in ops
            )
            change = lifecycle.resumed(waiting=waiting)
        with self.ctx.db.write() as tx:
            if change is not None:
                runs.change_run(tx, view.run_id, change)
            after = change.status.value if change and change.status else DocStatus.RUNNING.value
            audit.record(tx, view.run_id, Action.RESUME, who, before=status, after=after)
        # Through intentQ, the quickly polled queue (DBOS would use its slower internal one).
        self.ctx.client.resume_workflow(view.workflow_id, queue_name=names.INTENT_QUEUE)
        return Resumed(run_id=view.run_id, status=RunStatus.RUNNING.value)

    def _wake(self, run_id: str, workflow_id: str) -> None:
        """A run cancelled while it waits at a gate: its `recv` returns now, so its thread
        is free at once (the wake-up is no answer: a resumed run waits again)."""
        with self.ctx.db.read() as tx:
            gate = gate_store.open_of_run(tx, run_id)
        topic = gate.gate().topic if gate else names.INPUT_TOPIC
        self.ctx.client.send(workflow_id, gates.WAKE, topic=topic)

    def cancel(self, run_id: str, who: Who) -> Canceled:
        view = self.reads.view(run_id)
        lifecycle.check_cancel(view.run_id, view.kind, view.status, view.dbos_status)
        self.ctx.client.cancel_workflow(view.workflow_id)
        if view.status == RunStatus.WAITING_INPUT:
            self._wake(view.run_id, view.workflow_id)
        runlog.outcome(view.run_id, view.last_step or "-", "canceled")
        # The document vocabulary has no `canceled`: the view shows the engine's CANCELLED.
        doc = view.kind == RunKind.DOC
        after = DocStatus.UNKNOWN.value if doc else RunStatus.CANCELED.value
        with self.ctx.db.write() as tx:
            if not doc:
                runs.change_run(tx, view.run_id, lifecycle.canceled())
            audit.record(tx, view.run_id, Action.CANCEL, who, before=view.status, after=after)
        return Canceled(run_id=view.run_id, status=after)

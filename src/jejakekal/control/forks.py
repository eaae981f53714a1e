"""Fork a stopped run from one of its steps into a new run (domain/forks.py)."""

from __future__ import annotations

from dbos import SetWorkflowID

from jejakekal.control.context import Context
from jejakekal.control.reads import RunReads
from jejakekal.domain import errors, forks, lifecycle, names
from jejakekal.domain.audit import Who
from jejakekal.domain.lifecycle import Action
from jejakekal.domain.records import NewRun
from jejakekal.domain.views import Forked
from jejakekal.storage import audit, runs


class Forks:
    def __init__(self, ctx: Context, reads: RunReads) -> None:
        self.ctx = ctx
        self.reads = reads

    def fork(self, run_id: str, from_step: str, who: Who) -> Forked:
        """A new run whose workflow DBOS forks from the parent's at `from_step`: the
        operations before it replay from the parent's checkpoints, never run again.

        The new run's row, the parent's rows of the reused steps (copied under the new
        id), and the audit row commit together before DBOS is told, so the forked
        workflow finds its run when its first step writes.
        """
        view = self.reads.view(run_id)
        lifecycle.check_fork(view.run_id, view.kind, view.status, view.dbos_status)
        start = forks.start_of(view.kind, view.timeline, from_step)
        new_id = forks.new_run_id(view.kind)
        workflow_id = forks.workflow_id(new_id)
        with self.ctx.db.write() as tx:
            parent = runs.find_run(tx, view.run_id)
            if parent is None:
                raise errors.RunNotFound(run_id=view.run_id)
            runs.insert_run(
                tx,
                NewRun(
                    run_id=new_id,
                    kind=view.kind,
                    workflow_id=workflow_id,
                    request_hash=parent.request_hash,
                    request=parent.request,
                    intent_id=parent.intent_id,
                    trace_id=parent.trace_id,
                    recipe_name=view.recipe,
                ),
            )
            runs.mark_fork(tx, new_id, parent=view.run_id, step=from_step)
            runs.copy_steps(tx, view.run_id, new_id, forks.reused_steps(view.timeline, start))
            detail = {"forkRunId": new_id, "fromStep": from_step, "startFunctionId": start}
            audit.record(
                tx,
                view.run_id,
                Action.FORK,
                who,
                before=view.status,
                after=view.status,
                detail=detail,
            )
        with SetWorkflowID(workflow_id):
            self.ctx.client.fork_workflow(
                view.workflow_id,
                start,
                application_version=self.ctx.settings.app_version,
                queue_name=names.INTENT_QUEUE,
            )
        return Forked(
            run_id=new_id, parent_run_id=view.run_id, from_step=from_step, start_function_id=start
        )

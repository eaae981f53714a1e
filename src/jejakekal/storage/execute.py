"""ExecuteST's protocol, in one place: open the step, record each node, close it with
the run, fail it, reopen it for a retry.

ExecuteST has no DBOS step of its own: its nodes are child workflows, each recording
itself in the one `app.run_steps` row in the transaction that delivers its receipt. So
the step opens in the transaction that ends what precedes it, and the node that
completes the set closes the step and the run together. The merge is pure
(`domain.execute`); here it is applied under the step row's lock (ADR 0006). A retry
(a use case, which cannot import the workflows) reopens the step here too.
"""

from __future__ import annotations

from typing import cast

from jejakekal.domain import execute, lifecycle, names
from jejakekal.domain.records import StepPhase, StepRecord
from jejakekal.storage import runs
from jejakekal.storage.database import Tx


def _recorded(tx: Tx, run_id: str, step_id: str = names.STEP_EXECUTE) -> list[execute.Node]:
    """The nodes recorded so far, the step's row locked until the transaction ends."""
    output = runs.step_output_for_update(tx, run_id, step_id) or {}
    # The row holds what node_done wrote: a list of `Node`s (JSON), or none yet.
    return cast(list[execute.Node], output.get("nodes") or [])


def open_step(tx: Tx, run_id: str, *, after_input: bool, step_id: str = names.STEP_EXECUTE) -> None:
    runs.record_step(
        tx,
        StepRecord(
            run_id=run_id,
            step_id=step_id,
            phase=StepPhase.RUNNING,
            output={"attempt": None},
            started_at=runs.now(),
        ),
        lifecycle.execute_opened(after_input=after_input, step_id=step_id),
    )


def node_done(
    tx: Tx,
    run_id: str,
    node_count: int,
    node: execute.Node,
    *,
    step_id: str = names.STEP_EXECUTE,
    closes_run: bool = True,
) -> None:
    """Record one node's outcome; the last node to finish closes the step, and the run
    unless the agent loop goes on (`closes_run` False).

    A wave of one node has nothing to merge and reads nothing.
    """
    recorded = _recorded(tx, run_id, step_id) if node_count > 1 else []
    merged = execute.merge_node(recorded, node, node_count)
    # started_at is kept from open_step: the row already exists.
    step = StepRecord(
        run_id=run_id,
        step_id=step_id,
        phase=StepPhase.DONE if merged.finished else StepPhase.RUNNING,
        output=merged.output(),
        started_at=runs.now(),
        finished_at=runs.now() if merged.finished else None,
    )
    closes = merged.finished and closes_run
    runs.record_step(tx, step, lifecycle.succeeded() if closes else None)


def fail(tx: Tx, run_id: str, attempts: int, error: str, step_id: str = names.STEP_EXECUTE) -> None:
    """A node gave up: the step fails, and the run with it."""
    now = runs.now()
    step = StepRecord(
        run_id=run_id,
        step_id=step_id,
        phase=StepPhase.FAILED,
        output=execute.failed_output(_recorded(tx, run_id, step_id), attempts, error),
        started_at=now,
        finished_at=now,
    )
    runs.record_step(tx, step, lifecycle.retries_exceeded(error))


def reopen(tx: Tx, run_id: str) -> None:
    """Back to `running` for a retry; the nodes that already finished stay recorded."""
    step_id = runs.failed_execute_step(tx, run_id) or names.STEP_EXECUTE
    step = StepRecord(
        run_id=run_id,
        step_id=step_id,
        phase=StepPhase.RUNNING,
        output=execute.reopened_output(_recorded(tx, run_id, step_id)),
        started_at=runs.now(),
    )
    runs.record_step(tx, step)

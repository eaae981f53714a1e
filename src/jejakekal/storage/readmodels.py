"""Read models: the queries behind run views and run lists. Ordered and canonical."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from jejakekal.domain import lifecycle, names
from jejakekal.domain.batch import RunFilter
from jejakekal.domain.gates import INPUT_GATE
from jejakekal.domain.lifecycle import RunKind, view_status
from jejakekal.domain.views import (
    Operation,
    PlannedNode,
    RunHeader,
    RunSummary,
    RunView,
    StepView,
)
from jejakekal.storage import audit
from jejakekal.storage import gates as gate_store
from jejakekal.storage import schema as s
from jejakekal.storage.database import Database, Tx
from jejakekal.storage.dbos_tables import operation_outputs, workflow_status
from jejakekal.storage.documents import artifact_ids
from jejakekal.storage.runs import iso, run_lookup

# An uploaded file's steps sit between the sleep and the side effect: `survey`, then
# `ocr:<first>-<last>` in page order.
_FILE_DOC_STEPS = (
    names.STEP_PREPARE,
    names.OP_SLEEP,
    names.STEP_SURVEY,
    "ocr",
    names.STEP_SIDE_EFFECT,
    names.STEP_FINALIZE,
)
STEP_ORDER = {
    name: i
    for steps in ((*names.INTENT_STEPS, names.STEP_OBSERVE), _FILE_DOC_STEPS)
    for i, name in enumerate(steps)
}


def _step_key(step_id: str) -> tuple[int, int, int, str]:
    """Run order: by the agent loop's iteration, then the step's place in one iteration
    (AnswerST, the loop's end, last); OCR batches by their first page."""
    base, _, iteration = step_id.partition("#")
    if base == names.STEP_ANSWER:
        return (sys.maxsize, 0, 0, step_id)
    kind, _, pages = base.partition(":")
    first_page = pages.split("-", 1)[0]
    if kind == "ocr" and first_page.isdigit():
        return (1, STEP_ORDER["ocr"], int(first_page), step_id)
    return (int(iteration) if iteration.isdigit() else 1, STEP_ORDER.get(base, 99), 0, step_id)


# The views are read often (the UI polls them): their statements are built once per
# dialect and take their values as parameters.


@functools.cache
def _timeline_stmt(dialect: str) -> sa.Select[Any]:
    oo = operation_outputs(dialect)
    return (
        sa.select(
            oo.c.function_id,
            oo.c.function_name,
            oo.c.started_at_epoch_ms,
            oo.c.completed_at_epoch_ms,
            oo.c.error,
        )
        .where(oo.c.workflow_uuid == sa.bindparam("workflow_id"))
        .order_by(oo.c.function_id)
    )


def timeline(tx: Tx, workflow_id: str) -> list[dict[str, Any]]:
    stmt = _timeline_stmt(tx.dialect.name)
    rows = tx.execute(stmt, {"workflow_id": workflow_id}).mappings()
    return [dict(r) for r in rows]


def operations(tx: Tx, workflow_id: str) -> tuple[Operation, ...]:
    """The workflow's operations on its timeline, typed (`timeline` gives the rows)."""
    stmt = _timeline_stmt(tx.dialect.name)
    rows = tx.execute(stmt, {"workflow_id": workflow_id}).mappings()
    return tuple(Operation(**r) for r in rows)


_KEY = sa.bindparam("key_", type_=sa.String)  # a run id or a workflow id
_STEPS = sa.select(s.run_steps).where(s.run_steps.c.run_id == sa.bindparam("run_id_"))


def _steps(tx: Tx, run_id: str) -> tuple[StepView, ...]:
    rows = tx.execute(_STEPS, {"run_id_": run_id}).mappings()
    ordered = sorted(rows, key=lambda r: _step_key(r["step_id"]))
    return tuple(
        StepView(
            step_id=r["step_id"],
            phase=r["phase"],
            attempt=(r["output"] or {}).get("attempt"),
            started_at=iso(r["started_at"]),
            finished_at=iso(r["finished_at"]),
            output=r["output"],
        )
        for r in ordered
    )


def status_of(run: dict[str, Any], engine_row: dict[str, Any] | None) -> str:
    return view_status(run["kind"], run["status"], engine_row["status"] if engine_row else None)


def run_with_engine(
    tx: Tx, run_or_workflow_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """A run's row and its engine row, read by one statement.

    Our last step commits before DBOS closes the workflow. Two separate reads can fall
    either side of those commits and pair an old run row with a new engine row (a
    `SUCCESS` beside our `running`); one statement sees one snapshot.
    """
    ws = workflow_status(tx.dialect.name)
    stmt = _run_with_engine_stmt(tx.dialect.name)
    row = tx.execute(stmt, {"key_": run_or_workflow_id}).mappings().first()
    if row is None:
        return None
    run = {c.name: row[c.name] for c in s.runs.c}
    run["goal"] = row["goal"]
    engine_row = {c.name: row[f"ws_{c.name}"] for c in ws.c}
    return run, engine_row if engine_row["workflow_uuid"] is not None else None


@functools.cache
def _run_with_engine_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    engine_cols = [c.label(f"ws_{c.name}") for c in ws.c]
    return (
        sa.select(s.runs, *engine_cols, s.intents.c.goal)
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .outerjoin(s.intents, s.intents.c.id == s.runs.c.intent_id)
        .where(run_lookup(_KEY))
    )


def run_view(db: Database, run_or_workflow_id: str) -> RunView | None:
    """The run view of [API-3]; its next action is computed from the stored facts."""
    with db.read() as tx:
        found = run_with_engine(tx, run_or_workflow_id)
        if found is None:
            return None
        run, ws = found
        steps = _steps(tx, run["id"])
        ops = operations(tx, run["workflow_id"])
        artifacts = artifact_ids(tx, run["id"])
        gates, ledger = gate_store.of_run(tx, run["id"])
        actions = audit.of_run(tx, run["id"])
        forks = _forks(tx, run["id"])
    next_action = lifecycle.next_action(
        run["id"],
        run["kind"],
        run["status"],
        last_step=run["last_step"],
        retry_count=run["retry_count"],
    )
    decided = [
        op.function_name for op in ops if names.base_step(op.function_name) == names.STEP_DECIDE
    ]
    dbos_status = ws["status"] if ws else None
    if lifecycle.ended_by_gate(run["status"], dbos_status) and decided:
        next_action = lifecycle.fork_action(run["id"], decided[-1])
    waiting_at = [g for g in gates if g.is_open and g.key != INPUT_GATE]
    if run["status"] == lifecycle.RunStatus.WAITING_INPUT and waiting_at:
        # The `input` gate keeps the courses' `/events` line; another gate names itself.
        next_action = lifecycle.gate_action(run["id"], waiting_at[-1].key)
    return RunView(
        run_id=run["id"],
        workflow_id=run["workflow_id"],
        kind=RunKind(run["kind"]),
        status=status_of(run, ws),
        dbos_status=dbos_status,
        last_step=run["last_step"],
        retry_count=run["retry_count"],
        goal=run.get("goal"),
        recipe=run["recipe_name"],
        next_action=next_action,
        error=run["error"],
        header=_header(ws),
        steps=steps,
        timeline=ops,
        artifacts=tuple(artifacts),
        plan=_latest_plan(steps),
        gates=tuple(gates),
        ledger=tuple(ledger),
        actions=actions,
        parent_run_id=run["parent_run_id"],
        fork_step=run["fork_step"],
        forks=forks,
    )


_FORKS = (
    sa.select(s.runs.c.id)
    .where(s.runs.c.parent_run_id == sa.bindparam("parent_"))
    .order_by(s.runs.c.created_at, s.runs.c.id)
)


def _forks(tx: Tx, run_id: str) -> tuple[str, ...]:
    return tuple(tx.execute(_FORKS, {"parent_": run_id}).scalars())


def _latest_plan(steps: tuple[StepView, ...]) -> tuple[PlannedNode, ...]:
    """The nodes of the last plan a CompileST (or CompileST#n) recorded."""
    for step in reversed(steps):
        planned = (step.output or {}).get("plan")
        if names.base_step(step.step_id) == names.STEP_COMPILE and isinstance(planned, list):
            return tuple(PlannedNode.model_validate(n) for n in planned)
    return ()


def _header(ws: dict[str, Any] | None) -> RunHeader:
    if ws is None:
        return RunHeader()
    return RunHeader(
        name=ws["name"],
        recovery_attempts=ws["recovery_attempts"],
        app_version=ws["application_version"],
        executor_id=ws["executor_id"],
        created_at=ws["created_at"],
        updated_at=ws["updated_at"],
    )


def run_summary(run: Mapping[str, Any], dbos_status: str | None) -> RunSummary:
    return RunSummary(
        run_id=run["id"],
        workflow_id=run["workflow_id"],
        kind=RunKind(run["kind"]),
        status=view_status(run["kind"], run["status"], dbos_status),
        dbos_status=dbos_status,
        last_step=run["last_step"],
        retry_count=run["retry_count"],
        goal=run.get("goal"),
        recipe=run["recipe_name"],
        created_at=iso(run["created_at"]),
        updated_at=iso(run["updated_at"]),
    )


def list_runs(
    tx: Tx, *, status: str | None, kind: str | None, limit: int, offset: int
) -> list[RunSummary]:
    """A page of run summaries, newest first; each run and its engine status in one read."""
    ws = workflow_status(tx.dialect.name)
    stmt = (
        sa.select(s.runs, ws.c.status.label("ws_status"), s.intents.c.goal)
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .outerjoin(s.intents, s.intents.c.id == s.runs.c.intent_id)
        .order_by(s.runs.c.created_at.desc(), s.runs.c.id.desc())
    )
    if status:
        stmt = stmt.where(s.runs.c.status == status)
    if kind:
        stmt = stmt.where(s.runs.c.kind == kind)
    rows = tx.execute(stmt.limit(limit).offset(offset)).mappings().all()
    return [run_summary(dict(r), r["ws_status"]) for r in rows]


def matching_runs(tx: Tx, match: RunFilter, limit: int) -> tuple[int, list[str]]:
    """How many runs a batch filter matches, and the ids of the oldest `limit` of them."""
    where = [s.runs.c.kind == match.kind] if match.kind else []
    if match.status:
        where.append(s.runs.c.status == match.status)
    if match.recipe:
        where.append(s.runs.c.recipe_name == match.recipe)
    if match.created_after:
        where.append(s.runs.c.created_at > match.created_after)
    if match.created_before:
        where.append(s.runs.c.created_at < match.created_before)
    count = tx.execute(sa.select(sa.func.count()).select_from(s.runs).where(*where)).scalar_one()
    ids = tx.execute(
        sa.select(s.runs.c.id).where(*where).order_by(s.runs.c.created_at, s.runs.c.id).limit(limit)
    ).scalars()
    return count, list(ids)


def current_status(db: Database, run_or_workflow_id: str) -> str | None:
    """Just the run's view status: one indexed read, for waiting on a run."""
    with db.read() as tx:
        stmt = _current_status_stmt(tx.dialect.name)
        row = tx.execute(stmt, {"key_": run_or_workflow_id}).first()
    return view_status(row[0], row[1], row[2]) if row else None


@functools.cache
def _current_status_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    return (
        sa.select(s.runs.c.kind, s.runs.c.status, ws.c.status)
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .where(run_lookup(_KEY))
    )


def current_statuses(db: Database, keys: list[str]) -> dict[str, str]:
    """The view status of each run named by a run id or a workflow id, by one indexed
    read (per 500 keys): what a long-poll watcher reads on each tick. Unknown keys are
    left out."""
    found: dict[str, str] = {}
    stmt = _current_statuses_stmt(db.dialect.NAME)
    with db.read() as tx:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for run_id, workflow_id, kind, status, engine_status in tx.execute(
                stmt, {"keys_": chunk}
            ):
                found[run_id] = found[workflow_id] = view_status(kind, status, engine_status)
    return {key: found[key] for key in keys if key in found}


@functools.cache
def _current_statuses_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    keys = sa.bindparam("keys_", expanding=True, type_=sa.String)
    return (
        sa.select(s.runs.c.id, s.runs.c.workflow_id, s.runs.c.kind, s.runs.c.status, ws.c.status)
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .where(sa.or_(s.runs.c.id.in_(keys), s.runs.c.workflow_id.in_(keys)))
    )

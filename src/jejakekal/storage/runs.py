"""The one writer of `app.runs` and `app.run_steps`, and the point reads around them.

Workflows and use cases change a run only through here, with typed records: a
`NewRun` to insert, a `lifecycle.RunChange` to apply, a `StepRecord` to upsert. A
change of status also writes the run's error and its stored next action, computed by
the life-cycle rules. Where the dialects differ, `storage/dialects/` decides.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import sqlalchemy as sa

from jejakekal.domain import lifecycle
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunChange, RunKind
from jejakekal.domain.ports import Decision, DecisionBody
from jejakekal.domain.recipes import RecipeSpec
from jejakekal.domain.records import Intent, NewRun, Recipe, StepPhase, StepRecord, StoredRun
from jejakekal.domain.views import Operation
from jejakekal.storage import dialects
from jejakekal.storage import schema as s
from jejakekal.storage.database import Database, Tx
from jejakekal.storage.dialects import common
from jejakekal.storage.effects import insert_ignore


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """A stored timestamp as the API shows it: UTC, ISO-8601, milliseconds."""
    if value is None:
        return None
    # SQLite hands back naive datetimes; every timestamp we write is UTC.
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- intents and recipes ---------------------------------------------------------------


def insert_intent(
    tx: Tx, intent_id: str, goal: str, inputs: JsonObject, constraints: JsonObject
) -> None:
    tx.execute(
        s.intents.insert().values(
            id=intent_id, goal=goal, inputs=inputs, constraints=constraints, created_at=now()
        )
    )


_INTENT = sa.select(s.intents.c.id, s.intents.c.goal, s.intents.c.inputs).where(
    s.intents.c.id == sa.bindparam("intent_id")
)


def get_intent(tx: Tx, intent_id: str) -> Intent | None:
    row = tx.execute(_INTENT, {"intent_id": intent_id}).first()
    return Intent(intent_id=row.id, goal=row.goal, inputs=row.inputs) if row else None


_INTENT_AND_RECIPE = (
    sa.select(
        s.intents.c.id,
        s.intents.c.goal,
        s.intents.c.inputs,
        s.recipes.c.name,
        s.recipes.c.max_concurrency,
        s.recipes.c.max_steps,
        s.recipes.c.max_sandbox_minutes,
        s.recipes.c.spec,
    )
    .select_from(s.intents)
    .outerjoin(s.recipes, s.recipes.c.name == sa.bindparam("recipe_name_"))
    .where(s.intents.c.id == sa.bindparam("intent_id_"))
)


def intent_and_recipe(
    tx: Tx, intent_id: str, recipe_name: str
) -> tuple[Intent | None, Recipe | None]:
    """One read for a run start: the intent and, if it exists, the recipe."""
    params = {"intent_id_": intent_id, "recipe_name_": recipe_name}
    row = tx.execute(_INTENT_AND_RECIPE, params).first()
    if row is None:
        return None, None
    intent = Intent(intent_id=row.id, goal=row.goal, inputs=row.inputs)
    if row.name is None:
        return intent, None
    recipe = Recipe(
        name=row.name,
        max_concurrency=row.max_concurrency,
        max_steps=row.max_steps,
        max_sandbox_minutes=row.max_sandbox_minutes,
        spec=RecipeSpec.model_validate(row.spec or {}),
    )
    return intent, recipe


# -- runs ------------------------------------------------------------------------------


def run_lookup(run_or_workflow_id: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """Dual lookup: a run id or a workflow id."""
    return sa.or_(s.runs.c.id == run_or_workflow_id, s.runs.c.workflow_id == run_or_workflow_id)


_RUN = sa.select(s.runs).where(run_lookup(sa.bindparam("key_", type_=sa.String)))


def find_run(tx: Tx, run_or_workflow_id: str) -> StoredRun | None:
    row = tx.execute(_RUN, {"key_": run_or_workflow_id}).mappings().first()
    return _stored(row) if row else None


def _stored(row: sa.RowMapping) -> StoredRun:
    return StoredRun(
        run_id=row["id"],
        kind=RunKind(row["kind"]),
        workflow_id=row["workflow_id"],
        status=row["status"],
        last_step=row["last_step"],
        retry_count=row["retry_count"],
        error=row["error"],
        request_hash=row["request_hash"],
        request=row["request"],
        intent_id=row["intent_id"],
        trace_id=row["trace_id"],
    )


def insert_run(tx: Tx, run: NewRun) -> None:
    stamp = now()
    status = lifecycle.initial_status(run.kind)
    next_action = lifecycle.next_action(run.run_id, run.kind, status, last_step=None, retry_count=0)
    tx.execute(
        s.runs.insert(),
        {
            "id": run.run_id,
            "kind": run.kind.value,
            "intent_id": run.intent_id,
            "workflow_id": run.workflow_id,
            "status": status.value,
            "retry_count": 0,
            "next_action": next_action,
            "trace_id": run.trace_id,
            "recipe_name": run.recipe_name,
            "request_hash": run.request_hash,
            "request": run.request,
            "created_at": stamp,
            "updated_at": stamp,
        },
    )


def mark_fork(tx: Tx, run_id: str, *, parent: str, step: str) -> None:
    tx.execute(
        s.runs.update().where(s.runs.c.id == run_id).values(parent_run_id=parent, fork_step=step)
    )


def copy_steps(tx: Tx, from_run: str, to_run: str, step_ids: Collection[str]) -> None:
    """Copy `from_run`'s rows of these steps to `to_run`: a fork's reused steps."""
    if not step_ids:
        return
    st = s.run_steps
    columns = [c for c in st.c if c.name != "run_id"]
    source = sa.select(sa.literal(to_run, sa.Text), *columns).where(
        st.c.run_id == from_run, st.c.step_id.in_(sorted(step_ids))
    )
    tx.execute(st.insert().from_select(["run_id", *(c.name for c in columns)], source))


def change_run(tx: Tx, run_id: str, change: RunChange) -> bool:
    """Apply `change`; False when its `only_from` guard did not hold (nothing changed)."""
    values = change.columns(run_id)
    params: dict[str, object] = {"run_id_": run_id, "updated_at": now(), **values}
    if change.only_from:
        params["from_"] = [status.value for status in change.only_from]
    stmt = common.update_run(tuple(sorted(values)), guarded=bool(change.only_from))
    return tx.execute(stmt, params).first() is not None


def record_step(tx: Tx, step: StepRecord, change: RunChange | None = None) -> bool:
    """Upsert the step's row and, with `change`, apply it to the run in the same
    transaction (on PostgreSQL in the same statement). False when a guarded change
    did not apply; the step row is written either way."""
    params: dict[str, object] = {
        "run_id_": step.run_id,
        "step_id_": step.step_id,
        "phase_": step.phase.value,
        "output_": step.output,
        "started_at_": step.started_at,
        "finished_at_": step.finished_at,
    }
    if change is None:
        tx.execute(_UPSERT_STEP[tx.dialect.name], params)
        return True
    values = change.columns(step.run_id)
    params.update(values, updated_at=now())
    if change.only_from:
        params["from_"] = [status.value for status in change.only_from]
    return dialects.of(tx).record_step_and_change(
        tx, params, tuple(sorted(values)), guarded=bool(change.only_from)
    )


def record_step_once(tx: Tx, step: StepRecord, change: RunChange) -> bool:
    """Record a step that finishes in one write (a document run's steps) and apply
    `change` with it; the first record is final. Another execution of the same step
    (one still running after a cancel and a quick resume, or the step run again after a
    crash before its checkpoint) changes neither the row nor the run: a run reported
    finished stays as it was. True when this call recorded the step."""
    recorded = insert_ignore(
        tx,
        s.run_steps,
        run_id=step.run_id,
        step_id=step.step_id,
        phase=step.phase.value,
        output=step.output,
        started_at=step.started_at,
        finished_at=step.finished_at,
    )
    if recorded:
        change_run(tx, step.run_id, change)
    return recorded


_UPSERT_STEP = {
    name: common.upsert_step(dialects.named(name).insert)
    for name in (dialects.sqlite.NAME, dialects.postgresql.NAME)
}

_STEP_OUTPUT_FOR_UPDATE = (
    sa.select(s.run_steps.c.output)
    .where(
        s.run_steps.c.run_id == sa.bindparam("run_id"),
        s.run_steps.c.step_id == sa.bindparam("step_id"),
    )
    .with_for_update()
)


def step_output_for_update(tx: Tx, run_id: str, step_id: str) -> JsonObject | None:
    """A step's recorded output, its row locked until the transaction ends (ADR 0006).

    On PostgreSQL a concurrent writer of the same step waits here and then reads what
    this transaction wrote; on SQLite the transaction holds the database's write lock
    before it reads, which excludes every other writer.
    """
    dialects.of(tx).hold_write_lock(tx)
    row = tx.execute(_STEP_OUTPUT_FOR_UPDATE, {"run_id": run_id, "step_id": step_id}).first()
    return dict(row[0] or {}) if row else None


def step_output(tx: Tx, run_id: str, step_id: str) -> JsonObject | None:
    """A step's recorded output (no lock: a read)."""
    row = tx.execute(
        sa.select(s.run_steps.c.output).where(
            s.run_steps.c.run_id == run_id, s.run_steps.c.step_id == step_id
        )
    ).first()
    return dict(row[0] or {}) if row else None


_RUN_ATTEMPT = sa.select(s.runs.c.retry_count).where(s.runs.c.id == sa.bindparam("run_id"))


def run_attempt(tx: Tx, run_id: str) -> int:
    """Which attempt at the run this is: 1, and one more for each retry."""
    return int(tx.execute(_RUN_ATTEMPT, {"run_id": run_id}).scalar_one()) + 1


def record_decision(
    tx: Tx,
    run_id: str,
    step_id: str,
    request: DecisionBody,
    response: Decision,
    *,
    attempt: int = 1,
) -> None:
    """One envelope per (run, step, attempt): the id is derived from the three, so a
    replay of an attempt inserts nothing. The first attempt keeps the id rows had before
    attempts were counted (`<run>:<step>`), so an in-flight run replayed across an
    upgrade still records it once; later ones are `<run>:<step>:<attempt>`."""
    insert_ignore(
        tx,
        s.opencode_calls,
        id=f"{run_id}:{step_id}" if attempt == 1 else f"{run_id}:{step_id}:{attempt}",
        run_id=run_id,
        step_id=step_id,
        request=request,
        response=response,
        created_at=now(),
    )


def record_model_call(
    tx: Tx, run_id: str, step_id: str, request: JsonObject, response: JsonObject, attempt: int
) -> None:
    """A planner's model call, request and raw reply, beside the decider's (same table)."""
    insert_ignore(
        tx,
        s.opencode_calls,
        id=f"{run_id}:{step_id}:plan:{attempt}",
        run_id=run_id,
        step_id=step_id,
        request=request,
        response=response,
        created_at=now(),
    )


def failed_execute_step(tx: Tx, run_id: str) -> str | None:
    """The ExecuteST (or ExecuteST#n) row that failed, if any: where a retry re-enters."""
    row = tx.execute(
        sa.select(s.run_steps.c.step_id)
        .where(
            s.run_steps.c.run_id == run_id,
            s.run_steps.c.phase == StepPhase.FAILED.value,
            s.run_steps.c.step_id.startswith("ExecuteST"),
        )
        .order_by(s.run_steps.c.started_at.desc())
    ).first()
    return None if row is None else str(row[0])


# -- reads beside DBOS's tables ----------------------------------------------------------


def operations(db: Database, workflow_id: str) -> tuple[Operation, ...]:
    from jejakekal.storage.readmodels import operations as read_operations

    with db.read() as tx:
        return read_operations(tx, workflow_id)


def failed_children(db: Database, workflow_id: str) -> list[str]:
    """Child workflows this workflow started that ended in ERROR."""
    from jejakekal.storage.dbos_tables import operation_outputs, workflow_status

    with db.read() as tx:
        oo = operation_outputs(tx.dialect.name)
        ws = workflow_status(tx.dialect.name)
        rows = tx.execute(
            sa.select(oo.c.child_workflow_id)
            .join(ws, ws.c.workflow_uuid == oo.c.child_workflow_id)
            .where(oo.c.workflow_uuid == workflow_id, ws.c.status == "ERROR")
            .distinct()
        )
        return sorted(r[0] for r in rows)


def orphan_doc_runs(db: Database) -> list[StoredRun]:
    """Document runs whose row committed but whose workflow was never started."""
    from jejakekal.storage.dbos_tables import workflow_status

    with db.read() as tx:
        ws = workflow_status(tx.dialect.name)
        started = sa.select(ws.c.workflow_uuid).where(ws.c.workflow_uuid == s.runs.c.workflow_id)
        rows = tx.execute(
            sa.select(s.runs)
            .where(s.runs.c.kind == RunKind.DOC, s.runs.c.status == "running", ~started.exists())
            .order_by(s.runs.c.created_at)
        ).mappings()
        return [_stored(r) for r in rows]


__all__ = ["StepPhase"]

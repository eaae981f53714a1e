"""Writes and point reads of intents, recipes, runs and run steps."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jejakekal.storage import schema as s
from jejakekal.storage.effects import Db, check_columns, dialect_of, insert_ignore, upsert
from jejakekal.storage.engine import hold_write_lock


def now() -> datetime:
    return datetime.now(UTC)


def insert_intent(engine: sa.Engine, intent_id: str, body: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            s.intents.insert().values(
                id=intent_id,
                goal=body["goal"],
                inputs=body["inputs"],
                constraints=body["constraints"],
                created_at=now(),
            )
        )


_INTENT = sa.select(s.intents).where(s.intents.c.id == sa.bindparam("intent_id"))


def get_intent(db: Db, intent_id: str) -> dict[str, Any] | None:
    row = db.execute(_INTENT, {"intent_id": intent_id}).mappings().first()
    return dict(row) if row else None


_INTENT_AND_RECIPE = (
    sa.select(
        s.intents.c.id.label("intent_id"),
        s.intents.c.goal.label("intent_goal"),
        s.intents.c.inputs.label("intent_inputs"),
        s.recipes,
    )
    .select_from(s.intents)
    .outerjoin(s.recipes, s.recipes.c.name == sa.bindparam("recipe_name_"))
    .where(s.intents.c.id == sa.bindparam("intent_id_"))
)
_INTENT_FIELDS = {"intent_id": "id", "intent_goal": "goal", "intent_inputs": "inputs"}


def intent_and_recipe(
    db: Db, intent_id: str, recipe_name: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """One read for a run start: the intent (id, goal, inputs) and, if it exists, the recipe."""
    params = {"intent_id_": intent_id, "recipe_name_": recipe_name}
    row = db.execute(_INTENT_AND_RECIPE, params).mappings().first()
    if row is None:
        return None, None
    intent = {field: row[label] for label, field in _INTENT_FIELDS.items()}
    recipe = {k: v for k, v in row.items() if k not in _INTENT_FIELDS}
    return intent, recipe if recipe["name"] is not None else None


def run_lookup(run_or_workflow_id: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """Dual lookup: a run id or a workflow id."""
    return sa.or_(s.runs.c.id == run_or_workflow_id, s.runs.c.workflow_id == run_or_workflow_id)


_RUN = sa.select(s.runs).where(run_lookup(sa.bindparam("key_", type_=sa.String)))


def find_run(db: Db, run_or_workflow_id: str) -> dict[str, Any] | None:
    row = db.execute(_RUN, {"key_": run_or_workflow_id}).mappings().first()
    return dict(row) if row else None


def insert_run(db: Db, **values: Any) -> None:
    stamp = now()
    db.execute(s.runs.insert(), {"created_at": stamp, "updated_at": stamp, **values})


# The columns to set come from the parameters' names, so one statement serves every update.
_UPDATE_RUN = s.runs.update().where(s.runs.c.id == sa.bindparam("run_id_")).returning(s.runs.c.id)
_UPDATE_RUN_FROM = _UPDATE_RUN.where(s.runs.c.status.in_(sa.bindparam("from_", expanding=True)))


def update_run(db: Db, run_id: str, *, only_if_status: tuple[str, ...] = (), **values: Any) -> bool:
    """Update a run; with `only_if_status`, only from one of those statuses (a CAS)."""
    check_columns(s.runs, values)
    params = {"run_id_": run_id, "updated_at": now(), **values}
    stmt = _UPDATE_RUN
    if only_if_status:
        stmt, params["from_"] = _UPDATE_RUN_FROM, list(only_if_status)
    return db.execute(stmt, params).first() is not None


def record_step(
    db: Db,
    run_id: str,
    step_id: str,
    *,
    phase: str,
    output: dict[str, Any],
    started_at: datetime,
    finished_at: datetime | None,
    only_if_status: tuple[str, ...] = (),
    **run_values: Any,
) -> None:
    """One `app.run_steps` row per step: created once, updated as its phase moves on.

    With `run_values`, the run is updated too, as `update_run` would (`only_if_status`
    included). On PostgreSQL both rows go in one statement (the step's upsert as a
    data-modifying CTE of the run's update): one statement's interpreter time and one
    round trip, not two. SQLite has no data-modifying CTEs, and no round trips.
    """
    if not run_values or dialect_of(db) != "postgresql":
        upsert(
            db,
            s.run_steps,
            {"run_id": run_id, "step_id": step_id},
            {"started_at": started_at},
            phase=phase,
            output=output,
            finished_at=finished_at,
        )
        if run_values:
            update_run(db, run_id, only_if_status=only_if_status, **run_values)
        return
    check_columns(s.runs, run_values)
    params = {
        "run_id_": run_id,
        "step_id_": step_id,
        "phase_": phase,
        "output_": output,
        "started_at_": started_at,
        "finished_at_": finished_at,
        "updated_at": now(),
        **run_values,
    }
    if only_if_status:
        params["from_"] = list(only_if_status)
    db.execute(_step_and_run(tuple(sorted(run_values)), bool(only_if_status)), params)


@functools.cache
def _step_and_run(run_columns: tuple[str, ...], conditional: bool) -> sa.Update:
    """PostgreSQL: upsert a step row, and update its run's `run_columns` (plus `updated_at`)."""
    step = pg_insert(s.run_steps).values(
        run_id=sa.bindparam("run_id_"),
        step_id=sa.bindparam("step_id_"),
        phase=sa.bindparam("phase_"),
        output=sa.bindparam("output_"),
        started_at=sa.bindparam("started_at_"),
        finished_at=sa.bindparam("finished_at_"),
    )
    step = step.on_conflict_do_update(
        index_elements=[s.run_steps.c.run_id, s.run_steps.c.step_id],
        set_={name: step.excluded[name] for name in ("phase", "output", "finished_at")},
    )
    columns: dict[str, Any] = {name: sa.bindparam(name) for name in (*run_columns, "updated_at")}
    update = s.runs.update().where(s.runs.c.id == sa.bindparam("run_id_")).values(columns)
    if conditional:
        update = update.where(s.runs.c.status.in_(sa.bindparam("from_", expanding=True)))
    return update.add_cte(step.cte("step"))


def step_output_for_update(db: Db, run_id: str, step_id: str) -> dict[str, Any] | None:
    """A step's recorded output, its row locked until the transaction ends.

    On PostgreSQL a concurrent writer of the same step waits here and then reads what
    this transaction wrote; on SQLite the transaction takes the database's write lock
    before it reads, which excludes every other writer.
    """
    hold_write_lock(db)
    row = db.execute(_STEP_OUTPUT_FOR_UPDATE, {"run_id": run_id, "step_id": step_id}).first()
    return dict(row[0] or {}) if row else None


_STEP_OUTPUT_FOR_UPDATE = (
    sa.select(s.run_steps.c.output)
    .where(
        s.run_steps.c.run_id == sa.bindparam("run_id"),
        s.run_steps.c.step_id == sa.bindparam("step_id"),
    )
    .with_for_update()
)


def reopen_step(db: Db, run_id: str, step_id: str) -> None:
    """Back to `running` for a retry; the nodes that already finished stay recorded."""
    output = step_output_for_update(db, run_id, step_id) or {}
    record_step(
        db,
        run_id,
        step_id,
        phase="running",
        output={"attempt": None, "nodes": output.get("nodes") or []},
        started_at=now(),
        finished_at=None,
    )


_RUN_ATTEMPT = sa.select(s.runs.c.retry_count).where(s.runs.c.id == sa.bindparam("run_id"))


def run_attempt(db: Db, run_id: str) -> int:
    """Which attempt at the run this is: 1, and one more for each retry."""
    return int(db.execute(_RUN_ATTEMPT, {"run_id": run_id}).scalar_one()) + 1


def record_decision(
    db: Db,
    run_id: str,
    step_id: str,
    request: dict[str, Any],
    response: dict[str, Any],
    *,
    attempt: int = 1,
) -> None:
    """One envelope per (run, step, attempt): the id is derived from the three, so a
    replay of an attempt inserts nothing. The first attempt keeps the id rows had before
    attempts were counted (`<run>:<step>`), so an in-flight run replayed across an
    upgrade still records it once; later ones are `<run>:<step>:<attempt>`."""
    insert_ignore(
        db,
        s.opencode_calls,
        id=f"{run_id}:{step_id}" if attempt == 1 else f"{run_id}:{step_id}:{attempt}",
        run_id=run_id,
        step_id=step_id,
        request=request,
        response=response,
        created_at=now(),
    )


class AlreadyExists(Exception):
    """A unique key was taken by a concurrent writer."""


@contextmanager
def write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction; a unique-key collision surfaces as `AlreadyExists`."""
    try:
        with engine.begin() as conn:
            # What the transaction reads before its first write is read under the lock.
            hold_write_lock(conn)
            yield conn
    except sa.exc.IntegrityError as exc:
        raise AlreadyExists(str(exc.orig)) from exc


def operations(engine: sa.Engine, workflow_id: str) -> list[dict[str, Any]]:
    from jejakekal.storage.readmodels import timeline

    with engine.connect() as conn:
        return timeline(conn, workflow_id)


def failed_children(engine: sa.Engine, workflow_id: str) -> list[str]:
    """Child workflows this workflow started that ended in ERROR."""
    from jejakekal.storage.dbos_tables import operation_outputs, workflow_status

    with engine.connect() as conn:
        oo = operation_outputs(conn.dialect.name)
        ws = workflow_status(conn.dialect.name)
        rows = conn.execute(
            sa.select(oo.c.child_workflow_id)
            .join(ws, ws.c.workflow_uuid == oo.c.child_workflow_id)
            .where(oo.c.workflow_uuid == workflow_id, ws.c.status == "ERROR")
            .distinct()
        )
        return sorted(r[0] for r in rows)


def orphan_doc_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    """Document runs whose row committed but whose workflow was never started."""
    from jejakekal.storage.dbos_tables import workflow_status

    with engine.connect() as conn:
        ws = workflow_status(conn.dialect.name)
        started = sa.select(ws.c.workflow_uuid).where(ws.c.workflow_uuid == s.runs.c.workflow_id)
        rows = conn.execute(
            sa.select(s.runs.c.id, s.runs.c.request)
            .where(s.runs.c.kind == "doc", s.runs.c.status == "running", ~started.exists())
            .order_by(s.runs.c.created_at)
        ).mappings()
        return [dict(r) for r in rows]

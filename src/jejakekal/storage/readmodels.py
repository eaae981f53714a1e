"""Read models: the queries behind run views and run lists. Ordered and canonical."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from jejakekal.domain import names
from jejakekal.domain.status import view_status
from jejakekal.storage import schema as s
from jejakekal.storage.dbos_tables import operation_outputs, workflow_status
from jejakekal.storage.documents import artifact_ids
from jejakekal.storage.runs import run_lookup

STEP_ORDER = {
    name: i for steps in (names.INTENT_STEPS, names.DOC_STEPS) for i, name in enumerate(steps)
}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; every timestamp we write is UTC.
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def timeline(conn: sa.Connection, workflow_id: str) -> list[dict[str, Any]]:
    stmt = _timeline_stmt(conn.dialect.name)
    rows = conn.execute(stmt, {"workflow_id": workflow_id}).mappings()
    return [dict(r) for r in rows]


_KEY = sa.bindparam("key_", type_=sa.String)  # a run id or a workflow id
_STEPS = sa.select(s.run_steps).where(s.run_steps.c.run_id == sa.bindparam("run_id_"))


def _steps(conn: sa.Connection, run_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(_STEPS, {"run_id_": run_id}).mappings()
    ordered = sorted(rows, key=lambda r: (STEP_ORDER.get(r["step_id"], 99), r["step_id"]))
    return [
        {
            "stepId": r["step_id"],
            "phase": r["phase"],
            "attempt": (r["output"] or {}).get("attempt"),
            "startedAt": iso(r["started_at"]),
            "finishedAt": iso(r["finished_at"]),
            "output": r["output"],
        }
        for r in ordered
    ]


def status_of(run: dict[str, Any], engine_row: dict[str, Any] | None) -> str:
    return view_status(run["kind"], run["status"], engine_row["status"] if engine_row else None)


def run_with_engine(
    conn: sa.Connection, run_or_workflow_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """A run's row and its engine row, read by one statement.

    Our last step commits before DBOS closes the workflow. Two separate reads can fall
    either side of those commits and pair an old run row with a new engine row (a
    `SUCCESS` beside our `running`); one statement sees one snapshot.
    """
    ws = workflow_status(conn.dialect.name)
    stmt = _run_with_engine_stmt(conn.dialect.name)
    row = conn.execute(stmt, {"key_": run_or_workflow_id}).mappings().first()
    if row is None:
        return None
    run = {c.name: row[c.name] for c in s.runs.c}
    engine_row = {c.name: row[f"ws_{c.name}"] for c in ws.c}
    return run, engine_row if engine_row["workflow_uuid"] is not None else None


@functools.cache
def _run_with_engine_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    engine_cols = [c.label(f"ws_{c.name}") for c in ws.c]
    return (
        sa.select(s.runs, *engine_cols)
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .where(run_lookup(_KEY))
    )


def run_view(engine: sa.Engine, run_or_workflow_id: str) -> dict[str, Any] | None:
    """The run view of [API-3], keys in the contract's order."""
    with engine.connect() as conn:
        found = run_with_engine(conn, run_or_workflow_id)
        if found is None:
            return None
        run, ws = found
        wf = run["workflow_id"]
        steps = _steps(conn, run["id"])
        ops = timeline(conn, wf)
        artifacts = artifact_ids(conn, run["id"])
    header = {
        "name": ws["name"] if ws else None,
        "recovery_attempts": ws["recovery_attempts"] if ws else None,
        "app_version": ws["application_version"] if ws else None,
        "executor_id": ws["executor_id"] if ws else None,
        "created_at": ws["created_at"] if ws else None,
        "updated_at": ws["updated_at"] if ws else None,
    }
    return {
        "run_id": run["id"],
        "runId": run["id"],
        "workflowId": wf,
        "kind": run["kind"],
        "status": status_of(run, ws),
        "dbos_status": ws["status"] if ws else None,
        "lastStep": run["last_step"],
        "retryCount": run["retry_count"],
        "nextAction": run["next_action"],
        "error": run["error"],
        "header": header,
        "steps": steps,
        "timeline": ops,
        "artifacts": artifacts,
    }


def run_summary(run: dict[str, Any], dbos_status: str | None) -> dict[str, Any]:
    return {
        "run_id": run["id"],
        "workflowId": run["workflow_id"],
        "kind": run["kind"],
        "status": view_status(run["kind"], run["status"], dbos_status),
        "dbos_status": dbos_status,
        "lastStep": run["last_step"],
        "retryCount": run["retry_count"],
        "created_at": iso(run["created_at"]),
        "updated_at": iso(run["updated_at"]),
    }


def list_runs(
    conn: sa.Connection, *, status: str | None, kind: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """A page of run summaries, newest first; each run and its engine status in one read."""
    ws = workflow_status(conn.dialect.name)
    stmt = (
        sa.select(s.runs, ws.c.status.label("ws_status"))
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .order_by(s.runs.c.created_at.desc(), s.runs.c.id.desc())
    )
    if status:
        stmt = stmt.where(s.runs.c.status == status)
    if kind:
        stmt = stmt.where(s.runs.c.kind == kind)
    rows = conn.execute(stmt.limit(limit).offset(offset)).mappings().all()
    return [run_summary(dict(r), r["ws_status"]) for r in rows]


def current_status(engine: sa.Engine, run_or_workflow_id: str) -> str | None:
    """Just the run's view status: one indexed read, for waiting on a run."""
    with engine.connect() as conn:
        stmt = _current_status_stmt(engine.dialect.name)
        row = conn.execute(stmt, {"key_": run_or_workflow_id}).first()
    return view_status(row[0], row[1], row[2]) if row else None


@functools.cache
def _current_status_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    return (
        sa.select(s.runs.c.kind, s.runs.c.status, ws.c.status)
        .outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id)
        .where(run_lookup(_KEY))
    )


def current_statuses(engine: sa.Engine, keys: list[str]) -> dict[str, str]:
    """The view status of each run named by a run id or a workflow id, by one indexed
    read (per 500 keys): what a long-poll watcher reads on each tick. Unknown keys are
    left out."""
    found: dict[str, str] = {}
    stmt = _current_statuses_stmt(engine.dialect.name)
    with engine.connect() as conn:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for run_id, workflow_id, kind, status, engine_status in conn.execute(
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

"""Everything persisted about one run, read in one transaction, for its export bundle.

Artifacts come from their own rows, never from step outputs, so an export still works
when `dbos.operation_outputs` has been tampered with; DBOS's rows are copied as stored.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jejakekal.domain.lifecycle import Action, view_status
from jejakekal.domain.snapshots import RunSnapshot, SnapshotRun, StoredRow
from jejakekal.storage import schema as s
from jejakekal.storage.database import Database, Tx
from jejakekal.storage.documents import run_artifacts
from jejakekal.storage.readmodels import timeline
from jejakekal.storage.runs import run_lookup

_RUN = sa.select(s.runs.c.id, s.runs.c.kind, s.runs.c.workflow_id, s.runs.c.status)


def _dbos_rows(tx: Tx, table: str, where: sa.ColumnElement[bool]) -> list[StoredRow]:
    schema = None if tx.dialect.name == "sqlite" else "dbos"
    source = sa.table(table, sa.column("workflow_uuid"), sa.column("function_id"), schema=schema)
    stmt: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(source).where(where)
    if table == "operation_outputs":
        stmt = stmt.order_by(source.c.workflow_uuid, source.c.function_id)
    return [dict(r) for r in tx.execute(stmt).mappings()]


def _rows(tx: Tx, table: sa.Table, run_id: str, *order: str) -> list[StoredRow]:
    stmt = sa.select(table).where(table.c.run_id == run_id).order_by(*(table.c[o] for o in order))
    return [dict(r) for r in tx.execute(stmt).mappings()]


def _audit_rows(tx: Tx, run_id: str) -> list[StoredRow]:
    """The run's operator actions but its exports: an export changes nothing in the run,
    and leaving it out keeps two downloads of a finished run byte-identical."""
    t = s.operator_actions
    stmt = (
        sa.select(t)
        .where(t.c.run_id == run_id, t.c.action != Action.EXPORT.value)
        .order_by(t.c.at, t.c.id)
    )
    return [dict(r) for r in tx.execute(stmt).mappings()]


def run_snapshot(db: Database, run_or_workflow_id: str) -> RunSnapshot | None:
    with db.read() as tx:
        row = tx.execute(_RUN.where(run_lookup(run_or_workflow_id))).mappings().first()
        if row is None:
            return None
        run = SnapshotRun(
            id=row["id"], kind=row["kind"], workflow_id=row["workflow_id"], status=row["status"]
        )
        wf = run["workflow_id"]
        uuid: sa.ColumnClause[str] = sa.column("workflow_uuid")
        status_rows = _dbos_rows(tx, "workflow_status", uuid == wf)
        ops = _dbos_rows(tx, "operation_outputs", uuid == wf)
        children = sorted({str(o["child_workflow_id"]) for o in ops if o.get("child_workflow_id")})
        if children:
            ops += _dbos_rows(tx, "operation_outputs", uuid.in_(children))
        engine_row = status_rows[0] if status_rows else None
        dbos_status = str(engine_row["status"]) if engine_row else None
        return {
            "run": run,
            "status": view_status(run["kind"], run["status"], dbos_status),
            "dbos_status": dbos_status,
            "steps": _rows(tx, s.run_steps, run["id"], "step_id"),
            "timeline": timeline(tx, wf),
            # In the order asked (ids sort `:DecideST:10` before `:DecideST:2`).
            "decisions": _rows(tx, s.opencode_calls, run["id"], "created_at", "id"),
            "effects": _rows(tx, s.effects, run["id"], "effect_key"),
            "gates": _rows(tx, s.gate_ledger, run["id"], "at", "id"),
            "audit": _audit_rows(tx, run["id"]),
            "artifacts": run_artifacts(tx, run["id"]),
            "workflow_status": engine_row,
            "operation_outputs": ops,
        }

"""The `operator_actions` rows: written inside the caller's transaction, read per run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import sqlalchemy as sa

from jejakekal.domain.audit import Who
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import Action
from jejakekal.domain.views import ActionEntry
from jejakekal.storage import runs
from jejakekal.storage import schema as s
from jejakekal.storage.database import Tx


def record(
    tx: Tx,
    run_id: str,
    action: Action,
    who: Who,
    *,
    before: str | None,
    after: str | None,
    detail: Mapping[str, object] | None = None,
) -> str:
    """Write one action's row in `tx`: it commits with the action's effect or not at all."""
    action_id = f"act-{uuid.uuid4().hex}"
    tx.execute(
        s.operator_actions.insert().values(
            id=action_id,
            run_id=run_id,
            action=action.value,
            actor=who.actor,
            origin=who.origin.value,
            reason=who.reason,
            request_id=who.request_id,
            batch_id=who.batch_id,
            status_before=before,
            status_after=after,
            detail=dict(detail or {}),
            at=runs.now(),
        )
    )
    return action_id


_OF_RUN = (
    sa.select(s.operator_actions)
    .where(s.operator_actions.c.run_id == sa.bindparam("run_id_"))
    .order_by(s.operator_actions.c.at, s.operator_actions.c.id)
)


def of_run(tx: Tx, run_id: str) -> tuple[ActionEntry, ...]:
    rows = tx.execute(_OF_RUN, {"run_id_": run_id}).mappings().all()
    return tuple(_entry(row) for row in rows)


def _entry(row: sa.RowMapping) -> ActionEntry:
    detail: JsonObject = row["detail"] or {}
    return ActionEntry(
        id=row["id"],
        action=row["action"],
        actor=row["actor"],
        origin=row["origin"],
        reason=row["reason"],
        request_id=row["request_id"],
        batch_id=row["batch_id"],
        status_before=row["status_before"],
        status_after=row["status_after"],
        detail=detail,
        at=runs.iso(row["at"]),
    )

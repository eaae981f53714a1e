"""Which waiting workflows have a message to read: one query for all of them."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from jejakekal.storage.database import Database
from jejakekal.storage.dbos_tables import notifications


def pending(db: Database, workflow_ids: Collection[str]) -> set[tuple[str, str]]:
    """(workflow id, topic) of every unconsumed message to one of `workflow_ids`."""
    stmt = _pending_stmt(db.dialect.NAME)
    with db.read() as tx:
        rows = tx.execute(stmt, {"ids_": list(workflow_ids)})
        return {(str(dest), str(topic)) for dest, topic in rows}


@functools.cache
def _pending_stmt(dialect: str) -> sa.Select[Any]:
    t = notifications(dialect)
    ids = sa.bindparam("ids_", expanding=True, type_=sa.String)
    return (
        sa.select(t.c.destination_uuid, t.c.topic)
        .where(t.c.destination_uuid.in_(ids), t.c.consumed == sa.false())
        .distinct()
    )

"""Whether DBOS queues have work: the probe behind queue pacing (`workflows/pacing.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sqlalchemy as sa

from jejakekal.storage.database import Database
from jejakekal.storage.dbos_tables import workflow_status


@cache
def _activity(dialect: str) -> sa.Select[tuple[bool]]:
    ws = workflow_status(dialect)
    queues: sa.BindParameter[list[str]] = sa.bindparam("queues", expanding=True)
    waiting = sa.exists().where(
        ws.c.queue_name.in_(queues),
        ws.c.status == "ENQUEUED",
        # The literal predicate of DBOS's in-flight partial index, so SQLite uses it.
        ws.c.status.in_([sa.literal_column("'ENQUEUED'"), sa.literal_column("'PENDING'")]),
    )
    recent = sa.exists().where(
        ws.c.created_at >= sa.bindparam("since_ms"), ws.c.queue_name.in_(queues)
    )
    return sa.select(sa.or_(waiting, recent))


def has_work(db: Database, queues: Sequence[str], *, since_ms: int) -> bool:
    """A workflow waits on one of `queues`, or one was put on them at or after `since_ms`.

    Both probes ride indexes DBOS keeps: its in-flight partial index, and `created_at`
    (bounded to the recent rows).
    """
    with db.read() as tx:
        found = tx.execute(
            _activity(tx.dialect.name), {"queues": list(queues), "since_ms": since_ms}
        ).scalar()
    return bool(found)

"""`app.marks`: the crash drill's witness rows [WF-CRASH], exactly one per (run, step)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from jejakekal.storage import schema as s
from jejakekal.storage.effects import Db


def mark_once(db: Db, run_id: str, step: str) -> bool:
    """Insert the (run, step) mark unless it exists; True when this call inserted.

    The table has no unique key (the courses count duplicates with GROUP BY), so the
    check and the insert share the caller's transaction: a step replayed after a crash
    between its commit and its checkpoint finds its mark and adds none.
    """
    present = db.execute(
        sa.select(sa.literal(1))
        .select_from(s.marks)
        .where(s.marks.c.run_id == run_id, s.marks.c.step == step)
        .limit(1)
    ).first()
    if present is not None:
        return False
    db.execute(s.marks.insert().values(run_id=run_id, step=step, created_at=datetime.now(UTC)))
    return True

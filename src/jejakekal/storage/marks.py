"""`app.marks`: the crash drill's witness rows [WF-CRASH], exactly one per (run, step)."""

from __future__ import annotations

from datetime import UTC, datetime

from jejakekal.storage import schema as s
from jejakekal.storage.effects import Db, insert_ignore


def mark_once(db: Db, run_id: str, step: str) -> bool:
    """Insert the (run, step) mark unless it exists; True when this call inserted.

    A unique index holds the rule, so a step replayed after a crash between its commit
    and its checkpoint, or run twice at once, adds no second mark.
    """
    return insert_ignore(db, s.marks, run_id=run_id, step=step, created_at=datetime.now(UTC))

"""`app.marks`: the crash drill's witness rows (README, "Drills"), exactly one per (run, step)."""

from __future__ import annotations

from datetime import UTC, datetime

from jejakekal.storage import schema as s
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import insert_ignore


def mark_once(tx: Tx, run_id: str, step: str) -> bool:
    """Insert the (run, step) mark unless it exists; True when this call inserted.

    A unique index holds the rule, so a step replayed after a crash between its commit
    and its checkpoint, or run twice at once, adds no second mark.
    """
    return insert_ignore(tx, s.marks, run_id=run_id, step=step, created_at=datetime.now(UTC))

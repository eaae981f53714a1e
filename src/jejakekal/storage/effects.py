"""The idempotent-effect primitive and the mock external system it talks to.

An effect's ledger row, the effect itself and its result commit in one transaction,
keyed by an effect key derived from run and step. The ledger row is inserted first:
a concurrent second execution blocks on that key (PostgreSQL) or on the write lock
(SQLite) and then finds the recorded result instead of acting again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from jejakekal.storage import schema as s

Db = sa.Connection | Session


def dialect_of(db: Db) -> str:
    return db.dialect.name if isinstance(db, sa.Connection) else db.get_bind().dialect.name


def insert_ignore(db: Db, table: sa.Table, **values: Any) -> bool:
    """Insert unless the primary key exists; True when this call inserted."""
    insert = pg_insert if dialect_of(db) == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: through a Session, rowcount can be -1 on PostgreSQL.
    stmt = insert(table).values(**values).on_conflict_do_nothing()
    return db.execute(stmt.returning(sa.literal(1))).first() is not None


def upsert(
    db: Db, table: sa.Table, keys: dict[str, Any], created: dict[str, Any], **values: Any
) -> None:
    """One statement: insert `keys | created | values`, or update `values` on the key."""
    insert = pg_insert if dialect_of(db) == "postgresql" else sqlite_insert
    stmt = insert(table).values(**keys, **created, **values)
    db.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=values))


def call_idempotent_effect(
    db: Db, effect_key: str, run_id: str, step_id: str, effect: Callable[[Db], Any]
) -> Any:
    """Run `effect` at most once per `effect_key`; a replay returns the recorded result.

    Must be called inside a transaction: the caller's commit publishes the ledger row,
    the effect's writes and the result together.
    """
    claimed = insert_ignore(
        db,
        s.effects,
        effect_key=effect_key,
        run_id=run_id,
        step_id=step_id,
        result=None,
        created_at=datetime.now(UTC),
    )
    if not claimed:
        return db.execute(
            sa.select(s.effects.c.result).where(s.effects.c.effect_key == effect_key)
        ).scalar_one()
    result = effect(db)
    db.execute(s.effects.update().where(s.effects.c.effect_key == effect_key).values(result=result))
    return result


def deliver_receipt(db: Db, receipt_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The mock external system: counts every delivery; `seen_count > 1` is a duplicate."""
    now = datetime.now(UTC)
    if not insert_ignore(
        db,
        s.mock_receipts,
        receipt_key=receipt_key,
        seen_count=1,
        payload=payload,
        first_seen_at=now,
        last_seen_at=now,
    ):
        db.execute(
            s.mock_receipts.update()
            .where(s.mock_receipts.c.receipt_key == receipt_key)
            .values(seen_count=s.mock_receipts.c.seen_count + 1, last_seen_at=now)
        )
    return {"receipt_key": receipt_key, "accepted_at": now.isoformat()}

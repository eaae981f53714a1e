"""The idempotent-effect primitive and the mock external system it talks to.

An effect's ledger row, the effect itself and its result commit in one transaction,
keyed by an effect key derived from run and step. The ledger row is inserted first:
a concurrent second execution blocks on that key (PostgreSQL) or on the write lock
(SQLite) and then finds the recorded result instead of acting again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from jejakekal.domain.execute import Receipt
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.storage import dialects
from jejakekal.storage import schema as s

Db = sa.Connection


def insert_ignore(db: Db, table: sa.Table, **values: Any) -> bool:
    """Insert unless the primary key exists; True when this call inserted."""
    check_columns(table, values)
    return db.execute(_insert_ignore(db.dialect.name, table), values).first() is not None


def upsert(
    db: Db, table: sa.Table, keys: dict[str, object], created: dict[str, object], **values: Any
) -> None:
    """One statement: insert `keys | created | values`, or update `values` on the key."""
    stmt = _upsert(db.dialect.name, table, tuple(keys), tuple(values))
    db.execute(stmt, {**keys, **created, **values})


def check_columns(table: sa.Table, values: Mapping[str, Any]) -> None:
    """A statement that takes its columns from the parameters ignores unknown names: refuse them."""
    unknown = values.keys() - table.c.keys()
    if unknown:
        raise TypeError(f"{table.name} has no column(s) {sorted(unknown)}")


# Hot paths execute statements built once and bind their values at execution. Building
# a statement per call costs about 0.3 ms on SQLite, several times the query itself,
# most of it coercing the values and computing the statement's cache key.


def _insert(dialect: str, table: sa.Table) -> Any:
    return dialects.named(dialect).insert(table)


@functools.cache
def _insert_ignore(dialect: str, table: sa.Table) -> sa.Insert:
    # RETURNING, not rowcount: through a Session, rowcount can be -1 on PostgreSQL.
    stmt: sa.Insert = _insert(dialect, table).on_conflict_do_nothing().returning(sa.literal(1))
    return stmt


@functools.cache
def _upsert(
    dialect: str, table: sa.Table, keys: tuple[str, ...], updated: tuple[str, ...]
) -> sa.Insert:
    insert = _insert(dialect, table)
    stmt: sa.Insert = insert.on_conflict_do_update(
        index_elements=list(keys), set_={name: insert.excluded[name] for name in updated}
    )
    return stmt


_EFFECT_RESULT = sa.select(s.effects.c.result).where(s.effects.c.effect_key == sa.bindparam("key_"))
_SET_EFFECT_RESULT = s.effects.update().where(s.effects.c.effect_key == sa.bindparam("key_"))


def call_idempotent_effect(
    db: Db, effect_key: str, run_id: str, step_id: str, effect: Callable[[Db], Any]
) -> Any:
    """Run `effect` at most once per `effect_key`; a replay returns the recorded result.

    Must be called inside a transaction: the caller's commit publishes the ledger row,
    the effect's writes and the result together.
    """
    if not _claim(db, effect_key, run_id, step_id, None):
        return db.execute(_EFFECT_RESULT, {"key_": effect_key}).scalar_one()
    result = effect(db)
    db.execute(_SET_EFFECT_RESULT, {"key_": effect_key, "result": result})
    return result


def _claim(db: Db, effect_key: str, run_id: str, step_id: str, result: Any) -> bool:
    """Insert the ledger row unless the key has one; True when this call inserted it."""
    return insert_ignore(
        db,
        s.effects,
        effect_key=effect_key,
        run_id=run_id,
        step_id=step_id,
        result=result,
        created_at=datetime.now(UTC),
    )


def recorded_effect(db: Db, effect_key: str) -> tuple[bool, Any]:
    """(whether the ledger holds `effect_key`, its recorded result)."""
    row = db.execute(_EFFECT_RESULT, {"key_": effect_key}).first()
    return (False, None) if row is None else (True, row[0])


def record_effect(db: Db, effect_key: str, run_id: str, step_id: str, result: Any) -> Any:
    """Record an effect that happened outside the transaction (a model's reply), once:
    when a concurrent execution recorded it first, its result wins and is returned."""
    if _claim(db, effect_key, run_id, step_id, result):
        return result
    return db.execute(_EFFECT_RESULT, {"key_": effect_key}).scalar_one()


def deliver_receipt(db: Db, receipt_key: str, payload: JsonObject) -> Receipt:
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
    return Receipt(receipt_key=receipt_key, accepted_at=now.isoformat())

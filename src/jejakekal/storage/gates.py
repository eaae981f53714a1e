"""Human gates and their ledger (README, "Human gates").

A gate row is written when a run opens the gate and changed once, by a compare-and-set
from `open`: to `answered` or `rejected` by the first accepted answer, or to `timed_out`
by its deadline. The ledger keeps one row per gate and kind (`<gate id>:<kind>`), so a
step replayed after a crash writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jejakekal.domain.gates import Gate, LedgerKind, Said
from jejakekal.domain.views import GateView, LedgerEntry
from jejakekal.storage import schema as s
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import insert_ignore
from jejakekal.storage.runs import iso

OPEN = "open"


def open_gate(
    tx: Tx,
    *,
    gate_id: str,
    run_id: str,
    gate: Gate,
    iteration: int,
    opened_at: datetime,
    deadline_at: datetime | None,
) -> None:
    """The gate's row and its `opened` ledger row, unless a replay wrote them already."""
    insert_ignore(
        tx,
        s.gates,
        id=gate_id,
        run_id=run_id,
        gate_key=gate.key,
        iteration=iteration,
        topic=gate.topic,
        question=gate.question,
        question_sha256=gate.question_sha256,
        spec=gate.spec(),
        status=OPEN,
        opened_at=opened_at,
        deadline_at=deadline_at,
    )
    ledger(tx, gate_id, run_id, gate, LedgerKind.OPENED, at=opened_at)


def ledger(
    tx: Tx,
    gate_id: str,
    run_id: str,
    gate: Gate,
    kind: LedgerKind,
    *,
    at: datetime,
    said: Said | None = None,
) -> None:
    insert_ignore(
        tx,
        s.gate_ledger,
        id=f"{gate_id}:{kind}",
        gate_id=gate_id,
        run_id=run_id,
        gate_key=gate.key,
        kind=kind.value,
        question_sha256=gate.question_sha256,
        at=at,
        **(said.columns() if said else {}),
    )


def settle(
    tx: Tx,
    gate_id: str,
    status: str,
    *,
    at: datetime,
    said: Said | None = None,
) -> bool:
    """Close an open gate; False when it was closed already (another answer, or its
    deadline, came first)."""
    stmt = (
        sa.update(s.gates)
        .where(s.gates.c.id == gate_id, s.gates.c.status == OPEN)
        .values(status=status, answered_at=at, **(said.columns() if said else {}))
        .returning(s.gates.c.id)
    )
    return tx.execute(stmt).first() is not None


def escalate(tx: Tx, gate_id: str, at: datetime) -> None:
    tx.execute(
        sa.update(s.gates)
        .where(s.gates.c.id == gate_id, s.gates.c.escalated_at.is_(None))
        .values(escalated_at=at)
    )


def get(tx: Tx, gate_id: str) -> GateView | None:
    row = tx.execute(sa.select(s.gates).where(s.gates.c.id == gate_id)).mappings().first()
    return _view(row) if row else None


def latest(tx: Tx, run_id: str, key: str, *, lock: bool = False) -> GateView | None:
    """The run's last asking of gate `key` (the agent loop may ask it again)."""
    stmt = (
        sa.select(s.gates)
        .where(s.gates.c.run_id == run_id, s.gates.c.gate_key == key)
        .order_by(s.gates.c.opened_at.desc(), s.gates.c.id.desc())
        .limit(1)
    )
    if lock and tx.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = tx.execute(stmt).mappings().first()
    return _view(row) if row else None


def open_of_run(tx: Tx, run_id: str) -> GateView | None:
    row = (
        tx.execute(
            sa.select(s.gates)
            .where(s.gates.c.run_id == run_id, s.gates.c.status == OPEN)
            .order_by(s.gates.c.opened_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return _view(row) if row else None


def of_run(tx: Tx, run_id: str) -> tuple[list[GateView], list[LedgerEntry]]:
    """The run's gates in the order they opened, and its ledger in time order."""
    gates = tx.execute(
        sa.select(s.gates)
        .where(s.gates.c.run_id == run_id)
        .order_by(s.gates.c.opened_at, s.gates.c.id)
    ).mappings()
    views = [_view(row) for row in gates]
    entries = tx.execute(
        sa.select(s.gate_ledger)
        .where(s.gate_ledger.c.run_id == run_id)
        .order_by(s.gate_ledger.c.at, s.gate_ledger.c.id)
    ).mappings()
    return views, [_entry(row) for row in entries]


def inbox(tx: Tx, *, status: str, limit: int, offset: int) -> list[GateView]:
    """Gates of one status across runs, oldest first, each with its run's goal."""
    stmt = (
        sa.select(s.gates, s.intents.c.goal)
        .join(s.runs, s.runs.c.id == s.gates.c.run_id)
        .outerjoin(s.intents, s.intents.c.id == s.runs.c.intent_id)
        .where(s.gates.c.status == status)
        .order_by(s.gates.c.opened_at, s.gates.c.id)
        .limit(limit)
        .offset(offset)
    )
    if status == OPEN:
        # A cancelled run's gate stays open (a resume asks it again) but waits for no one.
        stmt = stmt.where(s.runs.c.status == "waiting_input")
    return [_view(row, goal=row["goal"]) for row in tx.execute(stmt).mappings()]


def _view(row: Any, goal: str | None = None) -> GateView:
    spec = row["spec"]
    return GateView(
        gate_id=row["id"],
        run_id=row["run_id"],
        key=row["gate_key"],
        iteration=row["iteration"],
        question=row["question"],
        question_sha256=row["question_sha256"],
        answer_schema=spec.get("answer", {}),
        timeout_s=spec.get("timeout_s"),
        on_timeout=spec.get("on_timeout", "fail"),
        escalate_after_s=spec.get("escalate_after_s"),
        status=row["status"],
        opened_at=iso(row["opened_at"]),
        deadline_at=iso(row["deadline_at"]),
        escalated_at=iso(row["escalated_at"]),
        answer=row["answer"],
        actor=row["actor"],
        origin=row["origin"],
        dedupe_key=row["dedupe_key"],
        reason=row["reason"],
        answered_at=iso(row["answered_at"]),
        goal=goal,
    )


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        gate_id=row["gate_id"],
        key=row["gate_key"],
        kind=row["kind"],
        question_sha256=row["question_sha256"],
        answer=row["answer"],
        actor=row["actor"],
        origin=row["origin"],
        dedupe_key=row["dedupe_key"],
        reason=row["reason"],
        at=iso(row["at"]),
    )

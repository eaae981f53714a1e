"""What a run's human gates look like in the UI: the open gate's form (its card), the
rows of closed gates and of the gate ledger, and the answer a gate form posted. Plain
functions, no I/O."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from jejakekal.domain import errors
from jejakekal.domain.gates import PLAN_GATE, GateAnswer
from jejakekal.domain.views import GateView, LedgerEntry, PlannedNode

_GATE_STATUS_LABELS = {"timed_out": "timed out"}
NONE_SHOWN = "\u2013"  # an en dash, as the templates show a missing value
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class GateCard:
    """An open gate as its form shows it: the inputs the answer schema asks for, the
    plan it approves (the `plan` gate) and the dedupe key this rendering of it sends."""

    gate: GateView
    slug: str  # the gate's id, safe in element ids
    kind: str  # choice | text | json
    choices: list[str]
    max_length: int | None
    plan: tuple[PlannedNode, ...]
    dedupe_key: str
    countdown: str
    opened_at: str
    escalated_at: str | None


def gate_card(gate: GateView, *, plan: tuple[PlannedNode, ...], now_ms: int) -> GateCard:
    schema = gate.answer_schema
    kind = str(schema.get("type", "choice"))
    max_length = schema.get("max_length")
    return GateCard(
        gate=gate,
        slug=_UNSAFE_ID.sub("-", gate.gate_id),
        kind=kind,
        choices=gate.choices,
        max_length=max_length if isinstance(max_length, int) else None,
        plan=plan if gate.key == PLAN_GATE else (),
        # A double click, or a retried post, repeats this key: answered 202 duplicate.
        dedupe_key=secrets.token_urlsafe(12),
        countdown=countdown(gate.deadline_at, now_ms),
        opened_at=moment(gate.opened_at),
        escalated_at=moment(gate.escalated_at) if gate.escalated_at else None,
    )


def countdown(deadline_at: str | None, now_ms: int) -> str:
    """What a deadline reads as: `due in 4m 05s` (app.js keeps it counting)."""
    if deadline_at is None:
        return "no deadline"
    try:
        deadline_ms = int(datetime.fromisoformat(deadline_at).timestamp() * 1000)
    except ValueError:
        return f"due {deadline_at}"
    left_s = (deadline_ms - now_ms) // 1000
    if left_s < 0:
        return "deadline passed"
    hours, rest = divmod(left_s, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"due in {hours}h {minutes:02d}m {seconds:02d}s"
    if minutes:
        return f"due in {minutes}m {seconds:02d}s"
    return f"due in {seconds}s"


def gate_status_label(status: str) -> str:
    return _GATE_STATUS_LABELS.get(status, status)


def answer_text(value: object) -> str:
    """An answer as one line: text as it is, anything else as compact JSON."""
    if value is None:
        return NONE_SHOWN
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def moment(iso: str | None) -> str:
    """`2026-12-07T17:30:05.123Z` as `2026-12-07 17:30:05`."""
    return NONE_SHOWN if iso is None else f"{iso[:10]} {iso[11:19]}"


def form_answer(kind: str | None, key: str, form: Mapping[str, str]) -> GateAnswer:
    """The answer a gate form posted, read as the gate's schema says: a choice button's
    value, the text, or the JSON text parsed (`InvalidAnswer` when it is not JSON)."""
    raw = form.get("answer", "")
    answer: object = raw
    if kind == "json":
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise errors.InvalidAnswer(
                f"gate {key!r}: the answer is not JSON ({exc})", gate=key, field="answer"
            ) from exc
    elif kind == "text":
        answer = raw.replace("\r\n", "\n")
    reason = form.get("reason", "").strip() or None
    dedupe_key = form.get("dedupeKey", "").strip() or None
    try:
        return GateAnswer(answer=answer, reason=reason, dedupeKey=dedupe_key)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise errors.InvalidAnswer(f"{field}: {first['msg']}", gate=key, field=field) from exc


@dataclass(frozen=True)
class ClosedGateRow:
    """A gate that closed: who answered what, when, and from where."""

    key: str
    question: str
    status: str
    outcome: str
    answer: str
    actor: str
    origin: str
    answered_at: str
    reason: str


@dataclass(frozen=True)
class LedgerRow:
    at: str
    key: str
    kind: str  # a LedgerKind
    event: str  # the kind as the table says it
    answer: str
    actor: str
    origin: str
    reason: str


def closed_gate_rows(gates: tuple[GateView, ...]) -> list[ClosedGateRow]:
    return [
        ClosedGateRow(
            key=g.key,
            question=g.question,
            status=g.status,
            outcome=gate_status_label(g.status),
            answer=answer_text(g.answer),
            actor=g.actor or NONE_SHOWN,
            origin=g.origin or NONE_SHOWN,
            answered_at=moment(g.answered_at),
            reason=g.reason or "",
        )
        for g in gates
        if not g.is_open
    ]


def ledger_rows(ledger: tuple[LedgerEntry, ...]) -> list[LedgerRow]:
    return [
        LedgerRow(
            at=moment(e.at),
            key=e.key,
            kind=e.kind,
            event=gate_status_label(e.kind),
            answer=answer_text(e.answer) if e.answer is not None else "",
            actor=e.actor or "",
            origin=e.origin or "",
            reason=e.reason or "",
        )
        for e in ledger
    ]

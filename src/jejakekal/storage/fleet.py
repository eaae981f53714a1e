"""The fleet read model: what `GET /ops`, `GET /metrics`, the UI's operations page and
`jejakekal status` show, read from the shared database so every process of a fleet
(and a UI in split mode) sees the same thing.

Each part is one statement with its values as parameters, bounded by an index or a
limit, except the run counts, which group every run (one row per kind and status).
"""

from __future__ import annotations

import bisect
import functools
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from jejakekal.domain import names
from jejakekal.domain.fleet import (
    FAILED_STATUSES,
    KIND_STATUSES,
    STEP_BUCKETS_S,
    FailedRun,
    Fleet,
    OpenGate,
    OpenGates,
    QueueDepth,
    RunCount,
    StepDurations,
    WorkerBeat,
)
from jejakekal.domain.lifecycle import DbosStatus, RunKind, RunStatus, view_status
from jejakekal.storage import schema as s
from jejakekal.storage.database import Database, Tx
from jejakekal.storage.dbos_tables import operation_outputs, workflow_status
from jejakekal.storage.gates import OPEN
from jejakekal.storage.runs import iso
from jejakekal.storage.workers import DEAD_AFTER_SEC

# The queues every process declares (bootstrap): shown even while empty.
KNOWN_QUEUES = (names.INTENT_QUEUE, names.SANDBOX_QUEUE, names.DOC_QUEUE)
FAILED_LIMIT = 20
GATE_LIMIT = 50
WORKER_LIMIT = 100
# The step-duration histogram reads the most recently completed steps, at most this many.
STEP_SAMPLE = 1000
_ENGINE_FAILED = (DbosStatus.ERROR.value, DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED.value)


def read_fleet(
    db: Database,
    *,
    now_ms: int | None = None,
    failed_limit: int = FAILED_LIMIT,
    gate_limit: int = GATE_LIMIT,
    step_sample: int = STEP_SAMPLE,
) -> Fleet:
    """The fleet as read now (or at `now_ms`, which ages heartbeats and gates), in one
    read transaction of seven statements."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with db.read() as tx:
        runs = _run_counts(tx)
        queues = _queue_depths(tx)
        workers = _workers(tx, now_ms)
        gates = _open_gates(tx, now_ms, gate_limit)
        failed = _failed_runs(tx, failed_limit)
        steps = _step_durations(tx, step_sample)
    return Fleet(
        at_ms=now_ms,
        runs=runs,
        queues=queues,
        workers=workers,
        dead_after_s=DEAD_AFTER_SEC,
        open_gates=gates,
        failed_total=sum(r.count for r in runs if r.status in FAILED_STATUSES),
        failed=failed,
        step_sample=step_sample,
        steps=steps,
    )


# -- runs by kind and status ---------------------------------------------------------


@functools.cache
def _run_counts_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    return (
        sa.select(s.runs.c.kind, s.runs.c.status, ws.c.status, sa.func.count())
        .select_from(s.runs.outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id))
        .group_by(s.runs.c.kind, s.runs.c.status, ws.c.status)
    )


def _run_counts(tx: Tx) -> tuple[RunCount, ...]:
    """Every kind and status of its vocabulary, zero included; the status is the one a
    run's view shows (ours reconciled with the engine's)."""
    counted: Counter[tuple[str, str]] = Counter()
    for kind, app_status, engine_status, n in tx.execute(_run_counts_stmt(tx.dialect.name)):
        counted[(kind, view_status(kind, app_status, engine_status))] += n
    return tuple(
        RunCount(kind=kind, status=status, count=counted[(kind.value, status)])
        for kind, statuses in KIND_STATUSES.items()
        for status in statuses
    )


# -- queues ------------------------------------------------------------------------------


@functools.cache
def _queue_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    return (
        sa.select(ws.c.queue_name, ws.c.status, sa.func.count())
        .where(
            ws.c.queue_name.is_not(None),
            # The literal predicate of DBOS's in-flight partial index, so SQLite uses it.
            ws.c.status.in_([sa.literal_column("'ENQUEUED'"), sa.literal_column("'PENDING'")]),
        )
        .group_by(ws.c.queue_name, ws.c.status)
    )


def _queue_depths(tx: Tx) -> tuple[QueueDepth, ...]:
    depth: dict[str, Counter[str]] = {queue: Counter() for queue in KNOWN_QUEUES}
    for queue, status, n in tx.execute(_queue_stmt(tx.dialect.name)):
        depth.setdefault(queue, Counter())[status] += n
    return tuple(
        QueueDepth(
            queue=queue,
            enqueued=counts[DbosStatus.ENQUEUED.value],
            pending=counts[DbosStatus.PENDING.value],
        )
        for queue, counts in sorted(depth.items())
    )


# -- workers -----------------------------------------------------------------------------

_w = s.workers
_WORKERS = (
    sa.select(
        _w.c.executor_id,
        _w.c.role,
        _w.c.host,
        _w.c.pid,
        _w.c.app_version,
        _w.c.started_at_ms,
        _w.c.last_seen_ms,
        _w.c.recovered_by,
    )
    .order_by(_w.c.last_seen_ms.desc(), _w.c.executor_id)
    .limit(sa.bindparam("limit_"))
)


def _workers(tx: Tx, now_ms: int) -> tuple[WorkerBeat, ...]:
    """Every version's workers, the most recently seen first."""
    threshold = now_ms - int(DEAD_AFTER_SEC * 1000)
    rows = tx.execute(_WORKERS, {"limit_": WORKER_LIMIT}).mappings()
    return tuple(
        WorkerBeat(
            executor_id=r["executor_id"],
            role=r["role"],
            host=r["host"],
            pid=r["pid"],
            app_version=r["app_version"],
            started_at_ms=r["started_at_ms"],
            last_seen_ms=r["last_seen_ms"],
            # A clean shutdown writes 0: the worker is gone, not 56 years late.
            age_s=max(0.0, (now_ms - r["last_seen_ms"]) / 1000) if r["last_seen_ms"] else None,
            alive=r["last_seen_ms"] >= threshold,
            recovered_by=r["recovered_by"],
        )
        for r in rows
    )


# -- open gates --------------------------------------------------------------------------

_g = s.gates
_WAITING_GATES = s.gates.join(s.runs, s.runs.c.id == _g.c.run_id)
# A cancelled run's gate stays open (a resume asks it again) but waits for no one.
_WAITING = sa.and_(_g.c.status == OPEN, s.runs.c.status == RunStatus.WAITING_INPUT.value)
_GATE_TOTALS = (
    sa.select(sa.func.count(), sa.func.min(_g.c.opened_at))
    .select_from(_WAITING_GATES)
    .where(_WAITING)
)
_OLDEST_GATES = (
    sa.select(_g.c.run_id, _g.c.gate_key, _g.c.question, _g.c.opened_at)
    .select_from(_WAITING_GATES)
    .where(_WAITING)
    .order_by(_g.c.opened_at, _g.c.id)
    .limit(sa.bindparam("limit_"))
)


def _open_gates(tx: Tx, now_ms: int, limit: int) -> OpenGates:
    count, oldest = tx.execute(_GATE_TOTALS).one()
    items = tuple(
        OpenGate(
            run_id=r["run_id"],
            key=r["gate_key"],
            question=r["question"],
            opened_at=iso(r["opened_at"]),
            age_s=_age_s(r["opened_at"], now_ms),
        )
        for r in tx.execute(_OLDEST_GATES, {"limit_": limit}).mappings()
    )
    return OpenGates(
        count=count,
        oldest_opened_at=iso(oldest),
        oldest_age_s=_age_s(oldest, now_ms) if oldest is not None else None,
        items=items,
    )


def _age_s(at: datetime, now_ms: int) -> float:
    # SQLite hands back naive datetimes; every timestamp we write is UTC.
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return max(0.0, now_ms / 1000 - aware.timestamp())


# -- failed runs -------------------------------------------------------------------------


@functools.cache
def _failed_stmt(dialect: str) -> sa.Select[Any]:
    ws = workflow_status(dialect)
    return (
        sa.select(
            s.runs.c.id,
            s.runs.c.kind,
            s.runs.c.status,
            ws.c.status.label("ws_status"),
            s.runs.c.updated_at,
            s.runs.c.error,
        )
        .select_from(s.runs.outerjoin(ws, ws.c.workflow_uuid == s.runs.c.workflow_id))
        .where(sa.or_(s.runs.c.status.in_(FAILED_STATUSES), ws.c.status.in_(_ENGINE_FAILED)))
        .order_by(s.runs.c.updated_at.desc(), s.runs.c.id.desc())
        .limit(sa.bindparam("limit_"))
    )


def _failed_runs(tx: Tx, limit: int) -> tuple[FailedRun, ...]:
    """The most recent runs whose view shows a failure. A failed run being retried now
    reads as running and is left out, so a few more rows than `limit` are read."""
    rows = tx.execute(_failed_stmt(tx.dialect.name), {"limit_": limit + 20}).mappings()
    found = []
    for r in rows:
        status = view_status(r["kind"], r["status"], r["ws_status"])
        if status in FAILED_STATUSES:
            found.append(
                FailedRun(
                    run_id=r["id"],
                    kind=RunKind(r["kind"]),
                    status=status,
                    at=iso(r["updated_at"]),
                    error=r["error"],
                )
            )
    return tuple(found[:limit])


# -- step durations ----------------------------------------------------------------------


@functools.cache
def _steps_stmt(dialect: str) -> sa.Select[Any]:
    oo = operation_outputs(dialect)
    return (
        sa.select(
            oo.c.function_name,
            (oo.c.completed_at_epoch_ms - oo.c.started_at_epoch_ms).label("ms"),
        )
        .where(
            oo.c.completed_at_epoch_ms.is_not(None),
            oo.c.started_at_epoch_ms.is_not(None),
            # Durable sleeps, message waits and child results time a wait, not work.
            sa.not_(oo.c.function_name.like("DBOS.%")),
            oo.c.child_workflow_id.is_(None),
        )
        # DBOS indexes (completed_at_epoch_ms, function_name): the newest rows, no scan.
        .order_by(oo.c.completed_at_epoch_ms.desc())
        .limit(sa.bindparam("limit_"))
    )


def step_label(function_name: str) -> str:
    """A step's name without what varies per run: `CompileST#2` and `ocr:3-4` count as
    `CompileST` and `ocr`, so the label set stays as small as the code's step names."""
    return names.base_step(function_name).split(":", 1)[0]


def _step_durations(tx: Tx, sample: int) -> tuple[StepDurations, ...]:
    taken: defaultdict[str, list[float]] = defaultdict(list)
    for function_name, ms in tx.execute(_steps_stmt(tx.dialect.name), {"limit_": sample}):
        taken[step_label(function_name)].append(max(0, ms) / 1000)
    return tuple(_histogram(step, sorted(taken[step])) for step in sorted(taken))


def _histogram(step: str, durations: list[float]) -> StepDurations:
    return StepDurations(
        step=step,
        count=len(durations),
        sum_s=sum(durations),
        buckets=tuple(bisect.bisect_right(durations, bound) for bound in STEP_BUCKETS_S),
    )

"""Worker heartbeats: who executes workflows now, and who recovers a dead one's.

Times are epoch milliseconds from each host's clock (keep hosts on NTP). A worker is
live while its last heartbeat is younger than the dead-after bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from jejakekal.storage import schema as s
from jejakekal.storage.database import Database
from jejakekal.storage.effects import insert_ignore

w = s.workers

HEARTBEAT_SEC = 1.0
# A worker silent this long is dead: its pending runs are recovered by a survivor.
DEAD_AFTER_SEC = 5.0


@dataclass(frozen=True)
class Holder:
    """The process an executor id's row names, as read at one moment."""

    executor_id: str
    role: str
    host: str
    pid: int
    started_at_ms: int
    last_seen_ms: int


def holder(db: Database, executor_id: str) -> Holder | None:
    with db.read() as tx:
        row = tx.execute(
            sa.select(w.c.role, w.c.host, w.c.pid, w.c.started_at_ms, w.c.last_seen_ms).where(
                w.c.executor_id == executor_id
            )
        ).first()
    return None if row is None else Holder(executor_id, *row)


def take(
    db: Database,
    *,
    executor_id: str,
    app_version: str,
    role: str,
    host: str,
    pid: int,
    now_ms: int,
    replacing: Holder | None,
) -> bool:
    """Claim `executor_id` for this process; True when this call won it.

    A compare-and-swap: the row is inserted if there was none, or rewritten only if it
    is still exactly the `replacing` holder read before; of two processes starting at
    once, one statement matches and the other finds the winner on its next read.
    """
    row = {
        "app_version": app_version,
        "role": role,
        "host": host,
        "pid": pid,
        "started_at_ms": now_ms,
        "last_seen_ms": now_ms,
        "recovered_by": None,
        "recovered_at_ms": None,
    }
    with db.write() as tx:
        if replacing is None:
            return insert_ignore(tx, w, executor_id=executor_id, **row)
        won = tx.execute(
            w.update()
            .where(
                w.c.executor_id == executor_id,
                w.c.host == replacing.host,
                w.c.pid == replacing.pid,
                w.c.started_at_ms == replacing.started_at_ms,
                w.c.last_seen_ms == replacing.last_seen_ms,
            )
            .values(**row)
            .returning(w.c.executor_id)
        ).first()
    return won is not None


def beat(
    db: Database,
    *,
    executor_id: str,
    app_version: str,
    role: str,
    host: str,
    pid: int,
    now_ms: int,
) -> bool:
    """Say this worker is alive; False when another process has taken its executor id.

    A worker once declared dead but beating again is live. A row that names another
    process is left alone: that process took the id over while this one was silent.
    """
    with db.write() as tx:
        mine = tx.execute(
            w.update()
            .where(w.c.executor_id == executor_id, w.c.host == host, w.c.pid == pid)
            .values(
                app_version=app_version,
                role=role,
                last_seen_ms=now_ms,
                recovered_by=None,
                recovered_at_ms=None,
            )
            .returning(w.c.executor_id)
        ).first()
        if mine is not None:
            return True
        return insert_ignore(
            tx,
            w,
            executor_id=executor_id,
            app_version=app_version,
            role=role,
            host=host,
            pid=pid,
            started_at_ms=now_ms,
            last_seen_ms=now_ms,
        )


def claim_dead(
    db: Database, *, me: str, app_version: str, now_ms: int, dead_after_ms: int
) -> list[str]:
    """Claim the recovery of every dead peer of this version; each is claimed by one only.

    The claim is a compare-and-swap on `recovered_by`: of two survivors racing for the
    same dead worker, exactly one update matches.
    """
    threshold = now_ms - dead_after_ms
    with db.read() as tx:
        dead = (
            tx.execute(
                sa.select(w.c.executor_id).where(
                    w.c.app_version == app_version,
                    w.c.last_seen_ms < threshold,
                    w.c.recovered_by.is_(None),
                    w.c.executor_id != me,
                )
            )
            .scalars()
            .all()
        )
    claimed = []
    for executor_id in dead:
        with db.write() as tx:
            won = tx.execute(
                w.update()
                .where(
                    w.c.executor_id == executor_id,
                    w.c.recovered_by.is_(None),
                    w.c.last_seen_ms < threshold,
                )
                .values(recovered_by=me, recovered_at_ms=now_ms)
                .returning(w.c.executor_id)
            ).first()
        if won is not None:
            claimed.append(executor_id)
    return claimed


def live(db: Database, *, app_version: str, now_ms: int) -> list[str]:
    """Executor ids of the live workers of this version."""
    dead_after_ms = int(DEAD_AFTER_SEC * 1000)
    with db.read() as tx:
        rows = tx.execute(
            sa.select(w.c.executor_id)
            .where(w.c.app_version == app_version, w.c.last_seen_ms >= now_ms - dead_after_ms)
            .order_by(w.c.executor_id)
        )
        return [r[0] for r in rows]


def forget(db: Database, executor_id: str, *, host: str, pid: int) -> None:
    """A clean shutdown: mark the worker as gone now (its runs are recovered at once),
    unless its executor id already names another process."""
    with db.write() as tx:
        tx.execute(
            w.update()
            .where(w.c.executor_id == executor_id, w.c.host == host, w.c.pid == pid)
            .values(last_seen_ms=0)
        )

"""Worker heartbeats: who executes workflows now, and who recovers a dead one's.

Times are epoch milliseconds from each host's clock (keep hosts on NTP). A worker is
live while its last heartbeat is younger than the dead-after bound.
"""

from __future__ import annotations

import sqlalchemy as sa

from jejakekal.storage import schema as s
from jejakekal.storage.effects import upsert

w = s.workers

HEARTBEAT_SEC = 1.0
# A worker silent this long is dead: its pending runs are recovered by a survivor.
DEAD_AFTER_SEC = 5.0


def beat(
    engine: sa.Engine,
    *,
    executor_id: str,
    app_version: str,
    role: str,
    host: str,
    pid: int,
    now_ms: int,
) -> None:
    """Say this worker is alive; a worker once declared dead but beating again is live."""
    with engine.begin() as conn:
        upsert(
            conn,
            w,
            {"executor_id": executor_id},
            {"started_at_ms": now_ms},
            app_version=app_version,
            role=role,
            host=host,
            pid=pid,
            last_seen_ms=now_ms,
            recovered_by=None,
            recovered_at_ms=None,
        )


def claim_dead(
    engine: sa.Engine, *, me: str, app_version: str, now_ms: int, dead_after_ms: int
) -> list[str]:
    """Claim the recovery of every dead peer of this version; each is claimed by one only.

    The claim is a compare-and-swap on `recovered_by`: of two survivors racing for the
    same dead worker, exactly one update matches.
    """
    threshold = now_ms - dead_after_ms
    with engine.connect() as conn:
        dead = (
            conn.execute(
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
        with engine.begin() as conn:
            won = conn.execute(
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


def live(engine: sa.Engine, *, app_version: str, now_ms: int) -> list[str]:
    """Executor ids of the live workers of this version."""
    dead_after_ms = int(DEAD_AFTER_SEC * 1000)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(w.c.executor_id)
            .where(w.c.app_version == app_version, w.c.last_seen_ms >= now_ms - dead_after_ms)
            .order_by(w.c.executor_id)
        )
        return [r[0] for r in rows]


def forget(engine: sa.Engine, executor_id: str) -> None:
    """A clean shutdown: mark the worker as gone now (its runs are recovered at once)."""
    with engine.begin() as conn:
        conn.execute(w.update().where(w.c.executor_id == executor_id).values(last_seen_ms=0))

"""Waking the runs that wait in `DBOS.recv` on SQLite: one query per tick for all of them.

DBOS 3.4 on SQLite finds a waiting `recv`'s message by polling, one query per waiting
`recv` per tick: with 200 runs waiting at gates every 20 ms, a process that only waits
keeps most of a core busy, and each answer waits behind the whole round (measured:
0.8 cores, 61-88 ms from answer to resumed; docs/benchmarks.md, issue 23). This thread
asks once per tick which of the waiting workflows have an unconsumed message and wakes
exactly those, through DBOS's own waiter map. DBOS's poll stays on as the safety net, its
interval stretched with the number of waiters (`fallback_interval`) so that it costs
about the same whatever that number; with none waiting it keeps the fast pace, so a
process still stops at once (DBOS joins its poller, which sleeps one interval).
PostgreSQL needs none of it (LISTEN/NOTIFY).

The waiter map and the poll's interval are DBOS internals (dbos==3.4.0 is pinned):
`dbos_waits` refuses to start when they are not what this module expects (ADR 0014).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from dbos import DBOS

from jejakekal.storage import wakeups
from jejakekal.storage.database import Database

log = logging.getLogger("jejakekal.wakeups")

# The longest DBOS's own poll of the waiting `recv`s sleeps (with many waiting).
MAX_FALLBACK_SEC = 5.0


class _Signal(Protocol):
    def set(self) -> None: ...


Waiting = list[tuple[str, tuple[str, str, str | None], _Signal]]


class Waits(Protocol):
    """DBOS's waiting `recv`s, (key, (workflow id, topic, shard key), signal) each, and
    the pace of its own poll of them."""

    def snapshot(self) -> Waiting: ...
    def pace(self, seconds: float) -> None: ...


class DbosWaits:
    def __init__(self, sys_db: Any) -> None:
        self._sys_db = sys_db

    def snapshot(self) -> Waiting:
        waiting: Waiting = self._sys_db.notifications_map.snapshot()
        return waiting

    def pace(self, seconds: float) -> None:
        self._sys_db._notification_listener_polling_interval_sec = seconds


def dbos_waits(dbos: DBOS) -> DbosWaits:
    sys_db = dbos._sys_db
    found = getattr(sys_db, "notifications_map", None)
    if not callable(getattr(found, "snapshot", None)) or not hasattr(
        sys_db, "_notification_listener_polling_interval_sec"
    ):
        raise RuntimeError("DBOS's waiter map is not as expected: see workflows/wakeups.py")
    return DbosWaits(sys_db)


def fallback_interval(fast: float, waiting: int) -> float:
    """DBOS's own poll: `fast` with at most one waiter, then longer with each, so that it
    queries about 1/`fast` times a second in all."""
    return min(MAX_FALLBACK_SEC, max(fast, fast * waiting))


class RecvWakeups:
    """A daemon thread: every `interval`, wake each waiting `recv` that has a message."""

    def __init__(self, db: Database, waits: Waits, interval: float) -> None:
        self.db = db
        self.waits = waits
        self.interval = interval
        self._paced = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jejakekal-wakeups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.waits.pace(self.interval)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the next tick tries again; DBOS's own poll is the net
                log.warning("waking waiting runs failed", exc_info=True)

    def tick(self) -> int:
        """Wake the waiters with a message; how many were woken."""
        waiting = self.waits.snapshot()
        paced = fallback_interval(self.interval, len(waiting))
        if paced != self._paced:
            self.waits.pace(paced)
            self._paced = paced
        if not waiting:
            return 0
        found = wakeups.pending(self.db, {dest for _, (dest, _, _), _ in waiting})
        woken = 0
        for _, (dest, topic, _), signal in waiting:
            if (dest, topic) in found:
                signal.set()
                woken += 1
        return woken

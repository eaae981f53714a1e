"""Waking the runs that wait in `DBOS.recv` on SQLite: one query per tick for all of them.

DBOS 3.4 on SQLite finds a waiting `recv`'s message by polling, one query per waiting
`recv` per tick: with 200 runs waiting at gates every 20 ms, a process that only waits
keeps most of a core busy, and each answer waits behind the whole round (measured:
0.8 cores, 61-88 ms from answer to resumed; docs/benchmarks.md, issue 23). This thread
asks once per tick which of the waiting workflows have an unconsumed message and wakes
exactly those, through DBOS's own waiter map; DBOS's poller stays on, slowed to
`bootstrap.SQLITE_RECV_FALLBACK_POLL_SEC`, as the safety net. PostgreSQL needs none of
it (LISTEN/NOTIFY).

The waiter map is DBOS's (`SystemDatabase.notifications_map`, dbos==3.4.0 is pinned):
`waiters_of` refuses to start when it is not what this module expects (ADR 0014).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from dbos import DBOS

from jejakekal.storage import wakeups
from jejakekal.storage.database import Database

log = logging.getLogger("jejakekal.wakeups")


class _Signal(Protocol):
    def set(self) -> None: ...


class Waiters(Protocol):
    """DBOS's map of waiting `recv`s: (key, (workflow id, topic, shard key), signal)."""

    def snapshot(self) -> list[tuple[str, tuple[str, str, str | None], _Signal]]: ...


def waiters_of(dbos: DBOS) -> Waiters:
    found: Any = getattr(dbos._sys_db, "notifications_map", None)
    if not callable(getattr(found, "snapshot", None)):
        raise RuntimeError("DBOS has no notifications_map.snapshot(): see workflows/wakeups.py")
    waiters: Waiters = found
    return waiters


class RecvWakeups:
    """A daemon thread: every `interval`, wake each waiting `recv` that has a message."""

    def __init__(self, db: Database, waiters: Waiters, interval: float) -> None:
        self.db = db
        self.waiters = waiters
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jejakekal-wakeups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the next tick tries again; DBOS's own poll is the net
                log.warning("waking waiting runs failed", exc_info=True)

    def tick(self) -> int:
        """Wake the waiters with a message; how many were woken."""
        waiting = self.waiters.snapshot()
        if not waiting:
            return 0
        found = wakeups.pending(self.db, {dest for _, (dest, _, _), _ in waiting})
        woken = 0
        for _, (dest, topic, _), signal in waiting:
            if (dest, topic) in found:
                signal.set()
                woken += 1
        return woken

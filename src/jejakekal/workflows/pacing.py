"""Queue pacing: the queues poll fast while they have work, slowly while they have none.

A DBOS 3.4 queue poll costs milliseconds of interpreter time even on an empty queue, so
the product's queues polled every 20 ms keep an idle process a third of a core busy and
slow every request that shares its interpreter. This thread watches for work with one
indexed query and sets each queue's polling interval through DBOS's own dynamic queue
configuration: the fast interval as soon as a workflow waits on the queues or was put on
them recently, the idle one after `HOLD_SEC` without any.

The interval lives in DBOS's queue row, so every process follows it, and every process
that runs workflows paces by the same rule; a process writes only on a change, and
slows the queues at most once per `HOLD_SEC`. A process starts with the fast intervals and
keeps them for one hold. A workflow that arrives while the queues are idle waits for at
most one idle interval; DBOS then eases back to the fast interval over a few seconds (it
shortens a worker's wait by a tenth per poll).
"""

from __future__ import annotations

import logging
import threading
import time

from dbos import DBOS

from jejakekal.storage import queues as queue_probe
from jejakekal.storage.database import Database

log = logging.getLogger("jejakekal.pacing")

# How long the queues stay fast after the last sign of work.
HOLD_SEC = 5.0
# How often the probe looks for work: as often as idle queues poll by default. Looking
# sooner buys little (an idle queue's worker notices new work on its own next poll, and
# eases back to the fast interval only from then on), and cost an idle process a fifth of
# its CPU at 50 ms.
CHECK_SEC = 0.25


class QueuePacing:
    """A daemon thread keeping each queue at its fast or its idle polling interval."""

    def __init__(
        self, db: Database, fast: dict[str, float], idle_sec: float, hold_sec: float = HOLD_SEC
    ) -> None:
        self.db = db
        self.hold = hold_sec
        self.fast = fast
        self.idle = {name: max(idle_sec, sec) for name, sec in fast.items()}
        # DBOS.register_queue has just stored the fast intervals; a process that just
        # started (and may be recovering workflows) keeps them for one hold.
        self.busy = True
        self._last_work = float("-inf")
        self._last_change = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jejakekal-pacing", daemon=True)

    @property
    def enabled(self) -> bool:
        return self.idle != self.fast

    @property
    def state(self) -> str:
        """`busy` or `idle` as this process last paced the queues; `off` when disabled."""
        if not self.enabled:
            return "off"
        return "busy" if self.busy else "idle"

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def check(self, now: float) -> bool:
        """Look for work once and follow the rule; return whether the queues are busy.

        Busy as soon as there is work; idle after the hold without any (and at most once
        per hold). While busy, once per hold the stored intervals are read back, in case
        a process that stopped since had slowed them.
        """
        since_ms = int((time.time() - self.hold) * 1000)
        if queue_probe.has_work(self.db, list(self.fast), since_ms=since_ms):
            self._last_work = now
            if not self.busy or (
                now - self._last_change >= self.hold and not self._stored_fast(now)
            ):
                self._set(busy=True, now=now)
        elif self.busy and now - max(self._last_work, self._last_change) >= self.hold:
            self._set(busy=False, now=now)
        return self.busy

    def _stored_fast(self, now: float) -> bool:
        self._last_change = now  # read back at most once per hold
        for name, sec in self.fast.items():
            queue = DBOS.retrieve_queue(name)
            if queue is not None and queue.polling_interval_sec != sec:
                return False
        return True

    def _set(self, *, busy: bool, now: float) -> None:
        for name, sec in (self.fast if busy else self.idle).items():
            queue = DBOS.retrieve_queue(name)
            if queue is not None:
                queue.set_polling_interval_sec(sec)
        self.busy, self._last_change = busy, now
        log.debug("queues paced %s", "busy" if busy else "idle")

    def _run(self) -> None:
        while not self._stop.wait(CHECK_SEC):
            try:
                self.check(time.monotonic())
            except Exception:  # a lost database connection must not end the pacing
                log.warning("queue pacing check failed", exc_info=True)

"""Recovery across workers: heartbeats, and a survivor recovering a dead worker's runs.

DBOS recovers, at launch, only the pending workflows of its own executor id. With
several workers, a worker that dies (SIGKILL, lost host) would leave its workflows
PENDING forever; so every worker beats in `app.workers`, and each beat also looks for
peers of the same application version that stopped beating. The survivor that wins the
claim asks DBOS to recover the dead executor's pending workflows, which re-enqueues them
for whichever worker dequeues them first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from dbos import DBOS

from jejakekal.storage import workers
from jejakekal.storage.workers import DEAD_AFTER_SEC, HEARTBEAT_SEC

log = logging.getLogger("jejakekal.fleet")


def now_ms() -> int:
    return int(time.time() * 1000)


class Heartbeat:
    """A daemon thread: beat, then recover any dead peer this worker wins the claim on."""

    def __init__(self, engine: Any, executor_id: str, app_version: str, role: str) -> None:
        self.engine = engine
        self.executor_id = executor_id
        self.app_version = app_version
        self.role = role
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jejakekal-heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        workers.forget(self.engine, self.executor_id)

    def beat(self) -> None:
        workers.beat(
            self.engine,
            executor_id=self.executor_id,
            app_version=self.app_version,
            role=self.role,
            host=socket.gethostname(),
            pid=os.getpid(),
            now_ms=now_ms(),
        )

    def recover_dead(self) -> list[str]:
        claimed = workers.claim_dead(
            self.engine,
            me=self.executor_id,
            app_version=self.app_version,
            now_ms=now_ms(),
            dead_after_ms=int(DEAD_AFTER_SEC * 1000),
        )
        for dead in claimed:
            handles = DBOS._recover_pending_workflows([dead])
            if handles:
                log.warning("recovered %d workflow(s) of dead worker %s", len(handles), dead)
        return claimed

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SEC):
            try:
                self.beat()
                self.recover_dead()
            except Exception:  # a failed beat must not kill the thread; the next one retries
                log.exception("heartbeat failed")

"""Recovery across workers: heartbeats, and a survivor recovering a dead worker's runs.

DBOS recovers, at launch, only the pending workflows of its own executor id. With
several workers, a worker that dies (SIGKILL, lost host) would leave its workflows
PENDING forever; so every worker beats in `app.workers`, and each beat also looks for
peers of the same application version that stopped beating. The survivor that wins the
claim asks DBOS to recover the dead executor's pending workflows, which re-enqueues them
for whichever worker dequeues them first.

An executor id names one live process: a process claims its id in `app.workers` before
DBOS launches (and recovers that id's runs), and refuses to start if a live process
holds it. A dead holder's id is taken over, so a restart recovers its own runs at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

from dbos import DBOS

from jejakekal.domain.errors import ExecutorIdInUse
from jejakekal.storage import workers
from jejakekal.storage.database import Database
from jejakekal.storage.workers import DEAD_AFTER_SEC, HEARTBEAT_SEC

log = logging.getLogger("jejakekal.fleet")


def now_ms() -> int:
    return int(time.time() * 1000)


# A lost race ends with the winner's row, which the next read then finds live.
_CLAIM_TRIES = 3


def claim_executor_id(db: Database, executor_id: str, app_version: str, role: str) -> None:
    """Take `executor_id` for this process before DBOS recovers its runs, or raise
    `ExecutorIdInUse` naming the live process that holds it."""
    host, pid = socket.gethostname(), os.getpid()
    for _ in range(_CLAIM_TRIES):
        now = now_ms()
        current = workers.holder(db, executor_id)
        if current is not None and holds(current, now, host=host, pid=pid):
            raise ExecutorIdInUse(_in_use(current, now), executor_id=executor_id)
        if workers.take(
            db,
            executor_id=executor_id,
            app_version=app_version,
            role=role,
            host=host,
            pid=pid,
            now_ms=now,
            replacing=current,
        ):
            return
    # Lost every race: the next read names a winner, unless it has died again meanwhile.
    raise ExecutorIdInUse(f"executor id {executor_id!r} is contested; try again")


def holds(holder: workers.Holder, now: int, *, host: str, pid: int) -> bool:
    """Whether `holder` is a live process other than this one.

    A heartbeat older than the dead-after bound is a dead process. A fresh one is only
    a claim: on this host a SIGKILLed process's row stays fresh for seconds, so there
    its pid decides, and a restart right after a crash takes its own id back at once.
    """
    if holder.last_seen_ms < now - int(DEAD_AFTER_SEC * 1000):
        return False
    if holder.host != host:
        return True
    return holder.pid != pid and pid_alive(holder.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        # A killed child its parent has not reaped yet is a zombie: dead, yet signalable.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: the signal said it exists
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _in_use(holder: workers.Holder, now: int) -> str:
    ago = max(now - holder.last_seen_ms, 0) / 1000
    role = {"full": "serve/api"}.get(holder.role, holder.role)
    return (
        f"executor id {holder.executor_id!r} is in use by a live {role} process "
        f"(pid {holder.pid} on {holder.host}, last beat {ago:.1f}s ago): stop it, or give "
        f"this process its own JEJAKEKAL_EXECUTOR_ID"
    )


class Heartbeat:
    """A daemon thread: beat, then recover any dead peer this worker wins the claim on.

    It beats from `start`, before DBOS launches (a slow launch must not look like a
    death), and recovers peers only once `recover_peers` says DBOS is up.
    """

    def __init__(self, db: Database, executor_id: str, app_version: str, role: str) -> None:
        self.db = db
        self.executor_id = executor_id
        self.app_version = app_version
        self.role = role
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._recovering = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jejakekal-heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def recover_peers(self) -> None:
        self._recovering.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        workers.forget(self.db, self.executor_id, host=self.host, pid=self.pid)

    def beat(self) -> bool:
        return workers.beat(
            self.db,
            executor_id=self.executor_id,
            app_version=self.app_version,
            role=self.role,
            host=self.host,
            pid=self.pid,
            now_ms=now_ms(),
        )

    def recover_dead(self) -> list[str]:
        claimed = workers.claim_dead(
            self.db,
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
                if not self.beat():
                    self._lost()
                    return
                if self._recovering.is_set():
                    self.recover_dead()
            except Exception:  # a failed beat must not kill the thread; the next one retries
                log.exception("heartbeat failed")

    def _lost(self) -> None:
        taker = workers.holder(self.db, self.executor_id)
        by = "" if taker is None else f" by pid {taker.pid} on {taker.host}"
        # Silent past the dead-after bound (stalled, suspended): a new process took the
        # id over as a dead one's, and its recovery owns this id's runs from now on.
        log.error(
            "executor id %r was taken over%s; this process stops beating and recovering",
            self.executor_id,
            by,
        )

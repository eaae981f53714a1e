"""Reading runs: one run's view, a page of runs, and waiting for a run to settle."""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from concurrent import futures

from jejakekal.control.context import Context
from jejakekal.control.watch import WATCH_INTERVAL_SEC, RunWatcher
from jejakekal.domain import errors, lifecycle
from jejakekal.domain.lifecycle import DbosStatus, RunStatus
from jejakekal.domain.views import RunSummary, RunView
from jejakekal.storage import readmodels, workers

BUSY = frozenset({RunStatus.QUEUED.value, RunStatus.RUNNING.value})


class RunReads:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def view(self, run_id: str) -> RunView:
        view = readmodels.run_view(self.ctx.db, run_id)
        if view is None:
            raise errors.RunNotFound(run_id=run_id)
        # A run waits for a worker of the version it was enqueued for, not this process's.
        version = view.header.app_version or self.ctx.settings.app_version
        if view.dbos_status == DbosStatus.ENQUEUED and not self._live_of(version):
            action = lifecycle.no_worker_action(version)
            return view.model_copy(update={"next_action": action})
        return view

    def live_workers(self) -> list[str]:
        """Executor ids of the processes of this version that execute workflows now."""
        return self._live_of(self.ctx.settings.app_version)

    def _live_of(self, app_version: str) -> list[str]:
        now_ms = int(time.time() * 1000)
        return workers.live(self.ctx.db, app_version=app_version, now_ms=now_ms)

    def page(
        self, *, status: str | None, kind: str | None, limit: int, offset: int
    ) -> list[RunSummary]:
        with self.ctx.db.read() as tx:
            return readmodels.list_runs(tx, status=status, kind=kind, limit=limit, offset=offset)

    async def wait(self, run_id: str, wait_sec: float) -> RunView:
        """The long poll of `GET /runs/{id}?waitMs=`: the run view once the run is not
        busy (queued or running), or after `wait_sec`, holding no thread meanwhile.

        The waiters of one event loop share one watcher (`watch.RunWatcher`), which
        reads the statuses of all watched runs by one query per tick.
        """
        loop = asyncio.get_running_loop()
        watcher = self._watchers.get(loop)
        if watcher is None:
            watcher = self._watchers[loop] = RunWatcher(
                statuses=lambda keys: readmodels.current_statuses(self.ctx.db, keys),
                view=self.view,
                local_future=self.ctx.running_here.get,
                busy=BUSY,
            )
        return await watcher.wait(run_id, wait_sec)

    @functools.cached_property
    def _watchers(
        self,
    ) -> weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RunWatcher[RunView]]:
        return weakref.WeakKeyDictionary()

    def wait_view(self, run_id: str, wait_sec: float) -> RunView:
        """As `wait`, for in-process callers without an event loop (benches, tests):
        a run executing in this process is watched through its future, with no reads
        until it ends; any other by one indexed status read per watcher interval."""
        deadline = time.monotonic() + wait_sec
        local = self.ctx.running_here.get(run_id)
        if local is not None:
            futures.wait([local], timeout=wait_sec)
            view = self.view(run_id)
            if view.status not in BUSY or time.monotonic() >= deadline:
                return view
        status = readmodels.current_status(self.ctx.db, run_id)
        if status is None:
            raise errors.RunNotFound(run_id=run_id)
        while status in BUSY and time.monotonic() < deadline:
            time.sleep(min(WATCH_INTERVAL_SEC, max(0.0, deadline - time.monotonic())))
            status = readmodels.current_status(self.ctx.db, run_id)
        return self.view(run_id)

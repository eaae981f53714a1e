"""Long polls without a held thread: many waiters, one watcher per event loop.

A waiter is a future on the event loop, not a thread. While any waiter exists, one
task reads the statuses of every watched run in one query each `interval` (and at
once when a waiter arrives), and answers the waiters whose run is unknown, left
queued/running, or whose deadline passed, with one view read per run. A run executing
in this process also wakes the watcher from its future's done-callback, so its waiters
hear of its end at once. With no waiters the task ends: an idle API reads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from jejakekal.domain import errors

# Statuses of every watched run, by the keys asked (run or workflow ids); unknown left out.
StatusReader = Callable[[list[str]], dict[str, str]]
LocalFuture = Callable[[str], "Future[Any] | None"]

WATCH_INTERVAL_SEC = 0.025
# Reads in flight at once: a burst of new waiters queues here rather than adding threads.
READ_THREADS = 4
log = logging.getLogger("jejakekal.watch")
_A = TypeVar("_A")
_R = TypeVar("_R")
_V = TypeVar("_V")  # what a waiter is answered with: the run's view


@dataclass(eq=False)
class _Waiter(Generic[_V]):
    deadline: float
    reply: asyncio.Future[_V] = field(repr=False)


class RunWatcher(Generic[_V]):
    """Waits on runs for the coroutines of one event loop; see the module's docstring."""

    def __init__(
        self,
        statuses: StatusReader,
        view: Callable[[str], _V],
        local_future: LocalFuture,
        busy: frozenset[str],
        interval: float = WATCH_INTERVAL_SEC,
    ) -> None:
        self._statuses, self._view, self._local_future = statuses, view, local_future
        self._busy, self._interval = busy, interval
        self._waiters: dict[str, set[_Waiter[_V]]] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reads = asyncio.Semaphore(READ_THREADS)

    @property
    def waiting(self) -> int:
        """Waiters not answered yet."""
        return sum(len(w) for w in self._waiters.values())

    async def wait(self, run_id: str, wait_sec: float) -> _V:
        """The run's view once it is not busy, or after `wait_sec` (to within `interval`).

        A new waiter is checked by the next shared read, which it starts at once: a burst
        of new waiters costs a few reads, not one each.
        """
        loop = asyncio.get_running_loop()
        if wait_sec <= 0:
            return await self._read(self._view, run_id)
        waiter: _Waiter[_V] = _Waiter(loop.time() + wait_sec, loop.create_future())
        self._waiters.setdefault(run_id, set()).add(waiter)
        local = self._local_future(run_id)
        if local is not None:
            local.add_done_callback(lambda _: _call_soon(loop, self._kick.set))
        self._kick.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._watch(), name="jejakekal-run-watcher")
        try:
            return await waiter.reply
        finally:
            # Gone already when answered; still here when the client left first.
            self._drop(run_id, {waiter})

    async def _watch(self) -> None:
        while self._waiters:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._interval)
            self._kick.clear()
            try:
                await self._tick()
            except Exception as exc:  # a failed read answers every waiter, none hangs
                log.warning("long-poll watcher: %s: %s", type(exc).__name__, exc)
                for run_id, waiters in list(self._waiters.items()):
                    self._answer(run_id, waiters, exc)

    async def _tick(self) -> None:
        keys = list(self._waiters)
        if not keys:
            return
        statuses = await self._read(self._statuses, keys)
        now = asyncio.get_running_loop().time()
        due: dict[str, set[_Waiter[_V]]] = {}
        for key in keys:
            waiters = set(self._waiters.get(key, ()))
            status = statuses.get(key)
            if status is None:
                self._answer(key, waiters, errors.RunNotFound(run_id=key))
                continue
            ended = status not in self._busy
            ready = waiters if ended else {w for w in waiters if w.deadline <= now}
            if ready:
                due[key] = ready
        # One view per run, read side by side, however many wait on it.
        views = await asyncio.gather(
            *(self._read(self._view, key) for key in due), return_exceptions=True
        )
        for (key, ready), view in zip(due.items(), views, strict=True):
            self._answer(key, ready, view)

    async def _read(self, read: Callable[[_A], _R], arg: _A) -> _R:
        async with self._reads:
            return await asyncio.to_thread(read, arg)

    def _answer(self, run_id: str, waiters: set[_Waiter[_V]], outcome: _V | BaseException) -> None:
        for waiter in waiters:
            if waiter.reply.done():
                continue
            if isinstance(outcome, BaseException):
                waiter.reply.set_exception(outcome)
            else:
                waiter.reply.set_result(outcome)
        self._drop(run_id, waiters)

    def _drop(self, run_id: str, waiters: set[_Waiter[_V]]) -> None:
        left = self._waiters.get(run_id, set()) - waiters
        if left:
            self._waiters[run_id] = left
        else:
            self._waiters.pop(run_id, None)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """From a worker thread; a loop closed meanwhile has nobody left to wake."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)

"""The long-poll watcher over fake reads: shared reads, deadlines, wake-ups [API-3]."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import pytest

from jejakekal.control.watch import RunWatcher
from jejakekal.domain import errors

BUSY = frozenset({"queued", "running"})
HOUR = 3600.0  # an interval no test waits out: only a done future can wake the watcher


class FakeRuns:
    def __init__(self, **statuses: str) -> None:
        self.statuses = dict(statuses)
        self.status_reads: list[list[str]] = []
        self.view_reads: list[str] = []
        self.local: dict[str, Future[Any]] = {}
        self.fail_reads = False

    def read_statuses(self, keys: list[str]) -> dict[str, str]:
        if self.fail_reads and len(self.status_reads) > 0:
            raise RuntimeError("the database went away")
        self.status_reads.append(keys)
        return {k: self.statuses[k] for k in keys if k in self.statuses}

    def read_view(self, run_id: str) -> dict[str, Any]:
        self.view_reads.append(run_id)
        return {"run_id": run_id, "status": self.statuses[run_id]}

    def watcher(self, interval: float = 0.001) -> RunWatcher:
        return RunWatcher(self.read_statuses, self.read_view, self.local.get, BUSY, interval)


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.001)


def test_many_waiters_share_each_status_read_and_one_view_read_per_run() -> None:
    runs = FakeRuns(a="running", b="queued")

    async def scenario() -> list[dict[str, Any]]:
        watcher = runs.watcher()
        waits = [watcher.wait("a", 60) for _ in range(30)]
        waits += [watcher.wait("b", 60) for _ in range(20)]
        tasks = [asyncio.create_task(w) for w in waits]
        await _until(lambda: len(runs.status_reads) >= 3)
        runs.statuses.update(a="done", b="failed")
        return list(await asyncio.gather(*tasks))

    views = asyncio.run(scenario())

    assert [v["status"] for v in views] == ["done"] * 30 + ["failed"] * 20
    # Every read, the first included, covers both runs: one read per tick, not per waiter.
    assert all(sorted(keys) == ["a", "b"] for keys in runs.status_reads)
    assert sorted(runs.view_reads) == ["a", "b"]


def test_a_waiter_gets_the_busy_view_once_its_wait_runs_out() -> None:
    runs = FakeRuns(a="running")

    async def scenario() -> dict[str, Any]:
        return await runs.watcher().wait("a", 0.01)

    assert asyncio.run(scenario()) == {"run_id": "a", "status": "running"}


def test_an_unknown_run_is_refused_before_any_wait() -> None:
    runs = FakeRuns()

    with pytest.raises(errors.RunNotFound):
        asyncio.run(runs.watcher(interval=HOUR).wait("nope", 60))
    assert runs.view_reads == []


def test_a_run_that_is_not_busy_is_answered_at_once() -> None:
    runs = FakeRuns(a="failed")

    view = asyncio.run(runs.watcher(interval=HOUR).wait("a", 60))

    assert view == {"run_id": "a", "status": "failed"}


def test_a_run_executing_here_wakes_its_waiters_from_its_future() -> None:
    runs = FakeRuns(a="running")
    runs.local["a"] = Future()

    async def scenario() -> dict[str, Any]:
        watcher = runs.watcher(interval=HOUR)
        wait = asyncio.create_task(watcher.wait("a", HOUR))
        await _until(lambda: watcher.waiting == 1)
        runs.statuses["a"] = "done"
        runs.local["a"].set_result(None)  # as the executing workflow ends, on its thread
        return await wait

    assert asyncio.run(scenario()) == {"run_id": "a", "status": "done"}


def test_the_watcher_stops_reading_once_nobody_waits() -> None:
    runs = FakeRuns(a="running")

    async def scenario() -> tuple[int, int]:
        watcher = runs.watcher()
        await watcher.wait("a", 0.005)
        reads_when_answered = len(runs.status_reads)
        await asyncio.sleep(0.05)  # fifty intervals: a watcher still running reads on
        return reads_when_answered, len(runs.status_reads)

    when_answered, later = asyncio.run(scenario())

    assert later == when_answered


def test_a_failed_read_answers_every_waiter_with_the_error() -> None:
    runs = FakeRuns(a="running", b="queued")

    async def scenario() -> list[Any]:
        watcher = runs.watcher()
        waits = [watcher.wait("a", 60), watcher.wait("b", 60)]
        tasks = [asyncio.create_task(w) for w in waits]
        await _until(lambda: watcher.waiting == 2)
        runs.fail_reads = True
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    outcomes = asyncio.run(scenario())

    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]

"""How parents wait for their children: one result read per base interval in all."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from jejakekal.workflows.runtime import ResultPacer


class Handle:
    """A child's handle that records the polling interval it was asked for."""

    def __init__(self, result: Any = "done", error: Exception | None = None) -> None:
        self.result, self.error = result, error
        self.intervals: list[float] = []
        self.release = threading.Event()
        self.waiting = threading.Event()

    def get_result(self, *, polling_interval_sec: float) -> Any:
        self.intervals.append(polling_interval_sec)
        self.waiting.set()
        self.release.wait(timeout=10)
        if self.error is not None:
            raise self.error
        return self.result


def _wait_in_thread(pacer: ResultPacer, handle: Handle) -> threading.Thread:
    thread = threading.Thread(target=pacer.result, args=(handle,))
    thread.start()
    assert handle.waiting.wait(timeout=10)
    return thread


def test_a_lone_parent_polls_at_the_base_interval_and_gets_the_childs_result() -> None:
    pacer = ResultPacer(0.005, max_sec=0.05)
    handle = Handle(result={"exit_code": 0})
    handle.release.set()
    assert pacer.result(handle) == {"exit_code": 0}
    assert handle.intervals == [0.005]


def test_each_further_waiting_parent_slows_the_pace_up_to_the_cap() -> None:
    pacer = ResultPacer(0.005, max_sec=0.02)
    handles = [Handle() for _ in range(6)]
    threads = [_wait_in_thread(pacer, h) for h in handles]
    assert [h.intervals[0] for h in handles] == pytest.approx(
        [0.005, 0.010, 0.015, 0.020, 0.020, 0.020]
    )
    for h in handles:
        h.release.set()
    for t in threads:
        t.join(timeout=10)
    # Everyone has stopped waiting: the next parent polls at the base interval again.
    lone = Handle()
    lone.release.set()
    pacer.result(lone)
    assert lone.intervals == [0.005]


def test_a_child_that_failed_raises_and_stops_counting_as_a_waiter() -> None:
    pacer = ResultPacer(0.005, max_sec=0.05)
    failed = Handle(error=RuntimeError("ExecuteST gave up"))
    failed.release.set()
    with pytest.raises(RuntimeError, match="gave up"):
        pacer.result(failed)
    lone = Handle()
    lone.release.set()
    pacer.result(lone)
    assert lone.intervals == [0.005]

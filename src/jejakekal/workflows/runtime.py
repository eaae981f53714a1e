"""What workflow steps reach at run time, bound once by the composition root."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jejakekal.config import Settings
from jejakekal.domain.ports import Decider, DocumentParser, Planner, Sandbox
from jejakekal.storage.database import Database, Tx

T = TypeVar("T")


# The slowest a waiting parent polls for its child's result, however many wait.
RESULT_POLL_MAX_SEC = 0.05


class ResultPacer:
    """Paces the workflows of this process that wait for a child workflow's result.

    DBOS's `get_result` reads the child's row at a fixed interval. At 5 ms one waiting
    parent hears its child's end almost at once, but fifteen waiting parents spent most
    of the interpreter on those reads (about half a millisecond of CPU each) and slowed
    the very children they waited for. So the process keeps to about one result read
    per `base_sec` in all: with n parents waiting, each polls every `n * base_sec`, at
    most `max_sec`. Only the pace changes; the result, and so any replay, is the
    child's recorded output either way.
    """

    def __init__(self, base_sec: float, max_sec: float = RESULT_POLL_MAX_SEC) -> None:
        self.base_sec = base_sec
        self.max_sec = max(base_sec, max_sec)
        self._waiting = 0
        self._lock = threading.Lock()

    def result(self, handle: Any) -> Any:
        """The child's result (or its error), from `handle` (a DBOS workflow handle)."""
        with self._lock:
            self._waiting += 1
            interval = min(self.max_sec, self.base_sec * self._waiting)
        try:
            return handle.get_result(polling_interval_sec=interval)
        finally:
            with self._lock:
                self._waiting -= 1


# DBOS.sleep(0) records nothing; the smallest positive sleep keeps `DBOS.sleep` in every
# document run's timeline, as the step contract fixes it.
MIN_SLEEP_SEC = 0.0001


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    decider: Decider
    sandbox: Sandbox
    results: ResultPacer  # how workflows here wait for their children
    parsers: Mapping[str, DocumentParser] = field(default_factory=dict)  # by docir format
    planners: Mapping[str, Planner] = field(default_factory=dict)  # by recipe `planner`


_runtime: Runtime | None = None


def bind(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workflow runtime is not bound; build the kernel first")
    return _runtime


def tx_step(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(tx, *args)` in one write transaction as the DBOS step `name`.

    Every such body is an idempotent upsert keyed by run and step, so a replay after
    a crash between its commit and the step's checkpoint writes the same rows again.
    """
    from jejakekal.workflows.tracing import run_step

    def body(*a: Any) -> T:
        tx: Tx
        with current().db.write() as tx:
            return fn(tx, *a)

    result: T = run_step({"name": name}, body, *args)
    return result

"""The one-query wakeups of runs waiting in DBOS `recv` (workflows/wakeups.py): a tick
wakes exactly the waiters that have an unconsumed message, on either backend."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from jejakekal.bootstrap import Kernel
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.workflows.wakeups import RecvWakeups, waiters_of


@dataclass
class Signal:
    woken: int = 0

    def set(self) -> None:
        self.woken += 1


@dataclass
class FakeWaiters:
    entries: list[tuple[str, tuple[str, str, str | None], Signal]] = field(default_factory=list)

    def snapshot(self) -> list[tuple[str, tuple[str, str, str | None], Signal]]:
        return list(self.entries)


def test_a_tick_wakes_only_the_waiters_with_a_message(kernel: Kernel) -> None:
    control = kernel.control
    intent_id = control.create_intent(
        IntentCreate(goal="ask for the probe", inputs={}, constraints={})
    )
    run_id = control.start_intent_run(intent_id, RunRequest()).run_id
    deadline = time.monotonic() + 60
    while control.run_view(run_id).status != "waiting_input":
        assert time.monotonic() < deadline, "the run never waited"
        time.sleep(0.02)
    # A topic no workflow code waits on: nothing consumes it but the oracle below.
    control.client.send(intent_id, {"probe": 1}, topic="probe")
    probe, other, elsewhere = Signal(), Signal(), Signal()
    waiters = FakeWaiters(
        [
            ("a", (intent_id, "probe", None), probe),
            ("b", (intent_id, "other", None), other),
            ("c", ("no-such-workflow", "probe", None), elsewhere),
        ]
    )

    woken = RecvWakeups(kernel.db, waiters, 0.02).tick()

    assert (woken, probe.woken, other.woken, elsewhere.woken) == (1, 1, 0, 0)
    assert RecvWakeups(kernel.db, FakeWaiters(), 0.02).tick() == 0
    control.cancel_run(run_id)


def test_a_dbos_without_the_waiter_map_is_refused() -> None:
    with pytest.raises(RuntimeError, match="notifications_map"):
        waiters_of(SimpleNamespace(_sys_db=SimpleNamespace()))  # type: ignore[arg-type]

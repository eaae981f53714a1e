"""The one-query wakeups of runs waiting in DBOS `recv` (workflows/wakeups.py): a tick
wakes exactly the waiters that have an unconsumed message, on either backend."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from jejakekal.bootstrap import Kernel
from jejakekal.domain.audit import Who
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.domain.gates import Origin
from jejakekal.workflows.wakeups import RecvWakeups, dbos_waits, fallback_interval


@dataclass
class Signal:
    woken: int = 0

    def set(self) -> None:
        self.woken += 1


@dataclass
class FakeWaits:
    entries: list[tuple[str, tuple[str, str, str | None], Signal]] = field(default_factory=list)
    paced: list[float] = field(default_factory=list)

    def snapshot(self) -> list[tuple[str, tuple[str, str, str | None], Signal]]:
        return list(self.entries)

    def pace(self, seconds: float) -> None:
        self.paced.append(seconds)


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
    waiters = FakeWaits(
        [
            ("a", (intent_id, "probe", None), probe),
            ("b", (intent_id, "other", None), other),
            ("c", ("no-such-workflow", "probe", None), elsewhere),
        ]
    )

    wakeups = RecvWakeups(kernel.db, waiters, 0.02)
    woken = wakeups.tick()

    assert (woken, probe.woken, other.woken, elsewhere.woken) == (1, 1, 0, 0)
    # DBOS's own poll of the three waiters is stretched threefold; with none, fast again.
    assert waiters.paced == [pytest.approx(0.06)]
    waiters.entries.clear()
    assert wakeups.tick() == 0
    assert waiters.paced == [pytest.approx(0.06), 0.02]
    control.cancel_run(run_id, Who("test", Origin.API))


def test_the_fallback_poll_costs_the_same_whatever_the_waiters() -> None:
    assert [fallback_interval(0.02, n) for n in (0, 1, 10, 200, 1000)] == pytest.approx(
        [0.02, 0.02, 0.2, 4.0, 5.0]
    )


def test_a_dbos_without_the_waiter_map_is_refused() -> None:
    with pytest.raises(RuntimeError, match="waiter map"):
        dbos_waits(SimpleNamespace(_sys_db=SimpleNamespace()))  # type: ignore[arg-type]

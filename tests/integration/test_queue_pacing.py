"""Queue pacing: the queues poll fast while they have work and slowly while they have
none, through DBOS's stored queue configuration, on both backends."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import make_settings
from jejakekal.bootstrap import build_kernel, fast_intervals
from jejakekal.config import Settings
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.storage.console import run_readonly
from jejakekal.workflows.pacing import QueuePacing

IDLE = 0.3


def _stored(settings: Settings) -> dict[str, float]:
    _, rows = run_readonly(
        settings.resolved_database_url, "SELECT name, polling_interval_sec FROM dbos.queues"
    )
    return {str(r[0]): float(r[1]) for r in rows if not str(r[0]).startswith("_")}


def _wait(settings: Settings, wanted: dict[str, float], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _stored(settings) != wanted:
        assert time.monotonic() < deadline, f"stored {_stored(settings)}, wanted {wanted}"
        time.sleep(0.02)


def test_the_rule_slows_idle_queues_and_speeds_them_up_when_work_arrives(
    database_url: str, tmp_path: Path
) -> None:
    # The kernel's own pacing is off here (idle = fast), so only the instance under test
    # writes the intervals; its checks are driven by hand with an explicit clock.
    settings = make_settings(database_url, tmp_path, JEJAKEKAL_QUEUE_IDLE_POLL_SEC="0.02")
    kernel = build_kernel(settings, "full")
    try:
        fast = fast_intervals(settings)
        idle = {name: max(IDLE, sec) for name, sec in fast.items()}
        assert _stored(settings) == fast
        pacing = QueuePacing(kernel.db, fast, IDLE, hold_sec=1.0)
        t = time.monotonic()

        assert pacing.state == "busy"
        assert pacing.check(now=t + 0.5) is True  # a process starts fast, for one hold
        assert pacing.check(now=t + 1.0) is False  # no work for a hold: idle
        assert (_stored(settings), pacing.state) == (idle, "idle")

        intent = kernel.control.create_intent(IntentCreate(goal="pace", inputs={}, constraints={}))
        run = kernel.control.start_intent_run(intent, RunRequest())
        assert pacing.check(now=t + 1.1) is True  # a run was just put on intentQ
        assert _stored(settings) == fast

        deadline = time.monotonic() + 30
        while kernel.control.run_view(run.run_id).status != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # Work seen moments ago (the run and its node, created within the hold): busy.
        assert pacing.check(now=t + 1.2) is True
        time.sleep(1.1)  # now nothing was put on the queues within the hold
        assert pacing.check(now=t + 1.5) is True  # but the hold since the last work holds
        assert pacing.check(now=t + 2.3) is False
        assert _stored(settings) == idle
    finally:
        kernel.close()


def test_an_idle_process_slows_its_queues_and_still_runs_what_arrives(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, JEJAKEKAL_QUEUE_IDLE_POLL_SEC=str(IDLE))
    kernel = build_kernel(settings, "full")
    try:
        fast = fast_intervals(settings)
        _wait(settings, {name: max(IDLE, sec) for name, sec in fast.items()})

        intent = kernel.control.create_intent(IntentCreate(goal="pace", inputs={}, constraints={}))
        run = kernel.control.start_intent_run(intent, RunRequest())
        _wait(settings, fast)
        deadline = time.monotonic() + 30
        while kernel.control.run_view(run.run_id).status != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        kernel.close()

"""The UI's view logic: state mapping, action validity, the timeline's geometry."""

from __future__ import annotations

from typing import Any

import pytest

from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.views import Operation, RunHeader, RunView, StepView
from jejakekal.web.views import actions_for, parse_sleep_ms, timeline_bars, ui_state


@pytest.mark.parametrize(
    ("kind", "status", "state"),
    [
        ("doc", "running", "running"),
        ("doc", "done", "done"),
        ("doc", "error", "error"),
        ("doc", "unknown", "error"),
        ("intent", "queued", "running"),
        ("intent", "waiting_input", "running"),
        ("intent", "succeeded", "done"),
        ("intent", "retries_exceeded", "error"),
        ("intent", "canceled", "error"),
        ("intent", "something-new", "error"),
        (None, None, "idle"),
    ],
)
def test_backend_statuses_map_to_the_four_ui_states(
    kind: str | None, status: str | None, state: str
) -> None:
    assert ui_state(kind, status) == state


def view(**fields: Any) -> RunView:
    base = RunView(
        run_id="r1",
        workflow_id="r1",
        kind=RunKind.INTENT,
        status="running",
        dbos_status="PENDING",
        last_step=None,
        retry_count=0,
        next_action=None,
        error=None,
        header=RunHeader(),
        steps=(),
        timeline=(),
        artifacts=(),
    )
    return base.model_copy(update=fields)


def operation(
    function_id: int, name: str, started: int, completed: int | None, error: str | None = None
) -> Operation:
    return Operation(
        function_id=function_id,
        function_name=name,
        started_at_epoch_ms=started,
        completed_at_epoch_ms=completed,
        error=error,
    )


def test_each_action_shows_only_when_the_api_would_accept_it() -> None:
    waiting = actions_for(view(status="waiting_input"))
    failed = actions_for(view(status="failed", dbos_status="ERROR"))
    cancelled = actions_for(view(kind=RunKind.DOC, status="unknown", dbos_status="CANCELLED"))
    done = actions_for(view(kind=RunKind.DOC, status="done", dbos_status="SUCCESS"))

    assert (waiting.answer, waiting.cancel, waiting.retry, waiting.resume) == (
        True,
        True,
        False,
        False,
    )
    assert (failed.retry, failed.cancel, failed.resume) == (True, False, False)
    assert (cancelled.resume, cancelled.retry, cancelled.cancel) == (True, False, False)
    assert not done.any


def test_an_intent_run_out_of_retries_offers_resume_as_the_api_accepts_it() -> None:
    exhausted = actions_for(view(status="retries_exceeded", dbos_status="ERROR"))

    assert (exhausted.retry, exhausted.resume, exhausted.cancel) == (True, True, False)


def test_timeline_bars_are_proportional_to_start_and_duration() -> None:
    ops = (
        operation(1, "a", 1000, 1100),
        operation(2, "b", 1100, 2000, error='{"name":"E","message":"boom"}'),
    )
    steps = (
        StepView(
            step_id="b", phase="done", attempt=3, started_at=None, finished_at=None, output=None
        ),
    )

    bars = timeline_bars(view(status="failed", timeline=ops, steps=steps), now_ms=9999, selected=2)

    assert [(b.left, b.width) for b in bars] == [(0.0, 10.0), (10.0, 90.0)]
    assert bars[1].error == "boom"
    assert bars[1].attempt == 3
    assert [b.selected for b in bars] == [False, True]


def test_a_live_run_draws_its_open_operation_up_to_now() -> None:
    ops = (operation(1, "DBOS.sleep", 1000, None),)

    (bar,) = timeline_bars(view(timeline=ops), now_ms=2000, selected=None)

    assert (bar.left, bar.width, bar.running) == (0.0, 100.0, True)


@pytest.mark.parametrize(
    ("raw", "ms"),
    [(None, 0), ("250", 250), ("-1", 0), ("abc", 0), ("9999999", 0), ("600000", 600000)],
)
def test_sleep_ms_from_the_page_query_is_bounded(raw: str | None, ms: int) -> None:
    assert parse_sleep_ms(raw) == ms

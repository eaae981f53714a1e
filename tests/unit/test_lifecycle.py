"""A run's life cycle: the actions each (kind, status, engine status) allows, the typed
409 a refused action raises, the next action a run shows, and the columns each change
writes. The messages and the written columns are those of release c7734f8, where the
use cases and the steps spelled them out one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jejakekal.domain import errors, lifecycle, names
from jejakekal.domain.lifecycle import Action, DbosStatus, DocStatus, RunChange, RunKind, RunStatus

RUN = "run-1"
ENGINE_STATUSES: list[str | None] = [None, *DbosStatus]

# -- the table of allowed actions ----------------------------------------------------

# One row per view status, one column per engine status (None: no workflow row yet).
# A cell lists the actions allowed: A answer, R retry, U resume, C cancel, F fork; "-"
# none. A run forks once its workflow has stopped (SUC, ERR, CAN, MRAE).
_COLUMNS = {
    "None": None,
    "ENQ": DbosStatus.ENQUEUED,
    "DEL": DbosStatus.DELAYED,
    "PEN": DbosStatus.PENDING,
    "SUC": DbosStatus.SUCCESS,
    "ERR": DbosStatus.ERROR,
    "CAN": DbosStatus.CANCELLED,
    "MRAE": DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
}
_CODES = {
    "A": Action.ANSWER,
    "R": Action.RETRY,
    "U": Action.RESUME,
    "C": Action.CANCEL,
    "F": Action.FORK,
}

INTENT_TABLE = """
                  None  ENQ   DEL   PEN   SUC   ERR   CAN   MRAE
queued            -     C     C     C     F     F     UF    UF
running           -     C     C     C     F     F     UF    UF
waiting_input     A     AC    AC    AC    AF    AF    AUF   AUF
succeeded         -     C     C     C     F     F     UF    UF
failed            R     RC    RC    RC    F     RF    RUF   RUF
retries_exceeded  RU    RUC   RUC   RUC   RUF   RUF   RUF   RUF
canceled          -     C     C     C     F     F     UF    UF
"""

DOC_TABLE = """
                  None  ENQ   DEL   PEN   SUC   ERR   CAN   MRAE
running           -     C     C     C     F     F     UF    UF
done              -     C     C     C     F     F     UF    UF
error             -     C     C     C     F     F     UF    UF
unknown           -     C     C     C     F     F     UF    UF
"""


def _cases(kind: RunKind, table: str) -> list[tuple[str, str, str | None, frozenset[Action]]]:
    header, *rows = table.strip().splitlines()
    engine = [_COLUMNS[name] for name in header.split()]
    cases: list[tuple[str, str, str | None, frozenset[Action]]] = []
    for row in rows:
        status, *cells = row.split()
        for dbos_status, cell in zip(engine, cells, strict=True):
            actions = frozenset(_CODES[c] for c in cell if c != "-")
            cases.append((kind.value, status, dbos_status, actions))
    return cases


TABLE = _cases(RunKind.INTENT, INTENT_TABLE) + _cases(RunKind.DOC, DOC_TABLE)


def test_the_table_covers_every_status_of_each_kind_under_every_engine_status() -> None:
    covered = {(kind, status, dbos_status) for kind, status, dbos_status, _ in TABLE}
    expected = {
        (kind.value, status.value, dbos_status)
        for kind, statuses in ((RunKind.INTENT, RunStatus), (RunKind.DOC, DocStatus))
        for status in statuses
        for dbos_status in ENGINE_STATUSES
    }

    assert covered == expected
    assert len(TABLE) == len(expected)


@pytest.mark.parametrize(("kind", "status", "dbos_status", "actions"), TABLE)
def test_a_run_allows_the_actions_of_its_row(
    kind: str, status: str, dbos_status: str | None, actions: frozenset[Action]
) -> None:
    assert lifecycle.allowed_actions(kind, status, dbos_status) == actions


def test_the_table_takes_enum_members_as_their_values() -> None:
    assert lifecycle.allowed_actions(
        RunKind.INTENT, RunStatus.RETRIES_EXCEEDED, DbosStatus.PENDING
    ) == lifecycle.allowed_actions("intent", "retries_exceeded", "PENDING")


# -- refusals: the typed 409s ----------------------------------------------------------


def test_an_answer_to_a_run_not_waiting_is_refused_with_its_status() -> None:
    with pytest.raises(errors.EventNotExpected) as caught:
        lifecycle.check_answer(RUN, "intent", "running", names.INPUT_TOPIC)

    error = caught.value
    assert (error.status, error.code) == (409, "event_not_expected")
    assert error.message == "run is running; it accepts no 'input' event now"
    assert error.body() == {
        "error": "event_not_expected",
        "code": "event_not_expected",
        "message": "run is running; it accepts no 'input' event now",
        "run_id": RUN,
        "status": "running",
    }


def test_a_waiting_run_takes_an_input_event() -> None:
    lifecycle.check_answer(RUN, "intent", "waiting_input", names.INPUT_TOPIC)


@pytest.mark.parametrize(
    ("kind", "status"), [("intent", "running"), ("intent", "succeeded"), ("doc", "error")]
)
def test_a_retry_of_a_run_not_failed_is_refused_with_its_status(kind: str, status: str) -> None:
    with pytest.raises(errors.RunNotRetryable) as caught:
        lifecycle.check_retry(RUN, kind, status, "ERROR")

    error = caught.value
    assert (error.status, error.code) == (409, "run_not_retryable")
    assert error.message == f"run is {status}; only failed or retries_exceeded runs retry"
    assert error.fields == {"run_id": RUN, "status": status}


def test_a_resume_of_a_run_with_nothing_to_resume_names_both_statuses() -> None:
    with pytest.raises(errors.RunNotResumable) as caught:
        lifecycle.check_resume(RUN, "intent", "succeeded", "SUCCESS")

    error = caught.value
    assert (error.status, error.code) == (409, "run_not_resumable")
    assert error.message == "run is succeeded (SUCCESS); nothing to resume"
    assert error.fields == {"run_id": RUN, "status": "succeeded", "dbos_status": "SUCCESS"}


def test_a_resume_of_a_run_the_engine_has_not_seen_says_so() -> None:
    with pytest.raises(errors.RunNotResumable) as caught:
        lifecycle.check_resume(RUN, "doc", "running", None)

    assert caught.value.message == "run is running (None); nothing to resume"
    assert caught.value.fields == {"run_id": RUN, "status": "running", "dbos_status": None}


def test_a_cancel_of_a_finished_run_is_refused_with_the_default_message() -> None:
    with pytest.raises(errors.RunNotCancelable) as caught:
        lifecycle.check_cancel(RUN, "intent", "succeeded", "SUCCESS")

    error = caught.value
    assert (error.status, error.code) == (409, "run_not_cancelable")
    assert error.message == "the run is already finished"
    assert error.fields == {"run_id": RUN, "status": "succeeded"}


def _check_answer(run_id: str, kind: str, status: str, dbos_status: str | None) -> None:
    lifecycle.check_answer(run_id, kind, status, names.INPUT_TOPIC)


_Check = Callable[[str, str, str, str | None], None]
_CHECKS: dict[Action, tuple[_Check, type[errors.Conflict]]] = {
    Action.ANSWER: (_check_answer, errors.EventNotExpected),
    Action.RETRY: (lifecycle.check_retry, errors.RunNotRetryable),
    Action.RESUME: (lifecycle.check_resume, errors.RunNotResumable),
    Action.CANCEL: (lifecycle.check_cancel, errors.RunNotCancelable),
    Action.FORK: (lifecycle.check_fork, errors.RunNotForkable),
}


def test_every_action_but_export_has_a_check() -> None:
    # An export reads a run in any state: it has no rule to check, only an audit row.
    assert set(Action) - set(_CHECKS) == {Action.EXPORT}


@pytest.mark.parametrize("action", list(_CHECKS))
def test_each_check_refuses_exactly_where_the_table_disallows(action: Action) -> None:
    check, refusal = _CHECKS[action]
    for kind, status, dbos_status, actions in TABLE:
        allowed = action in actions
        try:
            check(RUN, kind, status, dbos_status)
        except refusal:
            refused = True
        else:
            refused = False
        assert refused != allowed, (action, kind, status, dbos_status)


def test_a_run_that_resumes_by_retry_may_retry() -> None:
    by_retry = [
        (kind, status, dbos_status)
        for kind, status, dbos_status, _ in TABLE
        if lifecycle.resumes_by_retry(kind, status)
    ]

    assert {(kind, status) for kind, status, _ in by_retry} == {("intent", "retries_exceeded")}
    for kind, status, dbos_status in by_retry:
        assert {Action.RETRY, Action.RESUME} <= lifecycle.allowed_actions(kind, status, dbos_status)


# -- next action ---------------------------------------------------------------------

EVENTS = f'POST /runs/{RUN}/events {{"type":"input","payload":{{...}}}}'
RETRY = f"POST /runs/{RUN}/retry"
RESUME = f"POST /runs/{RUN}/resume"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RunStatus.QUEUED, "waiting for a worker to dequeue the run"),
        (RunStatus.RUNNING, None),
        (RunStatus.WAITING_INPUT, EVENTS),
        (RunStatus.SUCCEEDED, None),
        (RunStatus.FAILED, RETRY),
        (RunStatus.RETRIES_EXCEEDED, RETRY),
        (RunStatus.CANCELED, RESUME),
    ],
)
def test_an_intent_run_shows_the_next_action_of_its_status(
    status: RunStatus, expected: str | None
) -> None:
    assert lifecycle.next_action(RUN, "intent", status, last_step=None, retry_count=0) == expected


def test_a_retried_queued_run_shows_the_step_it_retries_from() -> None:
    action = lifecycle.next_action(
        RUN, "intent", RunStatus.QUEUED, last_step=names.STEP_EXECUTE, retry_count=1
    )

    assert action == "retrying from ExecuteST"


@pytest.mark.parametrize("status", list(DocStatus))
def test_a_document_run_shows_no_next_action(status: DocStatus) -> None:
    assert lifecycle.next_action(RUN, "doc", status, last_step="prepare", retry_count=2) is None


def test_a_queued_run_without_a_worker_says_how_to_start_one() -> None:
    assert lifecycle.no_worker_action("1.4.0") == (
        "no live worker of version 1.4.0: start `jejakekal worker` "
        "with DBOS__APPVERSION=1.4.0 on this database"
    )


# -- changes: the columns each writes ------------------------------------------------


LIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_INPUT)

# Each change, with the columns and guard release c7734f8 wrote for it. Where that release
# left `error` alone, a change of status now clears it (`error: None` below), and runs in
# those statuses carry no error.
CHANGES: list[tuple[str, RunChange, dict[str, Any], tuple[RunStatus, ...]]] = [
    (
        "compiled",
        lifecycle.compiled(),
        {"status": "running", "error": None, "next_action": None, "last_step": "CompileST"},
        (),
    ),
    (
        "rejected",
        lifecycle.rejected("too risky"),
        {
            "status": "failed",
            "error": "decider rejected the plan: too risky",
            "next_action": RETRY,
            "last_step": "DecideST",
        },
        (),
    ),
    (
        "awaiting_input",
        lifecycle.awaiting_input(),
        {"status": "waiting_input", "error": None, "next_action": EVENTS},
        (),
    ),
    (
        "answered",
        lifecycle.answered(),
        {"status": "running", "error": None, "next_action": None},
        (RunStatus.WAITING_INPUT,),
    ),
    (
        "execute_opened after input",
        lifecycle.execute_opened(after_input=True),
        {"status": "running", "error": None, "next_action": None, "last_step": "ExecuteST"},
        (),
    ),
    (
        "execute_opened after decide",
        lifecycle.execute_opened(after_input=False),
        {"last_step": "ExecuteST"},
        (),
    ),
    (
        "succeeded",
        lifecycle.succeeded(),
        {"status": "succeeded", "error": None, "next_action": None},
        LIVE,
    ),
    (
        "retries_exceeded",
        lifecycle.retries_exceeded("ExecuteST failed after 3 attempts"),
        {
            "status": "retries_exceeded",
            "error": "ExecuteST failed after 3 attempts",
            "next_action": RETRY,
        },
        (),
    ),
    (
        "resumed to run",
        lifecycle.resumed(waiting=False),
        {"status": "running", "error": None, "next_action": None},
        (),
    ),
    (
        "canceled",
        lifecycle.canceled(),
        {"status": "canceled", "error": None, "next_action": RESUME},
        (),
    ),
    (
        "document failed",
        lifecycle.document_finished("finalize", "finalize: text: missing"),
        {
            "status": "error",
            "error": "finalize: text: missing",
            "next_action": None,
            "last_step": "finalize",
        },
        (),
    ),
    (
        "document done",
        lifecycle.document_finished("finalize", None),
        {"status": "done", "error": None, "next_action": None, "last_step": "finalize"},
        (),
    ),
    ("step finished", lifecycle.step_finished("prepare"), {"last_step": "prepare"}, ()),
]


@pytest.mark.parametrize(
    ("change", "columns", "only_from"),
    [case[1:] for case in CHANGES],
    ids=[case[0] for case in CHANGES],
)
def test_a_change_writes_the_columns_the_old_steps_wrote(
    change: RunChange, columns: dict[str, Any], only_from: tuple[RunStatus, ...]
) -> None:
    assert change.columns(RUN) == columns
    assert change.only_from == only_from


def test_a_retry_requeues_from_its_own_status_and_counts_one_more() -> None:
    change = lifecycle.retried(RunStatus.FAILED, 2, names.STEP_DECIDE)

    assert change.only_from == (RunStatus.FAILED,)
    assert change.columns(RUN) == {
        "status": "queued",
        "error": None,
        "next_action": "retrying from DecideST",
        "retry_count": 3,
        # The step it re-enters becomes the last step (c7734f8 left last_step as it was).
        "last_step": "DecideST",
    }


def test_a_run_resumed_while_it_waited_for_input_waits_again() -> None:
    change = lifecycle.resumed(waiting=True)

    # c7734f8 stored no next action here; the waiting run now shows how to answer it.
    assert change.columns(RUN) == {"status": "waiting_input", "error": None, "next_action": EVENTS}
    assert change.only_from == ()


def test_a_change_is_of_the_kind_of_its_status() -> None:
    kinds = {name: change.kind for name, change, _, _ in CHANGES if change.status is not None}

    assert kinds.pop("document failed") == kinds.pop("document done") == RunKind.DOC
    assert set(kinds.values()) == {RunKind.INTENT}


def test_only_the_changes_that_race_carry_a_guard() -> None:
    guarded = {name for name, change, _, _ in CHANGES if change.only_from}

    assert guarded == {"answered", "succeeded"}
    assert all(
        change.only_from == (status,)
        for status in RunStatus
        for change in [lifecycle.retried(status, 0, names.STEP_EXECUTE)]
    )
    assert lifecycle.LIVE == LIVE

"""Which of DBOS's exception records the product drops: outcomes yes, its own faults never."""

from __future__ import annotations

import logging

import pytest
from dbos import PortableWorkflowError
from dbos._error import DBOSAwaitedWorkflowCancelledError, DBOSMaxStepRetriesExceeded

from jejakekal.domain.errors import DecisionRejected, NodeFailed
from jejakekal.runlog import QuietExpectedOutcomes

OUTCOMES = {
    "rejected": DecisionRejected("stub rejects"),
    "node failed": NodeFailed("exec-1: exit code 1"),
    "node gave up": DBOSMaxStepRetriesExceeded("ExecuteST", 3, [NodeFailed("x")] * 3),
    "child gave up, as its parent sees it": PortableWorkflowError(
        "Step ExecuteST has exceeded its maximum of 3 retries", "DBOSMaxStepRetriesExceeded"
    ),
    "child cancelled": DBOSAwaitedWorkflowCancelledError("intent-1"),
}
FAULTS = {
    "a bug": KeyError("plan"),
    "a bug retried until it gave up": DBOSMaxStepRetriesExceeded(
        "ExecuteST", 3, [NodeFailed("x"), KeyError("plan")]
    ),
    "a bug, as a parent sees it": PortableWorkflowError("'plan'", "KeyError"),
}


def _record(exc: BaseException | None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(
        "dbos", logging.ERROR, __file__, 1, "Exception encountered", None, exc_info
    )


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_dbos_traceback_of_an_expected_outcome_is_dropped(name: str) -> None:
    assert QuietExpectedOutcomes().filter(_record(OUTCOMES[name])) is False


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_fault_of_the_product_keeps_its_traceback(name: str) -> None:
    assert QuietExpectedOutcomes().filter(_record(FAULTS[name])) is True


def test_a_record_without_an_exception_passes() -> None:
    assert QuietExpectedOutcomes().filter(_record(None)) is True

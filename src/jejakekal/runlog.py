"""One line per run outcome in the operator's terminal; tracebacks only for faults.

DBOS logs every workflow that ends by raising, and (at WARNING) every failed step
attempt, with the exception's traceback: about 50 lines for a decider's rejection.
For the outcomes a run is expected to have (the decider says no, a node's command
fails and is retried or gives up, an operator cancels) the product writes one line
of its own, `run <id> <step>: <outcome>`, and `QuietExpectedOutcomes` drops DBOS's
record. Any other exception is a fault of the product and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys

from dbos import PortableWorkflowError
from dbos._error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSMaxStepRetriesExceeded,
    DBOSWorkflowCancelledError,
)

from jejakekal.domain.errors import DecisionInvalid, DecisionRejected, NodeFailed

log = logging.getLogger("jejakekal.runs")

EXPECTED: tuple[type[BaseException], ...] = (
    DecisionRejected,
    DecisionInvalid,  # a fault of the decider, named in its line, not of the product
    NodeFailed,
    DBOSAwaitedWorkflowCancelledError,
    DBOSWorkflowCancelledError,
)
# What a parent sees of its child's end: a portable error that keeps only the class
# name. A child that gave up on a fault already logged that fault with its traceback.
_EXPECTED_NAMES = frozenset({*(t.__name__ for t in EXPECTED), DBOSMaxStepRetriesExceeded.__name__})

_HANDLER_NAME = "jejakekal.runs.stderr"
_FORMAT = "%(asctime)s [%(levelname)8s] (%(name)s) %(message)s"  # DBOS's console layout


def outcome(run_id: str, step: str, what: str, *, level: int = logging.INFO) -> None:
    log.log(level, "run %s %s: %s", run_id, step, what)


def is_expected(exc: BaseException) -> bool:
    """Whether `exc` ends a run (or a step attempt) the way runs are meant to be able to end."""
    if isinstance(exc, EXPECTED):
        return True
    if isinstance(exc, DBOSMaxStepRetriesExceeded):
        return bool(exc.errors) and all(is_expected(e) for e in exc.errors)
    if isinstance(exc, PortableWorkflowError):
        return exc.name in _EXPECTED_NAMES
    return False


class QuietExpectedOutcomes(logging.Filter):
    """On DBOS's logger: drops the traceback of an outcome the product logs in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not is_expected(exc)


class _Stderr(logging.Handler):
    # The stream is looked up at each line, not bound once: tests and servers swap it.
    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def install() -> None:
    """Outcome lines to stderr, DBOS's records of them dropped. Idempotent: every
    kernel a process builds calls it."""
    dbos_logger = logging.getLogger("dbos")
    if not any(isinstance(f, QuietExpectedOutcomes) for f in dbos_logger.filters):
        dbos_logger.addFilter(QuietExpectedOutcomes())
    log.setLevel(logging.INFO)
    if not any(h.get_name() == _HANDLER_NAME for h in log.handlers):
        handler = _Stderr()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        log.addHandler(handler)
        log.propagate = False  # one line, whatever the root logger holds

"""A run's life cycle, in one place: its statuses per kind, how the engine's status
reconciles with ours, the changes each step or operator action makes, the actions a
run accepts (the rest are refused with a typed 409), and the next action it shows.

Pure: the storage applies a `RunChange` (`storage.runs.change_run`); the use cases, the
UI and the read models ask the questions here instead of comparing statuses themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jejakekal.domain import errors, names


class RunKind(StrEnum):
    INTENT = "intent"
    DOC = "doc"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_INPUT = "waiting_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIES_EXCEEDED = "retries_exceeded"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_retryable(self) -> bool:
        return self in (RunStatus.FAILED, RunStatus.RETRIES_EXCEEDED)

    @property
    def is_live(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_INPUT)


_TERMINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.RETRIES_EXCEEDED, RunStatus.CANCELED}
)


class DocStatus(StrEnum):
    """Document runs speak the courses' UI states."""

    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    UNKNOWN = "unknown"


class DbosStatus(StrEnum):
    """The engine's raw statuses, as DBOS writes them to `workflow_status.status`."""

    ENQUEUED = "ENQUEUED"
    DELAYED = "DELAYED"
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    MAX_RECOVERY_ATTEMPTS_EXCEEDED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"


def reconcile(app_status: RunStatus, dbos_status: str | None) -> RunStatus:
    """The status an operator sees: ours, unless the engine knows better.

    A cancel lands in DBOS first and a step already in flight may still write
    `running` after it; an engine-level error that our failure step never saw (a
    crash of the workflow body itself) must not look like a live run.
    """
    if app_status.is_terminal and dbos_status in (DbosStatus.PENDING, DbosStatus.ENQUEUED):
        # Our last step committed the outcome; the engine has not closed the workflow yet.
        return RunStatus.RUNNING
    if app_status == RunStatus.QUEUED and dbos_status == DbosStatus.PENDING:
        # A worker has it: before its first step writes, or while a retry re-runs nodes.
        return RunStatus.RUNNING
    if dbos_status == DbosStatus.CANCELLED:
        return RunStatus.CANCELED
    if dbos_status == DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        return RunStatus.FAILED
    if dbos_status == DbosStatus.ERROR and app_status.is_live:
        return RunStatus.FAILED
    if dbos_status == DbosStatus.SUCCESS and app_status.is_live:
        return RunStatus.SUCCEEDED
    return app_status


def reconcile_doc(app_status: DocStatus, dbos_status: str | None) -> DocStatus:
    """A document run is done only once the engine says SUCCESS, and never hides an error."""
    if dbos_status in (DbosStatus.PENDING, DbosStatus.ENQUEUED, DbosStatus.DELAYED):
        return DocStatus.RUNNING
    if dbos_status == DbosStatus.SUCCESS:
        return DocStatus.DONE if app_status == DocStatus.DONE else DocStatus.UNKNOWN
    if dbos_status in (DbosStatus.ERROR, DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED):
        return DocStatus.ERROR
    if dbos_status is None and app_status == DocStatus.RUNNING:
        # Committed, its workflow not started yet (or about to be adopted after a crash).
        return DocStatus.RUNNING
    # CANCELLED, or a finished run whose engine rows are gone: neither done nor failed.
    return DocStatus.UNKNOWN


def view_status(kind: str, app_status: str, dbos_status: str | None) -> str:
    if kind == RunKind.DOC:
        return reconcile_doc(DocStatus(app_status), dbos_status).value
    return reconcile(RunStatus(app_status), dbos_status).value


# -- changes -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunChange:
    """One change of a run's row, as a step or an operator action makes it.

    A field left `None` keeps the run's value. A change of `status` also sets the run's
    `error` (a status other than a failure clears it) and its stored next action. With
    `only_from`, the change applies only while the run has one of those statuses (a
    compare-and-set: of two racing changes, one wins).
    """

    status: RunStatus | DocStatus | None = None
    error: str | None = None
    last_step: str | None = None
    retry_count: int | None = None
    only_from: tuple[RunStatus, ...] = ()

    @property
    def kind(self) -> RunKind:
        return RunKind.DOC if isinstance(self.status, DocStatus) else RunKind.INTENT

    def columns(self, run_id: str) -> dict[str, object]:
        """The columns of `app.runs` this change writes, by name."""
        values: dict[str, object] = {}
        if self.status is not None:
            values["status"] = self.status.value
            values["error"] = self.error
            values["next_action"] = next_action(
                run_id,
                self.kind,
                self.status,
                last_step=self.last_step,
                retry_count=self.retry_count or 0,
            )
        if self.last_step is not None:
            values["last_step"] = self.last_step
        if self.retry_count is not None:
            values["retry_count"] = self.retry_count
        return values


LIVE = tuple(s for s in RunStatus if s.is_live)


# Every view status of either kind, in the vocabularies' order (`GET /runs?status=`,
# batch filters).
ALL_STATUSES: tuple[str, ...] = tuple(dict.fromkeys([*RunStatus, *DocStatus]))


def initial_status(kind: RunKind) -> RunStatus | DocStatus:
    """An intent run waits in the queue; a document run is running from its start (the
    courses' UI has no queued state)."""
    return RunStatus.QUEUED if kind == RunKind.INTENT else DocStatus.RUNNING


def compiled(step_id: str = names.STEP_COMPILE) -> RunChange:
    return RunChange(status=RunStatus.RUNNING, last_step=step_id)


def step_finished(step_id: str) -> RunChange:
    """A step finished: it becomes the run's last step; the status stays."""
    return RunChange(last_step=step_id)


def rejected(reason: str, step_id: str = names.STEP_DECIDE) -> RunChange:
    """The decider rejected the plan: the workflow ends in error, a retry asks again."""
    return RunChange(
        status=RunStatus.FAILED,
        error=f"decider rejected the plan: {reason}",
        last_step=step_id,
    )


def step_failed(step_id: str, error: str) -> RunChange:
    """A step gave up with an error a human can act on (a plan that does not validate, a
    model that keeps failing, an agent loop out of iterations)."""
    return RunChange(status=RunStatus.FAILED, error=error, last_step=step_id)


def awaiting_input() -> RunChange:
    return RunChange(status=RunStatus.WAITING_INPUT)


def gate_failed(error: str) -> RunChange:
    """A gate was rejected, or timed out with `on_timeout` fail or reject: the run ends."""
    return RunChange(status=RunStatus.FAILED, error=error, only_from=LIVE)


def gate_closed_by_timeout() -> RunChange:
    """A gate's deadline passed and its default answer applies: the run goes on."""
    return RunChange(status=RunStatus.RUNNING, only_from=(RunStatus.WAITING_INPUT,))


def answered() -> RunChange:
    """A human's answer arrived: only a run still waiting takes it."""
    return RunChange(status=RunStatus.RUNNING, only_from=(RunStatus.WAITING_INPUT,))


def execute_opened(*, after_input: bool, step_id: str = names.STEP_EXECUTE) -> RunChange:
    """ExecuteST begins (in the transaction that ends what precedes it)."""
    status = RunStatus.RUNNING if after_input else None
    return RunChange(status=status, last_step=step_id)


def succeeded(last_step: str | None = None) -> RunChange:
    """The last node finished (or the planner answered). Only a live run (a retried one
    is still `queued`): a cancel that landed first keeps its word."""
    return RunChange(status=RunStatus.SUCCEEDED, last_step=last_step, only_from=LIVE)


def retries_exceeded(error: str) -> RunChange:
    return RunChange(status=RunStatus.RETRIES_EXCEEDED, error=error)


def retried(current: RunStatus, retry_count: int, from_step: str) -> RunChange:
    """Back to the queue, to re-enter at `from_step`; only from the status it was
    retried in (of two racing retries, one wins)."""
    return RunChange(
        status=RunStatus.QUEUED,
        last_step=from_step,
        retry_count=retry_count + 1,
        only_from=(current,),
    )


def resumed(*, waiting: bool) -> RunChange:
    """A run cancelled while it waited for a human waits again after the resume."""
    return RunChange(status=RunStatus.WAITING_INPUT if waiting else RunStatus.RUNNING)


def canceled() -> RunChange:
    return RunChange(status=RunStatus.CANCELED)


def document_finished(step_id: str, error: str | None) -> RunChange:
    status = DocStatus.ERROR if error else DocStatus.DONE
    return RunChange(status=status, error=error, last_step=step_id)


# -- what a run allows ---------------------------------------------------------------


class Action(StrEnum):
    """What an operator can do to a run."""

    ANSWER = "answer"
    RETRY = "retry"
    RESUME = "resume"
    CANCEL = "cancel"
    FORK = "fork"
    EXPORT = "export"


_ENGINE_LIVE = frozenset({DbosStatus.PENDING, DbosStatus.ENQUEUED, DbosStatus.DELAYED})
_ENGINE_RESUMABLE = frozenset({DbosStatus.CANCELLED, DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED})


def ended_by_gate(status: str, dbos_status: str | None) -> bool:
    """A run a gate ended `failed` finished its workflow (SUCCESS): there is nothing to
    re-enter, so it is not retried but forked (`fork_action`)."""
    return status == RunStatus.FAILED and dbos_status == DbosStatus.SUCCESS


def allowed_actions(kind: str, status: str, dbos_status: str | None) -> frozenset[Action]:
    """The actions a run accepts now, from its view status and the engine's status."""
    intent = kind == RunKind.INTENT
    retryable = intent and status in (RunStatus.FAILED, RunStatus.RETRIES_EXCEEDED)
    retryable = retryable and not ended_by_gate(status, dbos_status)
    allowed = set()
    if status == RunStatus.WAITING_INPUT:
        allowed.add(Action.ANSWER)
    if retryable:
        allowed.add(Action.RETRY)
    if dbos_status in _ENGINE_RESUMABLE or (intent and status == RunStatus.RETRIES_EXCEEDED):
        allowed.add(Action.RESUME)
    if dbos_status in _ENGINE_LIVE:
        allowed.add(Action.CANCEL)
    elif dbos_status is not None:
        # A run whose workflow stopped branches from any of its steps (README, "Fork").
        allowed.add(Action.FORK)
    return frozenset(allowed)


def check_answer(run_id: str, kind: str, status: str, event_type: str) -> None:
    """Only a waiting run takes an event; which gate it names is checked against the
    run's open gates (`control.gates`)."""
    if status != RunStatus.WAITING_INPUT:
        raise errors.EventNotExpected(
            f"run is {status}; it accepts no {event_type!r} event now",
            run_id=run_id,
            status=status,
        )


def check_retry(run_id: str, kind: str, status: str, dbos_status: str | None) -> None:
    if Action.RETRY not in allowed_actions(kind, status, dbos_status):
        reason = (
            "its workflow finished (a gate ended it): fork it from its decision instead"
            if ended_by_gate(status, dbos_status)
            else "only failed or retries_exceeded runs retry"
        )
        raise errors.RunNotRetryable(
            f"run is {status}; {reason}",
            run_id=run_id,
            status=status,
        )


def check_fork(run_id: str, kind: str, status: str, dbos_status: str | None) -> None:
    if Action.FORK not in allowed_actions(kind, status, dbos_status):
        raise errors.RunNotForkable(
            f"run is {status} ({dbos_status}); fork a run once its workflow has stopped",
            run_id=run_id,
            status=status,
        )


def check_resume(run_id: str, kind: str, status: str, dbos_status: str | None) -> None:
    if Action.RESUME not in allowed_actions(kind, status, dbos_status):
        raise errors.RunNotResumable(
            f"run is {status} ({dbos_status}); nothing to resume",
            run_id=run_id,
            status=status,
            dbos_status=dbos_status,
        )


def check_cancel(run_id: str, kind: str, status: str, dbos_status: str | None) -> None:
    if Action.CANCEL not in allowed_actions(kind, status, dbos_status):
        raise errors.RunNotCancelable(run_id=run_id, status=status)


def resumes_by_retry(kind: str, status: str) -> bool:
    """A `retries_exceeded` run resumes by the retry path: its failed operation re-entered."""
    return kind == RunKind.INTENT and status == RunStatus.RETRIES_EXCEEDED


# -- next action ---------------------------------------------------------------------


def next_action(
    run_id: str, kind: str, status: str, *, last_step: str | None, retry_count: int
) -> str | None:
    """What an operator would do next, from the run's stored facts.

    The stored `app.runs.next_action` is this same text, written with each status change:
    operators read it in SQL (the courses' `SELECT ... next_action FROM app.runs`).
    """
    if kind != RunKind.INTENT:
        return None
    if status == RunStatus.QUEUED:
        if retry_count > 0:
            return f"retrying from {last_step}"
        return "waiting for a worker to dequeue the run"
    if status == RunStatus.WAITING_INPUT:
        return f'POST /runs/{run_id}/events {{"type":"input","payload":{{...}}}}'
    if status in (RunStatus.FAILED, RunStatus.RETRIES_EXCEEDED):
        return f"POST /runs/{run_id}/retry"
    if status == RunStatus.CANCELED:
        return f"POST /runs/{run_id}/resume"
    return None


def fork_action(run_id: str, step: str) -> str:
    """A run a gate ended `failed`: fork it from its decision to ask again."""
    return f'POST /runs/{run_id}/fork {{"fromStep":"{step}"}}'


def gate_action(run_id: str, key: str) -> str:
    """A waiting run's next action when it waits at a gate other than `input`."""
    return f'POST /runs/{run_id}/gates/{key} {{"answer": ...}}'


def no_worker_action(app_version: str) -> str:
    """A queued run's next action when no worker of its version is alive."""
    return (
        f"no live worker of version {app_version}: start `jejakekal worker` "
        f"with DBOS__APPVERSION={app_version} on this database"
    )

"""Run status vocabularies and the state machine that guards operator actions."""

from __future__ import annotations

from enum import StrEnum


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

"""Our attributes on the spans DBOS opens for workflows and steps (ADR 0016).

With JEJAKEKAL_OTLP_ENDPOINT set, DBOS traces each workflow and step (bootstrap's
`dbos_config`). Its spans name the workflow id, which for an intent run is the intent's
id, not the run's; so every workflow tags its span with the run id, and every step run
through `run_step` tags its own with the run id, the step's name and the attempt.

Setting an attribute is no durable operation: replays and checkpoints are unchanged.
Without the setting the current span is a no-op one and these calls do nothing. A step
a replay reads from its checkpoint runs no body, so its span carries none of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from dbos import DBOS, StepOptions
from opentelemetry import trace

P = ParamSpec("P")
R = TypeVar("R")

RUN_ID = "jejakekal.run_id"
STEP = "jejakekal.step"
ATTEMPT = "jejakekal.attempt"

# (workflow id, run id) of the workflow this thread runs. Keyed by the workflow id: a
# DBOS worker thread runs one workflow after another, and a stale pair must not tag
# the steps of a workflow that did not call `tag_run`.
_run: ContextVar[tuple[str, str] | None] = ContextVar("jejakekal_traced_run", default=None)


def tag_run(run_id: str) -> None:
    """Called by a workflow before its first step: its span, and its steps', name the run."""
    workflow_id = DBOS.workflow_id
    if workflow_id is not None:
        _run.set((workflow_id, run_id))
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(RUN_ID, run_id)


def step_attempt() -> int:
    """The running step's attempt, from 1 (DBOS counts its retries from 0)."""
    status = DBOS.step_status
    return (status.current_attempt or 0) + 1 if status else 1


def run_step(options: StepOptions, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`DBOS.run_step`, with the step's span tagged on each attempt (the last one's stays).

    DBOS checkpoints a step under the name in `options`, never under the function's, so
    running `fn` inside a wrapper leaves recorded runs replayable."""
    name = str(options.get("name") or "")

    def traced(*a: P.args, **kw: P.kwargs) -> R:
        _tag_step(name)
        return fn(*a, **kw)

    result: R = DBOS.run_step(options, traced, *args, **kwargs)
    return result


def _tag_step(name: str) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute(STEP, name)
    span.set_attribute(ATTEMPT, step_attempt())
    bound = _run.get()
    if bound is not None and bound[0] == DBOS.workflow_id:
        span.set_attribute(RUN_ID, bound[1])

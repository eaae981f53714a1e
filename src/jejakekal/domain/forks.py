"""A fork: a new run that starts at one step of a stopped run, the steps before it reused
from their checkpoints (README, "Operator actions").

DBOS's `fork_workflow` copies the workflow's inputs and the outputs of the operations
before the fork point into a new workflow. The inputs name the parent's run, so the
forked workflow's id carries the new run's: `fork/<run id>`, a form no client id can
take (`/` is outside the id grammar). A workflow reads its run id through `bind`, which
leaves every other workflow's request as it is, so runs recorded before forks existed
replay unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from jejakekal.domain import errors, names
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.views import Operation

WORKFLOW_PREFIX = "fork/"

# Where a fork may start: a step whose app rows the later steps do not need from the
# parent. (A fork at ExecuteST or finalize would need the execution state or the
# artifacts the parent's earlier steps wrote under the parent's id.)
_INTENT_POINTS = (
    names.STEP_COMPILE,
    names.STEP_APPLY_PATCH,
    names.STEP_DECIDE,
    names.STEP_OBSERVE,
)
_DOC_POINTS = (names.STEP_PREPARE, names.STEP_SURVEY, names.STEP_SIDE_EFFECT)
_OCR_PREFIX = "ocr:"


def new_run_id(kind: RunKind) -> str:
    return f"{'doc' if kind == RunKind.DOC else 'run'}-fork-{uuid.uuid4().hex[:24]}"


def workflow_id(run_id: str) -> str:
    return WORKFLOW_PREFIX + run_id


def bind(request: JsonObject, current_workflow_id: str) -> JsonObject:
    """The workflow's request with the run id it runs for: a fork's own, else as given."""
    if not current_workflow_id.startswith(WORKFLOW_PREFIX):
        return request
    return {**request, "run_id": current_workflow_id[len(WORKFLOW_PREFIX) :]}


def is_point(kind: RunKind, step: str) -> bool:
    if kind == RunKind.DOC:
        return step in _DOC_POINTS or step.startswith(_OCR_PREFIX)
    return names.base_step(step) in _INTENT_POINTS


def start_of(kind: RunKind, timeline: Sequence[Operation], from_step: str) -> int:
    """The operation a fork from `from_step` starts at (DBOS's `start_step`)."""
    points = [op for op in timeline if is_point(kind, op.function_name)]
    for op in points:
        if op.function_name == from_step:
            return op.function_id
    offered = ", ".join(dict.fromkeys(op.function_name for op in points)) or "none"
    raise errors.InvalidFork(
        f"fromStep {from_step!r} is not a step this run can be forked from (it offers: {offered})",
        field="fromStep",
        offered=[op.function_name for op in points],
    )


def reused_steps(timeline: Sequence[Operation], start: int) -> frozenset[str]:
    """The steps a fork starting at operation `start` takes from its parent."""
    return frozenset(op.function_name for op in timeline if op.function_id < start)

"""What a reader is shown: a run (its view, steps, operations, list entry), an artifact
in a list or whole, a search hit, and the answers to a start, an operator action, an
export and a health check.

Frozen pydantic models that the read models build and the API, the UI and the CLI
consume. Fields stand in the contract's order (README, "HTTP API") and each is shown under
its API key: its alias where it has one, else its name. `to_json()` is the JSON API's
shape; `from_json()` reads that shape back, for the UI talking to a remote API. Code
builds views with the fields' names. Timestamps stay as the API shows them: ISO-8601
strings for ours, epoch milliseconds for DBOS's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from jejakekal.domain.gates import Gate
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.ports import ISOLATING


class View(BaseModel):
    """A value shown as JSON under the API's keys."""

    model_config = ConfigDict(
        frozen=True,
        validate_by_name=True,  # code builds views by the fields' names, from_json by the keys
        # NaN and infinities in a step's output or an artifact stay floats, not null.
        ser_json_inf_nan="constants",
    )

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Self:
        return cls.model_validate(data)


class Operation(View):
    """One operation of the run's workflow on its timeline (`dbos.operation_outputs`)."""

    function_id: int
    function_name: str
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None
    error: str | None  # DBOS's serialized exception


class StepView(View):
    """One of our steps (`app.run_steps`) with the output it recorded."""

    step_id: str = Field(alias="stepId")
    phase: str
    attempt: int | None
    started_at: str | None = Field(alias="startedAt")
    finished_at: str | None = Field(alias="finishedAt")
    output: dict[str, object] | None


class RunHeader(View):
    """The engine's row of the run's workflow (`dbos.workflow_status`); all `None` while
    the workflow has not started."""

    name: str | None = None
    recovery_attempts: int | None = None
    app_version: str | None = None
    executor_id: str | None = None
    created_at: int | None = None  # epoch milliseconds, as DBOS keeps them
    updated_at: int | None = None


class RunState(View):
    """Which run, and where it stands: the fields a run's list entry and its view begin with.

    `status` is the view status (`lifecycle.view_status`, in the kind's vocabulary).
    """

    run_id: str
    workflow_id: str = Field(alias="workflowId")
    kind: RunKind
    status: str
    dbos_status: str | None
    last_step: str | None = Field(alias="lastStep")
    retry_count: int = Field(alias="retryCount")
    # What the run is: its intent's goal (a title) and its recipe; None for documents.
    goal: str | None = None
    recipe: str | None = None


class PlannedNode(View):
    """One node of the run's latest plan, as soon as CompileST recorded it."""

    node_id: str
    argv: list[str]
    purpose: str | None = None


class RunView(RunState):
    """One run as `GET /runs/{id}` shows it; `next_action` is computed when the run is
    read (`lifecycle.next_action`)."""

    next_action: str | None = Field(alias="nextAction")
    error: str | None
    header: RunHeader
    steps: tuple[StepView, ...]
    timeline: tuple[Operation, ...]
    artifacts: tuple[str, ...]
    plan: tuple[PlannedNode, ...] = ()
    gates: tuple[GateView, ...] = ()
    ledger: tuple[LedgerEntry, ...] = ()
    # The operator actions on the run, oldest first (README, "Operator actions").
    actions: tuple[ActionEntry, ...] = ()
    # A fork's parent run and the step it was forked from; the runs forked from this one.
    parent_run_id: str | None = Field(default=None, alias="parentRunId")
    fork_step: str | None = Field(default=None, alias="forkStep")
    forks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        # The API has shown the id as `run_id` and as `runId`, side by side, from the start.
        return {"run_id": self.run_id, "runId": self.run_id, **super().to_json()}


class RunSummary(RunState):
    """One run as `GET /runs` lists it."""

    created_at: str | None
    updated_at: str | None


class ArtifactMeta(View):
    """An artifact as `GET /artifacts` lists it; its bytes are fetched by its id."""

    id: str
    run_id: str
    type: str
    status: str
    visibility: str
    sha256: str
    size: int
    content_type: str
    created_at: str | None


class SearchHit(View):
    """A chunk that matched a search, with its words marked in `snippet`."""

    run_id: str
    chunk_id: str
    score: float
    snippet: str
    start: int
    end: int


class ArtifactDetail(ArtifactMeta):
    """An artifact's metadata with the operation that produced it: `meta` of
    `GET /artifacts/{id}`."""

    producer_step: str | None
    producer_function_id: int | None


class ArtifactDocument(View):
    """An artifact as `GET /artifacts/{id}` shows it: its content parsed when it is
    JSON, else text, and its provenance as the producing step recorded it."""

    meta: ArtifactDetail
    content: object  # the artifact's own JSON value, or its text
    prov: JsonObject


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact with its exact stored bytes."""

    meta: ArtifactDetail
    content: bytes
    prov: JsonObject

    def document(self) -> ArtifactDocument:
        content: object = self.content.decode("utf-8", errors="replace")
        if self.meta.content_type.startswith("application/json"):
            content = json.loads(self.content)
        return ArtifactDocument(meta=self.meta, content=content, prov=self.prov)


class StartedDocRun(View):
    """`POST /runs`: the document run started (or the one the same request started)."""

    run_id: str
    status: str


class Retried(View):
    """`POST /runs/{id}/retry`: the run re-entered at `from_step`, on the same run id."""

    accepted: Literal[True] = True
    run_id: str = Field(alias="newRunId")
    from_step: str = Field(alias="fromStep")


class Resumed(View):
    """`POST /runs/{id}/resume`: the run continues."""

    run_id: str
    status: str


class Canceled(View):
    """`POST /runs/{id}/cancel`: the run's status once its workflow is cancelled."""

    accepted: Literal[True] = True
    run_id: str
    status: str


class BundledArtifact(View):
    """One artifact of an exported bundle; `id` is its file's name in the bundle (its type)."""

    id: str
    artifact_id: str
    sha256: str
    size: int
    content_type: str


class ExportedRun(View):
    """`GET /runs/{id}/export`: the bundle written, and where."""

    run_id: str
    status: str
    dbos_status: str | None
    artifacts: tuple[BundledArtifact, ...]
    run_bundle_path: str


class SandboxPosture(View):
    """What a user's or a model's commands would meet here: the isolation a node gets
    (`bwrap` isolates, `subprocess` does not), the operator's opt-in to running them
    without it (JEJAKEKAL_ALLOW_UNISOLATED), and so whether such recipes run at all."""

    isolation: str
    allow_unisolated: bool
    foreign_commands: Literal["allowed", "refused"]

    @classmethod
    def of(cls, isolation: str, *, allow_unisolated: bool) -> SandboxPosture:
        allowed = isolation == ISOLATING or allow_unisolated
        return cls(
            isolation=isolation,
            allow_unisolated=allow_unisolated,
            foreign_commands="allowed" if allowed else "refused",
        )

    @property
    def unisolated(self) -> bool:
        """Foreign commands run, and nothing isolates them."""
        return self.isolation != ISOLATING and self.foreign_commands == "allowed"


class OcrPosture(View):
    """Whether scanned PDF pages can be read here: JEJAKEKAL_OCR and the Tesseract found
    (None: not installed, so such pages are marked `ocr_unavailable`)."""

    mode: str
    engine: str | None


class Health(View):
    """`GET /healthz` of the API: liveness, the workers of this version alive to run
    what is queued, what a user's commands would run under, and OCR."""

    ok: bool
    role: str
    app_version: str
    db: str
    workers: tuple[str, ...]
    queues: str | None
    sandbox: SandboxPosture
    ocr: OcrPosture | None = None

    def to_json(self) -> dict[str, object]:
        shown = super().to_json()
        # The count stands before the workers' names, where the API has always had it.
        rest = {key: shown.pop(key) for key in ("workers", "queues", "sandbox", "ocr")}
        return {**shown, "workers_alive": len(self.workers), **rest}


class GateView(View):
    """A human gate of a run (README, "Human gates"): what it asks, how it may be
    answered, its deadline, and who answered what and when."""

    gate_id: str = Field(alias="gateId")
    run_id: str = Field(alias="runId")
    key: str
    iteration: int
    question: str
    question_sha256: str = Field(alias="questionSha256")
    answer_schema: dict[str, object] = Field(alias="answerSchema")
    timeout_s: float | None = Field(alias="timeoutS")
    on_timeout: object = Field(alias="onTimeout")
    escalate_after_s: float | None = Field(default=None, alias="escalateAfterS")
    status: str  # open|answered|rejected|timed_out
    opened_at: str | None = Field(alias="openedAt")
    deadline_at: str | None = Field(alias="deadlineAt")
    escalated_at: str | None = Field(alias="escalatedAt")
    answer: object = None
    actor: str | None = None
    origin: str | None = None
    dedupe_key: str | None = Field(default=None, alias="dedupeKey")
    reason: str | None = None
    answered_at: str | None = Field(default=None, alias="answeredAt")
    # The run's goal (the inbox shows it); None for a view of the run itself.
    goal: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def gate(self) -> Gate:
        """The gate as the plan declared it."""
        return Gate.model_validate(
            {
                "key": self.key,
                "question": self.question,
                "answer": self.answer_schema,
                "timeout_s": self.timeout_s,
                "on_timeout": self.on_timeout,
                "escalate_after_s": self.escalate_after_s,
            }
        )

    @property
    def choices(self) -> list[str]:
        found = self.answer_schema.get("choices")
        return [str(c) for c in found] if isinstance(found, list) else []


class LedgerEntry(View):
    """One row of the gate ledger: a gate opened, escalated, answered or timed out."""

    gate_id: str = Field(alias="gateId")
    key: str
    kind: str
    question_sha256: str = Field(alias="questionSha256")
    answer: object = None
    actor: str | None = None
    origin: str | None = None
    dedupe_key: str | None = Field(default=None, alias="dedupeKey")
    reason: str | None = None
    at: str | None


class ActionEntry(View):
    """One operator action on a run, as the audit recorded it."""

    id: str
    action: str
    actor: str
    origin: str
    reason: str | None = None
    request_id: str | None = Field(default=None, alias="requestId")
    batch_id: str | None = Field(default=None, alias="batchId")
    status_before: str | None = Field(default=None, alias="statusBefore")
    status_after: str | None = Field(default=None, alias="statusAfter")
    detail: dict[str, object] = {}
    at: str | None


class Forked(View):
    """`POST /runs/{id}/fork`: the new run, and the step it starts from."""

    accepted: Literal[True] = True
    run_id: str = Field(alias="runId")
    parent_run_id: str = Field(alias="parentRunId")
    from_step: str = Field(alias="fromStep")
    start_function_id: int = Field(alias="startFunctionId")


class BatchResult(View):
    """`POST /runs/batch`: the runs the filter matched, and what was done to each."""

    action: str
    dry_run: bool = Field(alias="dryRun")
    batch_id: str | None = Field(alias="batchId")
    matched: int
    limit: int
    done: tuple[str, ...] = ()
    refused: tuple[dict[str, object], ...] = ()


class GateReceipt(View):
    """`POST /runs/{id}/gates/{key}`: the accepted answer (the first one, when this was a
    repeat of it)."""

    accepted: Literal[True] = True
    run_id: str = Field(alias="runId")
    key: str
    answer: object
    actor: str | None
    origin: str | None
    answered_at: str | None = Field(alias="answeredAt")
    duplicate: bool = False

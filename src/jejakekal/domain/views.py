"""What a reader is shown: a run (its view, steps, operations, list entry), an artifact
in a list or whole, a search hit, and the answers to a start, an operator action, an
export and a health check.

Frozen values that the read models build and the API, the UI and the CLI consume.
`to_json()` is the JSON API's shape, keys in the contract's order (README, "HTTP API");
`from_json()` reads that shape back, for the UI talking to a remote API. Timestamps stay
as the API shows them: ISO-8601 strings for ours, epoch milliseconds for DBOS's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunKind


@dataclass(frozen=True)
class Operation:
    """One operation of the run's workflow on its timeline (`dbos.operation_outputs`)."""

    function_id: int
    function_name: str
    started_at_epoch_ms: int | None
    completed_at_epoch_ms: int | None
    error: str | None  # DBOS's serialized exception

    def to_json(self) -> dict[str, object]:
        return {
            "function_id": self.function_id,
            "function_name": self.function_name,
            "started_at_epoch_ms": self.started_at_epoch_ms,
            "completed_at_epoch_ms": self.completed_at_epoch_ms,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Operation:
        return cls(
            function_id=data["function_id"],
            function_name=data["function_name"],
            started_at_epoch_ms=data["started_at_epoch_ms"],
            completed_at_epoch_ms=data["completed_at_epoch_ms"],
            error=data["error"],
        )


@dataclass(frozen=True)
class StepView:
    """One of our steps (`app.run_steps`) with the output it recorded."""

    step_id: str
    phase: str
    attempt: int | None
    started_at: str | None
    finished_at: str | None
    output: dict[str, object] | None

    def to_json(self) -> dict[str, object]:
        return {
            "stepId": self.step_id,
            "phase": self.phase,
            "attempt": self.attempt,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "output": self.output,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepView:
        return cls(
            step_id=data["stepId"],
            phase=data["phase"],
            attempt=data["attempt"],
            started_at=data["startedAt"],
            finished_at=data["finishedAt"],
            output=data["output"],
        )


@dataclass(frozen=True)
class RunHeader:
    """The engine's row of the run's workflow (`dbos.workflow_status`); all `None` while
    the workflow has not started."""

    name: str | None = None
    recovery_attempts: int | None = None
    app_version: str | None = None
    executor_id: str | None = None
    created_at: int | None = None  # epoch milliseconds, as DBOS keeps them
    updated_at: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "recovery_attempts": self.recovery_attempts,
            "app_version": self.app_version,
            "executor_id": self.executor_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunHeader:
        return cls(
            name=data["name"],
            recovery_attempts=data["recovery_attempts"],
            app_version=data["app_version"],
            executor_id=data["executor_id"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
        )


@dataclass(frozen=True)
class RunView:
    """One run as `GET /runs/{id}` shows it.

    `status` is the view status (`lifecycle.view_status`, in the kind's vocabulary);
    `next_action` is computed when the run is read (`lifecycle.next_action`).
    """

    run_id: str
    workflow_id: str
    kind: RunKind
    status: str
    dbos_status: str | None
    last_step: str | None
    retry_count: int
    next_action: str | None
    error: str | None
    header: RunHeader
    steps: tuple[StepView, ...]
    timeline: tuple[Operation, ...]
    artifacts: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "runId": self.run_id,
            "workflowId": self.workflow_id,
            "kind": self.kind.value,
            "status": self.status,
            "dbos_status": self.dbos_status,
            "lastStep": self.last_step,
            "retryCount": self.retry_count,
            "nextAction": self.next_action,
            "error": self.error,
            "header": self.header.to_json(),
            "steps": [step.to_json() for step in self.steps],
            "timeline": [op.to_json() for op in self.timeline],
            "artifacts": list(self.artifacts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunView:
        return cls(
            run_id=data["run_id"],
            workflow_id=data["workflowId"],
            kind=RunKind(data["kind"]),
            status=data["status"],
            dbos_status=data["dbos_status"],
            last_step=data["lastStep"],
            retry_count=data["retryCount"],
            next_action=data["nextAction"],
            error=data["error"],
            header=RunHeader.from_json(data["header"]),
            steps=tuple(StepView.from_json(step) for step in data["steps"]),
            timeline=tuple(Operation.from_json(op) for op in data["timeline"]),
            artifacts=tuple(data["artifacts"]),
        )


@dataclass(frozen=True)
class RunSummary:
    """One run as `GET /runs` lists it."""

    run_id: str
    workflow_id: str
    kind: RunKind
    status: str
    dbos_status: str | None
    last_step: str | None
    retry_count: int
    created_at: str | None
    updated_at: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "workflowId": self.workflow_id,
            "kind": self.kind.value,
            "status": self.status,
            "dbos_status": self.dbos_status,
            "lastStep": self.last_step,
            "retryCount": self.retry_count,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls(
            run_id=data["run_id"],
            workflow_id=data["workflowId"],
            kind=RunKind(data["kind"]),
            status=data["status"],
            dbos_status=data["dbos_status"],
            last_step=data["lastStep"],
            retry_count=data["retryCount"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
        )


@dataclass(frozen=True)
class ArtifactMeta:
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

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "type": self.type,
            "status": self.status,
            "visibility": self.visibility,
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArtifactMeta:
        return cls(
            id=data["id"],
            run_id=data["run_id"],
            type=data["type"],
            status=data["status"],
            visibility=data["visibility"],
            sha256=data["sha256"],
            size=data["size"],
            content_type=data["content_type"],
            created_at=data["created_at"],
        )


@dataclass(frozen=True)
class SearchHit:
    """A chunk that matched a search, with its words marked in `snippet`."""

    run_id: str
    chunk_id: str
    score: float
    snippet: str
    start: int
    end: int

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "chunk_id": self.chunk_id,
            "score": self.score,
            "snippet": self.snippet,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class ArtifactDetail(ArtifactMeta):
    """An artifact's metadata with the operation that produced it: `meta` of
    `GET /artifacts/{id}`."""

    producer_step: str | None
    producer_function_id: int | None

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "producer_step": self.producer_step,
            "producer_function_id": self.producer_function_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArtifactDetail:
        # Every key is its field's name.
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class ArtifactDocument:
    """An artifact as `GET /artifacts/{id}` shows it: its content parsed when it is
    JSON, else text, and its provenance as the producing step recorded it."""

    meta: ArtifactDetail
    content: object  # the artifact's own JSON value, or its text
    prov: JsonObject

    def to_json(self) -> dict[str, object]:
        return {"meta": self.meta.to_json(), "content": self.content, "prov": self.prov}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArtifactDocument:
        return cls(
            meta=ArtifactDetail.from_json(data["meta"]), content=data["content"], prov=data["prov"]
        )


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


@dataclass(frozen=True)
class StartedDocRun:
    """`POST /runs`: the document run started (or the one the same request started)."""

    run_id: str
    status: str

    def to_json(self) -> dict[str, object]:
        return {"run_id": self.run_id, "status": self.status}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StartedDocRun:
        return cls(run_id=data["run_id"], status=data["status"])


@dataclass(frozen=True)
class Retried:
    """`POST /runs/{id}/retry`: the run re-entered at `from_step`, on the same run id."""

    run_id: str
    from_step: str

    def to_json(self) -> dict[str, object]:
        return {"accepted": True, "newRunId": self.run_id, "fromStep": self.from_step}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Retried:
        return cls(run_id=data["newRunId"], from_step=data["fromStep"])


@dataclass(frozen=True)
class Resumed:
    """`POST /runs/{id}/resume`: the run continues."""

    run_id: str
    status: str

    def to_json(self) -> dict[str, object]:
        return {"run_id": self.run_id, "status": self.status}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Resumed:
        return cls(run_id=data["run_id"], status=data["status"])


@dataclass(frozen=True)
class Canceled:
    """`POST /runs/{id}/cancel`: the run's status once its workflow is cancelled."""

    run_id: str
    status: str

    def to_json(self) -> dict[str, object]:
        return {"accepted": True, "run_id": self.run_id, "status": self.status}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Canceled:
        return cls(run_id=data["run_id"], status=data["status"])


@dataclass(frozen=True)
class BundledArtifact:
    """One artifact of an exported bundle; `id` is its file's name in the bundle (its type)."""

    id: str
    artifact_id: str
    sha256: str
    size: int
    content_type: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "artifact_id": self.artifact_id,
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
        }


@dataclass(frozen=True)
class ExportedRun:
    """`GET /runs/{id}/export`: the bundle written, and where."""

    run_id: str
    status: str
    dbos_status: str | None
    artifacts: tuple[BundledArtifact, ...]
    run_bundle_path: str

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dbos_status": self.dbos_status,
            "artifacts": [a.to_json() for a in self.artifacts],
            "run_bundle_path": self.run_bundle_path,
        }


@dataclass(frozen=True)
class Health:
    """`GET /healthz` of the API: liveness, and the workers of this version alive to run
    what is queued."""

    ok: bool
    role: str
    app_version: str
    db: str
    workers: tuple[str, ...]
    queues: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "role": self.role,
            "app_version": self.app_version,
            "db": self.db,
            "workers_alive": len(self.workers),
            "workers": list(self.workers),
            "queues": self.queues,
        }

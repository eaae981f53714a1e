"""Use cases: the one place that writes on behalf of operators (API, UI, CLI).

Runs are started, signalled, retried and cancelled through `DBOSClient`, so this
module works the same in a process that runs workflows and in one that does not.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from dbos import DBOSClient, EnqueueOptions

from jejakekal.config import Settings
from jejakekal.domain import errors, names
from jejakekal.domain.compiler import canonical_json
from jejakekal.domain.contracts import (
    DEFAULT_RECIPE,
    DEFAULT_WORKLOAD,
    DocIngestInput,
    DocRunRequest,
    EventRequest,
    IntentCreate,
    RunIntentInput,
    RunRequest,
)
from jejakekal.domain.ids import new_doc_run_id, new_intent_id
from jejakekal.domain.status import DbosStatus, DocStatus, RunKind, RunStatus
from jejakekal.export import bundle
from jejakekal.export.writer import write_bundle
from jejakekal.storage import documents, readmodels, runs, search, snapshots, workers


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    workflow_id: str


BUSY = frozenset({RunStatus.QUEUED.value, RunStatus.RUNNING.value})
WAIT_PROBE_SEC = 0.001

# Starts a document workflow in this process at once (given where workflows run); returns
# the local execution's future, if any.
DocStarter = Callable[[str, dict[str, Any]], "Future[Any] | None"]


class Control:
    def __init__(
        self,
        settings: Settings,
        engine: Any,
        client: DBOSClient,
        start_doc: DocStarter | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.client = client
        self.start_doc = start_doc
        # Runs started in this process, until they end: a long poll waits on these.
        self._running_here: dict[str, Future[Any]] = {}

    # -- intents -------------------------------------------------------------------
    def create_intent(self, body: IntentCreate) -> str:
        intent_id = new_intent_id()
        runs.insert_intent(self.engine, intent_id, body.model_dump())
        return intent_id

    def start_intent_run(self, intent_id: str, body: RunRequest) -> StartedRun:
        """Durable start: the run row and the enqueued workflow commit together."""
        request = body.model_dump(mode="json", exclude_none=True)
        request_hash = hashlib.sha256(canonical_json(request).encode()).hexdigest()
        recipe_name = body.recipeName or DEFAULT_RECIPE
        with self.engine.connect() as conn:
            intent_exists, recipe = runs.intent_and_recipe(conn, intent_id, recipe_name)
        if not intent_exists:
            raise errors.IntentNotFound(intent_id=intent_id)
        if recipe is None:
            raise errors.RecipeNotFound(f"no recipe named {recipe_name!r}", recipeName=recipe_name)
        workload = body.workload or DEFAULT_WORKLOAD
        _check_caps(recipe, workload.concurrency, workload.steps, workload.sandboxMinutes)

        run_id = "run-" + hashlib.sha256(f"{intent_id}:{request_hash}".encode()).hexdigest()[:24]
        run_input = RunIntentInput(
            run_id=run_id,
            intent_id=intent_id,
            recipe_name=recipe_name,
            concurrency=workload.concurrency,
            steps=workload.steps,
            sandbox_minutes=workload.sandboxMinutes,
            trace_id=body.traceId,
        )
        options: EnqueueOptions = {
            "workflow_name": names.WF_RUN_INTENT,
            "queue_name": names.INTENT_QUEUE,
            "workflow_id": intent_id,
            "app_version": self.settings.app_version,
        }
        try:
            with runs.write(self.engine) as conn:
                runs.insert_run(
                    conn,
                    id=run_id,
                    kind=RunKind.INTENT,
                    intent_id=intent_id,
                    workflow_id=intent_id,
                    status=RunStatus.QUEUED,
                    retry_count=0,
                    next_action="waiting for a worker to dequeue the run",
                    trace_id=body.traceId,
                    recipe_name=recipe_name,
                    request_hash=request_hash,
                    request=request,
                )
                self.client.enqueue_in_transaction(conn, options, run_input.model_dump())
        except runs.AlreadyExists:
            # The intent has a run already: this same request again (or a parallel
            # copy of it that committed first), or a different one.
            with self.engine.connect() as conn:
                existing = runs.find_run(conn, intent_id)
            if existing is None:
                raise
            return self._same_run(existing, request_hash)
        return StartedRun(run_id=run_id, workflow_id=intent_id)

    @staticmethod
    def _same_run(existing: dict[str, Any], request_hash: str) -> StartedRun:
        if existing["request_hash"] != request_hash:
            raise errors.RunPayloadMismatch(workflow_id=existing["workflow_id"])
        return StartedRun(run_id=existing["id"], workflow_id=existing["workflow_id"])

    # -- document runs -------------------------------------------------------------
    def start_doc_run(self, body: DocRunRequest) -> dict[str, Any]:
        """Durable start of a document run, deduplicated by workflowId and payload.

        An API-only process commits the run row and the enqueued workflow together. A
        process that runs workflows commits the row, then starts the workflow at once
        (no queue poll in the way); a crash between the two leaves a row that the next
        launch adopts (`adopt_orphan_doc_runs`), so nothing is lost either way.
        """
        payload = body.model_dump(mode="json", exclude_none=True)
        payload.pop("workflowId", None)
        request_hash = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
        run_id = body.workflowId or new_doc_run_id()
        run_input = _doc_input(run_id, body)
        try:
            with runs.write(self.engine) as conn:
                runs.insert_run(
                    conn,
                    id=run_id,
                    kind=RunKind.DOC,
                    workflow_id=run_id,
                    status=DocStatus.RUNNING,
                    retry_count=0,
                    request_hash=request_hash,
                    request=payload,
                )
                if self.start_doc is None:
                    options: EnqueueOptions = {
                        "workflow_name": names.WF_DOC_INGEST,
                        "queue_name": names.DOC_QUEUE,
                        "workflow_id": run_id,
                        "app_version": self.settings.app_version,
                    }
                    self.client.enqueue_in_transaction(conn, options, run_input)
        except runs.AlreadyExists:
            existing = readmodels.run_view(self.engine, run_id)
            if existing is None:
                raise
            same = existing["kind"] == RunKind.DOC and self._request_hash(run_id) == request_hash
            if not same:
                raise errors.WorkflowIdPayloadMismatch(workflow_id=run_id) from None
            return {"run_id": existing["run_id"], "status": existing["status"]}
        if self.start_doc is not None:
            self._track(run_id, self.start_doc(run_id, run_input))
        return {"run_id": run_id, "status": DocStatus.RUNNING.value}

    def _track(self, run_id: str, future: Future[Any] | None) -> None:
        if future is not None:
            self._running_here[run_id] = future
            future.add_done_callback(lambda _: self._running_here.pop(run_id, None))

    def _request_hash(self, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            run = runs.find_run(conn, run_id)
        return run["request_hash"] if run else None

    def adopt_orphan_doc_runs(self) -> list[str]:
        """Start document runs whose row committed but whose workflow never started."""
        assert self.start_doc is not None, "only a process that runs workflows adopts"
        adopted = []
        for run in runs.orphan_doc_runs(self.engine):
            body = DocRunRequest.model_validate(run["request"], strict=False)
            self._track(run["id"], self.start_doc(run["id"], _doc_input(run["id"], body)))
            adopted.append(run["id"])
        return adopted

    def export_run(self, run_id: str) -> dict[str, Any]:
        """Write the run's bundle [BUNDLE] under `<home>/bundles/` and describe it."""
        snapshot = snapshots.run_snapshot(self.engine, run_id)
        if snapshot is None:
            raise errors.RunNotFound(run_id=run_id)
        run = snapshot["run"]
        path = write_bundle(self.settings.bundles_dir, run["id"], bundle.build(snapshot))
        return {
            "run_id": run["id"],
            "status": snapshot["status"],
            "dbos_status": snapshot["dbos_status"],
            "artifacts": [
                {
                    "id": a["type"],
                    "artifact_id": a["id"],
                    "sha256": a["sha256"],
                    "size": a["size"],
                    "content_type": a["content_type"],
                }
                for a in snapshot["artifacts"]
            ],
            "run_bundle_path": str(path),
        }

    # -- artifacts and search --------------------------------------------------------
    def list_artifacts(self, **filters: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = documents.list_artifacts(conn, **filters)
        return [{**r, "created_at": readmodels.iso(r["created_at"])} for r in rows]

    def artifact(self, artifact_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = documents.get_artifact(conn, artifact_id)
        if row is None:
            raise errors.ArtifactNotFound(artifact_id=artifact_id)
        return row

    def search(self, query: str, *, run_id: str | None, limit: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return search.search(conn, query, run_id=run_id, limit=limit)

    # -- runs ----------------------------------------------------------------------
    def run_view(self, run_id: str) -> dict[str, Any]:
        view = readmodels.run_view(self.engine, run_id)
        if view is None:
            raise errors.RunNotFound(run_id=run_id)
        if view["dbos_status"] == DbosStatus.ENQUEUED and not self.live_workers():
            version = self.settings.app_version
            view["nextAction"] = (
                f"no live worker of version {version}: start `jejakekal worker` "
                f"with DBOS__APPVERSION={version} on this database"
            )
        return view

    def live_workers(self) -> list[str]:
        """Executor ids of the processes of this version that execute workflows now."""
        now_ms = int(time.time() * 1000)
        return workers.live(self.engine, app_version=self.settings.app_version, now_ms=now_ms)

    def wait_run_view(self, run_id: str, wait_sec: float) -> dict[str, Any]:
        """The run view once the run is not busy (queued or running), or after `wait_sec`.

        A long poll: while waiting, one indexed status read every millisecond, or none at
        all when the run executes in this process (its future says when it ends); the
        whole view is read once, at the end.
        """
        status = readmodels.current_status(self.engine, run_id)
        if status is None:
            raise errors.RunNotFound(run_id=run_id)
        deadline = time.monotonic() + wait_sec
        local = self._running_here.get(run_id)
        if status in BUSY and local is not None:
            futures.wait([local], timeout=wait_sec)
            status = readmodels.current_status(self.engine, run_id)
        while status in BUSY and time.monotonic() < deadline:
            time.sleep(WAIT_PROBE_SEC)
            status = readmodels.current_status(self.engine, run_id)
        return self.run_view(run_id)

    def list_runs(
        self, *, status: str | None, kind: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return readmodels.list_runs(conn, status=status, kind=kind, limit=limit, offset=offset)

    def send_event(self, run_id: str, event: EventRequest) -> None:
        """Deliver a human's answer, only while the run waits for that event type.

        The status flip and the message commit together, so of two racing answers
        exactly one is accepted.
        """
        view = self.run_view(run_id)
        if view["status"] != RunStatus.WAITING_INPUT or event.type != names.INPUT_TOPIC:
            raise errors.EventNotExpected(
                f"run is {view['status']}; it accepts no {event.type!r} event now",
                status=view["status"],
            )
        with self.engine.begin() as conn:
            if not runs.update_run(
                conn,
                view["run_id"],
                only_if_status=(RunStatus.WAITING_INPUT,),
                status=RunStatus.RUNNING,
                next_action=None,
            ):
                raise errors.EventNotExpected("the run stopped waiting for input")
            self.client.send_in_transaction(
                conn, view["workflowId"], event.payload, topic=names.INPUT_TOPIC
            )

    def retry_run(self, run_id: str) -> dict[str, Any]:
        """Re-enter a failed run where it failed, same run id, earlier steps untouched.

        The failed child workflows are rewound to their first step, then the run is
        rewound to the operation that failed (awaiting a child, for ExecuteST): every
        operation before it replays from its checkpoint.
        """
        view = self.run_view(run_id)
        if view["kind"] != RunKind.INTENT or not RunStatus(view["status"]).is_retryable:
            raise errors.RunNotRetryable(
                f"run is {view['status']}; only failed or retries_exceeded runs retry",
                status=view["status"],
            )
        start_step, from_step = self._rewind_point(view["workflowId"])
        with self.engine.begin() as conn:
            run = runs.find_run(conn, view["run_id"])
            assert run is not None
            if not runs.update_run(
                conn,
                run["id"],
                only_if_status=(run["status"],),
                status=RunStatus.QUEUED,
                retry_count=run["retry_count"] + 1,
                error=None,
                next_action=f"retrying from {from_step}",
            ):
                raise errors.RunNotRetryable("a concurrent retry won")
            if from_step == names.STEP_EXECUTE:
                runs.reopen_step(conn, run["id"], names.STEP_EXECUTE)
        for child in runs.failed_children(self.engine, view["workflowId"]):
            self.client.rewind_workflow(
                child,
                queue_name=names.SANDBOX_QUEUE,
                application_version=self.settings.app_version,
            )
        self.client.rewind_workflow(
            view["workflowId"],
            start_step=start_step,
            queue_name=names.INTENT_QUEUE,
            application_version=self.settings.app_version,
        )
        return {"accepted": True, "newRunId": view["run_id"], "fromStep": from_step}

    def _rewind_point(self, workflow_id: str) -> tuple[int, str]:
        """The run's first failed operation, and the step it belongs to."""
        for op in runs.operations(self.engine, workflow_id):
            if op["error"] is not None:
                name = str(op["function_name"])
                step = names.STEP_EXECUTE if name == names.OP_GET_RESULT else name
                return int(op["function_id"]), step
        raise errors.RunNotRetryable("the run has no failed operation to re-enter")

    def resume_run(self, run_id: str) -> dict[str, Any]:
        """[API-7] Continue a cancelled or recovery-exhausted run where it stopped.

        DBOS re-enqueues the workflow; every operation already checkpointed replays from
        its record, so no finished step runs again. A `retries_exceeded` run resumes by
        the retry path (its failed operation is re-entered).
        """
        view = self.run_view(run_id)
        if view["kind"] == RunKind.INTENT and view["status"] == RunStatus.RETRIES_EXCEEDED:
            self.retry_run(run_id)
            return {"run_id": view["run_id"], "status": RunStatus.RUNNING.value}
        resumable = (DbosStatus.CANCELLED, DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED)
        if view["dbos_status"] not in resumable:
            raise errors.RunNotResumable(
                f"run is {view['status']} ({view['dbos_status']}); nothing to resume",
                status=view["status"],
                dbos_status=view["dbos_status"],
            )
        if view["kind"] == RunKind.INTENT:
            ops = {op["function_name"] for op in view["timeline"]}
            # A run cancelled while it waited for a human waits again after the resume.
            waiting = names.OP_AWAIT_INPUT in ops and names.OP_INPUT_RECEIVED not in ops
            with self.engine.begin() as conn:
                runs.update_run(
                    conn,
                    view["run_id"],
                    status=RunStatus.WAITING_INPUT if waiting else RunStatus.RUNNING,
                    next_action=None,
                )
        # Through intentQ, the quickly polled queue (DBOS would use its slower internal one).
        self.client.resume_workflow(view["workflowId"], queue_name=names.INTENT_QUEUE)
        return {"run_id": view["run_id"], "status": "running"}

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        view = self.run_view(run_id)
        if view["dbos_status"] not in (DbosStatus.PENDING, DbosStatus.ENQUEUED, DbosStatus.DELAYED):
            raise errors.RunNotCancelable(status=view["status"])
        self.client.cancel_workflow(view["workflowId"])
        if view["kind"] == RunKind.DOC:
            # The document vocabulary has no `canceled`: the view shows the engine's CANCELLED.
            return {"accepted": True, "run_id": view["run_id"], "status": DocStatus.UNKNOWN.value}
        with self.engine.begin() as conn:
            runs.update_run(
                conn,
                view["run_id"],
                status=RunStatus.CANCELED,
                next_action=f"POST /runs/{view['run_id']}/resume",
            )
        return {"accepted": True, "run_id": view["run_id"], "status": RunStatus.CANCELED.value}


def _doc_input(run_id: str, body: DocRunRequest) -> dict[str, Any]:
    return DocIngestInput(
        run_id=run_id,
        source=body.document(),
        format=body.format,
        sleep_ms=body.sleepMs,
        source_kind="cmd" if body.cmd is not None else "source",
    ).model_dump()


def _check_caps(recipe: dict[str, Any], concurrency: int, steps: int, minutes: float) -> None:
    caps = (
        ("max_concurrency", "concurrency", concurrency),
        ("max_steps", "steps", steps),
        ("max_sandbox_minutes", "sandboxMinutes", minutes),
    )
    for cap, field, value in caps:
        if value > recipe[cap]:
            raise errors.QueuePolicyViolation(
                f"workload.{field}={value} exceeds {recipe['name']}.{cap}={recipe[cap]}",
                cap=cap,
                limit=recipe[cap],
                field=f"workload.{field}",
                recipe=recipe["name"],
            )

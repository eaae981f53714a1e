"""Use cases: the one place that writes on behalf of operators (API, UI, CLI).

Runs are started, signalled, retried and cancelled through `DBOSClient`, so this
package works the same in a process that runs workflows and in one that does not.
Document use cases live in `documents`; intents and what every run shares, here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
import weakref
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from dbos import EnqueueOptions

from jejakekal import runlog
from jejakekal.control.documents import DocumentUseCases
from jejakekal.control.watch import WATCH_INTERVAL_SEC, RunWatcher
from jejakekal.domain import errors, names
from jejakekal.domain.compiler import canonical_json
from jejakekal.domain.contracts import (
    DEFAULT_RECIPE,
    DEFAULT_WORKLOAD,
    EventRequest,
    IntentCreate,
    RunIntentInput,
    RunRequest,
)
from jejakekal.domain.ids import new_intent_id
from jejakekal.domain.status import DbosStatus, DocStatus, RunKind, RunStatus
from jejakekal.storage import readmodels, runs, workers


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    workflow_id: str


BUSY = frozenset({RunStatus.QUEUED.value, RunStatus.RUNNING.value})


class Control(DocumentUseCases):
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
        workload = body.workload or DEFAULT_WORKLOAD
        run_id = "run-" + hashlib.sha256(f"{intent_id}:{request_hash}".encode()).hexdigest()[:24]
        options: EnqueueOptions = {
            "workflow_name": names.WF_RUN_INTENT,
            "queue_name": names.INTENT_QUEUE,
            "workflow_id": intent_id,
            "app_version": self.settings.app_version,
        }
        try:
            # One transaction reads the intent and recipe, then writes: a refused
            # request rolls back having written nothing.
            with runs.write(self.engine) as conn:
                intent, recipe = runs.intent_and_recipe(conn, intent_id, recipe_name)
                if intent is None:
                    raise errors.IntentNotFound(intent_id=intent_id)
                if recipe is None:
                    raise errors.RecipeNotFound(
                        f"no recipe named {recipe_name!r}", recipeName=recipe_name
                    )
                _check_caps(recipe, workload.concurrency, workload.steps, workload.sandboxMinutes)
                run_input = RunIntentInput(
                    run_id=run_id,
                    intent_id=intent_id,
                    recipe_name=recipe_name,
                    concurrency=workload.concurrency,
                    steps=workload.steps,
                    sandbox_minutes=workload.sandboxMinutes,
                    trace_id=body.traceId,
                    goal=intent["goal"],
                    inputs=intent["inputs"],
                )
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
            raise errors.RunPayloadMismatch(
                run_id=existing["id"], workflow_id=existing["workflow_id"]
            )
        return StartedRun(run_id=existing["id"], workflow_id=existing["workflow_id"])

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

    async def wait_run(self, run_id: str, wait_sec: float) -> dict[str, Any]:
        """The long poll of `GET /runs/{id}?waitMs=`: the run view once the run is not
        busy (queued or running), or after `wait_sec`, holding no thread meanwhile.

        The waiters of one event loop share one watcher (`watch.RunWatcher`), which
        reads the statuses of all watched runs by one query per tick.
        """
        loop = asyncio.get_running_loop()
        watcher = self._watchers.get(loop)
        if watcher is None:
            watcher = self._watchers[loop] = RunWatcher(
                statuses=lambda keys: readmodels.current_statuses(self.engine, keys),
                view=self.run_view,
                local_future=self._running_here.get,
                busy=BUSY,
            )
        return await watcher.wait(run_id, wait_sec)

    @functools.cached_property
    def _watchers(self) -> weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RunWatcher]:
        return weakref.WeakKeyDictionary()

    def wait_run_view(self, run_id: str, wait_sec: float) -> dict[str, Any]:
        """As `wait_run`, for in-process callers without an event loop (benches, tests):
        a run executing in this process is watched through its future, with no reads
        until it ends; any other by one indexed status read per watcher interval."""
        deadline = time.monotonic() + wait_sec
        local = self._running_here.get(run_id)
        if local is not None:
            futures.wait([local], timeout=wait_sec)
            view = self.run_view(run_id)
            if view["status"] not in BUSY or time.monotonic() >= deadline:
                return view
        status = readmodels.current_status(self.engine, run_id)
        if status is None:
            raise errors.RunNotFound(run_id=run_id)
        while status in BUSY and time.monotonic() < deadline:
            time.sleep(min(WATCH_INTERVAL_SEC, max(0.0, deadline - time.monotonic())))
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
                run_id=view["run_id"],
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
                raise errors.EventNotExpected(
                    "the run stopped waiting for input", run_id=view["run_id"]
                )
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
                run_id=view["run_id"],
                status=view["status"],
            )
        start_step, from_step = self._rewind_point(view["run_id"], view["workflowId"])
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
                raise errors.RunNotRetryable("a concurrent retry won", run_id=run["id"])
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

    def _rewind_point(self, run_id: str, workflow_id: str) -> tuple[int, str]:
        """The run's first failed operation, and the step it belongs to."""
        for op in runs.operations(self.engine, workflow_id):
            if op["error"] is not None:
                name = str(op["function_name"])
                step = names.STEP_EXECUTE if name == names.OP_GET_RESULT else name
                return int(op["function_id"]), step
        raise errors.RunNotRetryable("the run has no failed operation to re-enter", run_id=run_id)

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
                run_id=view["run_id"],
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
            raise errors.RunNotCancelable(run_id=view["run_id"], status=view["status"])
        self.client.cancel_workflow(view["workflowId"])
        runlog.outcome(view["run_id"], view["lastStep"] or "-", "canceled")
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

"""Intents and their runs: create an intent, start its run (once per intent)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dbos import EnqueueOptions

from jejakekal.control.context import Context
from jejakekal.domain import errors, names
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.contracts import (
    DEFAULT_RECIPE,
    DEFAULT_WORKLOAD,
    IntentCreate,
    RunIntentInput,
    RunRequest,
    Workload,
)
from jejakekal.domain.ids import new_intent_id
from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.ports import ISOLATING
from jejakekal.domain.records import NewRun, Recipe, StoredRun
from jejakekal.domain.script import script_inputs
from jejakekal.storage import runs
from jejakekal.storage.database import AlreadyExists, Tx


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    workflow_id: str


class Intents:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, body: IntentCreate) -> str:
        intent_id = new_intent_id()
        with self.ctx.db.write() as tx:
            runs.insert_intent(tx, intent_id, body.goal, body.inputs, body.constraints)
        return intent_id

    def start_run(self, intent_id: str, body: RunRequest) -> StartedRun:
        """Durable start: the run row and the enqueued workflow commit together."""
        request = body.model_dump(mode="json", exclude_none=True)
        request_hash = hashlib.sha256(canonical_json(request).encode()).hexdigest()
        run = NewRun(
            run_id="run-" + hashlib.sha256(f"{intent_id}:{request_hash}".encode()).hexdigest()[:24],
            kind=RunKind.INTENT,
            workflow_id=intent_id,
            request_hash=request_hash,
            request=request,
            intent_id=intent_id,
            trace_id=body.traceId,
            recipe_name=body.recipeName or DEFAULT_RECIPE,
        )
        try:
            # One transaction reads the intent and recipe, then writes: a refused
            # request rolls back having written nothing.
            with self.ctx.db.write() as tx:
                run_input = _run_input(tx, run, body.workload or DEFAULT_WORKLOAD)
                self._check_isolation(run_input)
                runs.insert_run(tx, run)
                options: EnqueueOptions = {
                    "workflow_name": names.WF_RUN_INTENT,
                    "queue_name": names.INTENT_QUEUE,
                    "workflow_id": intent_id,
                    "app_version": self.ctx.settings.app_version,
                }
                self.ctx.client.enqueue_in_transaction(tx, options, run_input.model_dump())
        except AlreadyExists:
            # The intent has a run already: this same request again (or a parallel
            # copy of it that committed first), or a different one.
            with self.ctx.db.read() as tx:
                existing = runs.find_run(tx, intent_id)
            if existing is None:
                raise
            return _same_run(existing, request_hash)
        return StartedRun(run_id=run.run_id, workflow_id=intent_id)

    def _check_isolation(self, run_input: RunIntentInput) -> None:
        """Commands from a user or a model run only in an isolating sandbox, unless the
        operator opted in (JEJAKEKAL_ALLOW_UNISOLATED=1)."""
        if not run_input.spec.runs_foreign_commands or self.ctx.settings.allow_unisolated:
            return
        isolation = self.ctx.isolation()
        if isolation != ISOLATING:
            raise errors.SandboxNotIsolated(recipe=run_input.recipe_name, isolation=isolation)


def _run_input(tx: Tx, run: NewRun, workload: Workload) -> RunIntentInput:
    """The workflow's input, once the intent and the recipe exist and the workload keeps
    within the recipe's caps."""
    assert run.intent_id is not None and run.recipe_name is not None
    intent, recipe = runs.intent_and_recipe(tx, run.intent_id, run.recipe_name)
    if intent is None:
        raise errors.IntentNotFound(intent_id=run.intent_id)
    if recipe is None:
        raise errors.RecipeNotFound(
            f"no recipe named {run.recipe_name!r}", recipeName=run.recipe_name
        )
    _check_caps(recipe, workload.concurrency, workload.steps, workload.sandboxMinutes)
    if recipe.spec.planner == "script":
        script = script_inputs(intent.inputs, recipe.spec)
        _check_caps(recipe, workload.concurrency, len(script.commands), workload.sandboxMinutes)
    return RunIntentInput(
        run_id=run.run_id,
        intent_id=run.intent_id,
        recipe_name=run.recipe_name,
        concurrency=workload.concurrency,
        steps=workload.steps,
        sandbox_minutes=workload.sandboxMinutes,
        trace_id=run.trace_id,
        goal=intent.goal,
        inputs=intent.inputs,
        recipe=recipe.spec.model_dump(mode="json", exclude_none=True),
    )


def _same_run(existing: StoredRun, request_hash: str) -> StartedRun:
    if existing.request_hash != request_hash:
        raise errors.RunPayloadMismatch(run_id=existing.run_id, workflow_id=existing.workflow_id)
    return StartedRun(run_id=existing.run_id, workflow_id=existing.workflow_id)


def _check_caps(recipe: Recipe, concurrency: int, steps: int, minutes: float) -> None:
    caps = (
        ("max_concurrency", "concurrency", concurrency, recipe.max_concurrency),
        ("max_steps", "steps", steps, recipe.max_steps),
        ("max_sandbox_minutes", "sandboxMinutes", minutes, recipe.max_sandbox_minutes),
    )
    for cap, field, value, limit in caps:
        if value > limit:
            raise errors.QueuePolicyViolation(
                f"workload.{field}={value} exceeds {recipe.name}.{cap}={limit}",
                cap=cap,
                limit=limit,
                field=f"workload.{field}",
                recipe=recipe.name,
            )

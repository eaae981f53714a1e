"""What the storage records of a run: its first row, and each step's row.

A run's later changes are `lifecycle.RunChange`s. Frozen: a record is built once, by a
use case or a step, and handed to `storage.runs` whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.recipes import RecipeSpec


@dataclass(frozen=True)
class NewRun:
    """A run as it starts; its first status is the life cycle's (`initial_status`)."""

    run_id: str
    kind: RunKind
    workflow_id: str
    request_hash: str
    request: JsonObject  # the request as the client sent it (JSON), kept for audit
    intent_id: str | None = None
    trace_id: str | None = None
    recipe_name: str | None = None


class StepPhase(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class StepRecord:
    """One `app.run_steps` row: created once, updated as its phase moves on.

    `started_at` is written only when the row is created; a later record of the same
    step keeps the first start.
    """

    run_id: str
    step_id: str
    phase: StepPhase
    output: Mapping[str, object]  # the step's JSON summary, as operators read it in SQL
    started_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True)
class StoredRun:
    """A run's own row, as `app.runs` holds it."""

    run_id: str
    kind: RunKind
    workflow_id: str
    status: str
    last_step: str | None
    retry_count: int
    error: str | None
    request_hash: str
    request: JsonObject
    intent_id: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class Intent:
    intent_id: str
    goal: str
    inputs: JsonObject


@dataclass(frozen=True)
class Recipe:
    """A recipe's caps: what one run of it may ask for."""

    name: str
    max_concurrency: int
    max_steps: int
    max_sandbox_minutes: float
    spec: RecipeSpec = field(default_factory=RecipeSpec)

"""Request and workflow-input contracts: strict pydantic models, unknown fields rejected."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

StrictModel = ConfigDict(extra="forbid", strict=True, frozen=True)

Goal = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
DEFAULT_RECIPE = "compile-default"


class IntentCreate(BaseModel):
    model_config = StrictModel
    goal: Goal
    inputs: dict[str, Any]
    constraints: dict[str, Any]


class Workload(BaseModel):
    model_config = StrictModel
    concurrency: int = Field(ge=1, le=10_000)
    steps: int = Field(ge=1, le=10_000)
    # Minutes may be fractional (0.05 = 3 s); strict mode still refuses strings.
    sandboxMinutes: float = Field(gt=0, le=24 * 60)


DEFAULT_WORKLOAD = Workload(concurrency=1, steps=1, sandboxMinutes=1)


class RunRequest(BaseModel):
    model_config = StrictModel
    traceId: Name | None = None
    recipeName: Name | None = None
    workload: Workload | None = None


class EventRequest(BaseModel):
    model_config = StrictModel
    type: Name
    payload: dict[str, Any] = Field(default_factory=dict)


class RunIntentInput(BaseModel):
    """The input of workflow `run_intent`: fields may be added, never renamed."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: str
    intent_id: str
    recipe_name: str
    concurrency: int
    steps: int
    sandbox_minutes: float
    trace_id: str | None = None


class ExecNodeInput(BaseModel):
    """The input of child workflow `execute_node` (one sandbox execution)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: str
    node_id: str
    argv: list[str]
    env: dict[str, str]
    timeout_sec: float
    fail_mode: str = "none"  # none | always | first
    max_attempts: int = 3

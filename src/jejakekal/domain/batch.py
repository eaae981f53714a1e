"""Batch operations: one action on every run a filter matches, capped per call (README,
"Operator actions")."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from jejakekal.domain.lifecycle import ALL_STATUSES, RunKind

MAX_BATCH = 500
DEFAULT_BATCH = 100
BatchAction = Literal["cancel", "resume", "retry"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunFilter(_Model):
    """Which runs: by stored status, kind, recipe and creation time (all optional, but
    at least one must be given: an empty filter would match every run)."""

    status: str | None = None
    kind: RunKind | None = None
    recipe: str | None = Field(default=None, min_length=1, max_length=100)
    created_after: AwareDatetime | None = Field(default=None, alias="createdAfter")
    created_before: AwareDatetime | None = Field(default=None, alias="createdBefore")

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None) -> str | None:
        if value is not None and value not in ALL_STATUSES:
            raise ValueError(f"status: one of {', '.join(ALL_STATUSES)}")
        return value

    def is_empty(self) -> bool:
        return not any(
            (self.status, self.kind, self.recipe, self.created_after, self.created_before)
        )


class BatchRequest(_Model):
    """`POST /runs/batch`."""

    action: BatchAction
    filter: RunFilter
    dryRun: bool = False
    limit: int = Field(default=DEFAULT_BATCH, ge=1, le=MAX_BATCH)
    reason: str | None = None

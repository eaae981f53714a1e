"""SQL oracles: what the drills believe, read from the database and nothing else.

Queries name `app.<table>` and `dbos.<table>`, which resolve on SQLite and PostgreSQL
alike; ids are bound parameters.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from jejakekal.domain.lifecycle import DbosStatus
from jejakekal.storage.oracles import like_prefix, read


class StepRow(TypedDict):
    """One `app.run_steps` row of a run, its output decoded."""

    phase: str
    attempt: int | None
    output: dict[str, Any]  # the step's own JSON: each step writes its own shape


# The engine's final statuses: a workflow in one of these will not move again by itself.
TERMINAL_DBOS = frozenset(
    {
        DbosStatus.SUCCESS,
        DbosStatus.ERROR,
        DbosStatus.CANCELLED,
        DbosStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
    }
)


class Oracles:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        return read(self.url, query, **params)

    def _one(self, query: str, **params: Any) -> Any:
        rows = self.rows(query, **params)
        return next(iter(rows[0].values())) if rows else None

    def _text(self, query: str, **params: Any) -> str | None:
        value = self._one(query, **params)
        return None if value is None else str(value)

    def _counts(self, query: str, **params: Any) -> dict[str, int]:
        return {str(r["k"]): int(r["n"]) for r in self.rows(query, **params)}

    # -- DBOS ------------------------------------------------------------------------
    def workflow_status(self, workflow_id: str) -> str | None:
        return self._text(
            "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = :id", id=workflow_id
        )

    def child_statuses(self, parent_id: str) -> dict[str, int]:
        """Statuses of the workflows named `<parent_id>:...` (an intent run's nodes)."""
        return self._counts(
            "SELECT status AS k, count(*) AS n FROM dbos.workflow_status "
            "WHERE workflow_uuid LIKE :prefix ESCAPE '\\' GROUP BY status",
            prefix=like_prefix(f"{parent_id}:"),
        )

    def operations(self, workflow_id: str) -> dict[str, int]:
        """How many times each operation name was checkpointed for the workflow."""
        return self._counts(
            "SELECT function_name AS k, count(*) AS n FROM dbos.operation_outputs "
            "WHERE workflow_uuid = :id GROUP BY function_name",
            id=workflow_id,
        )

    # -- app -------------------------------------------------------------------------
    def marks(self, run_id: str) -> dict[str, int]:
        return self._counts(
            "SELECT step AS k, count(*) AS n FROM app.marks WHERE run_id = :id GROUP BY step",
            id=run_id,
        )

    def run_status(self, run_id: str) -> str | None:
        return self._text("SELECT status FROM app.runs WHERE id = :id", id=run_id)

    def run_workflow_id(self, run_id: str) -> str | None:
        return self._text("SELECT workflow_id FROM app.runs WHERE id = :id", id=run_id)

    def steps(self, run_id: str) -> dict[str, StepRow]:
        """`app.run_steps` of a run: step id -> {phase, attempt, output}."""
        found: dict[str, StepRow] = {}
        for r in self.rows(
            "SELECT step_id, phase, output FROM app.run_steps WHERE run_id = :id", id=run_id
        ):
            # JSON text on SQLite, already decoded on PostgreSQL.
            raw = r["output"]
            output = json.loads(raw) if isinstance(raw, str | bytes) else raw or {}
            found[str(r["step_id"])] = {
                "phase": r["phase"],
                "attempt": output.get("attempt"),
                "output": output,
            }
        return found

    def duplicate_receipts(self) -> int:
        """The courses' replay-safety oracle, over the whole table: must stay 0."""
        return int(self._one("SELECT count(*) AS n FROM app.mock_receipts WHERE seen_count > 1"))

    def receipts(self, run_id: str) -> int:
        return int(
            self._one(
                "SELECT count(*) AS n FROM app.mock_receipts "
                "WHERE receipt_key LIKE :prefix ESCAPE '\\'",
                prefix=like_prefix(f"{run_id}:"),
            )
        )

    def artifacts(self, run_id: str) -> dict[str, int]:
        return self._counts(
            "SELECT type AS k, count(*) AS n FROM app.artifacts WHERE run_id = :id GROUP BY type",
            id=run_id,
        )

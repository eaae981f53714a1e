"""Statements both dialects build the same way, with the bind names they share.

A step row binds `run_id_`, `step_id_`, `phase_`, `output_`, `started_at_` and
`finished_at_`; a run change binds its columns by name, `updated_at`, `run_id_`, and
`from_` (the statuses it may change from) when guarded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from jejakekal.storage import schema as s

# What a later record of a step changes; `started_at` stays the first one's.
STEP_UPDATED = ("phase", "output", "finished_at")


def step_values() -> dict[str, Any]:
    return {
        "run_id": sa.bindparam("run_id_"),
        "step_id": sa.bindparam("step_id_"),
        "phase": sa.bindparam("phase_"),
        "output": sa.bindparam("output_"),
        "started_at": sa.bindparam("started_at_"),
        "finished_at": sa.bindparam("finished_at_"),
    }


def upsert_step(insert: Callable[[sa.Table], Any]) -> Any:
    step = insert(s.run_steps).values(step_values())
    return step.on_conflict_do_update(
        index_elements=[s.run_steps.c.run_id, s.run_steps.c.step_id],
        set_={name: step.excluded[name] for name in STEP_UPDATED},
    )


@functools.cache
def update_run(columns: tuple[str, ...], *, guarded: bool) -> sa.Update:
    """Set `columns` (and `updated_at`) of one run; when guarded, only from `from_`."""
    values: dict[str, Any] = {name: sa.bindparam(name) for name in (*columns, "updated_at")}
    stmt = s.runs.update().where(s.runs.c.id == sa.bindparam("run_id_")).values(values)
    if guarded:
        stmt = stmt.where(s.runs.c.status.in_(sa.bindparam("from_", expanding=True)))
    return stmt.returning(s.runs.c.id)

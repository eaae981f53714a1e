"""Bulk rows for the query benchmark: finished document runs with searchable chunks.

Written straight to the app tables (no workflows), so a store of 10,000 runs and
100,000 chunks takes seconds; the full-text index fills as the chunks go in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypedDict

from jejakekal.storage import schema as s
from jejakekal.storage.database import Database
from jejakekal.storage.documents import ChunkRow

BATCH_RUNS = 200


class RunRow(TypedDict):
    id: str
    kind: str
    workflow_id: str
    status: str
    last_step: str
    retry_count: int
    request_hash: str
    request: dict[str, bool]
    created_at: datetime
    updated_at: datetime


class SeededChunk(ChunkRow):
    """An `app.chunks` row with its run id: seeding writes many runs' chunks at once."""

    run_id: str


def seed_doc_runs(
    db: Database,
    *,
    prefix: str,
    runs: int,
    chunk_texts: Callable[[int], Sequence[str]],
    progress: Callable[[int], object] | None = None,
) -> list[str]:
    """Insert `runs` done document runs named `<prefix>-<n>`, each with its chunks."""
    stamp = datetime.now(UTC)
    run_ids: list[str] = []
    for first in range(0, runs, BATCH_RUNS):
        run_rows: list[RunRow] = []
        chunk_rows: list[SeededChunk] = []
        for n in range(first, min(runs, first + BATCH_RUNS)):
            run_id = f"{prefix}-{n:06d}"
            run_ids.append(run_id)
            run_rows.append(_run_row(run_id, stamp))
            chunk_rows.extend(_chunk_rows(run_id, n, chunk_texts(n)))
        with db.write() as tx:
            tx.execute(s.runs.insert(), run_rows)
            tx.execute(s.chunks.insert(), chunk_rows)
        if progress:
            progress(len(run_rows))
    return run_ids


def _run_row(run_id: str, stamp: datetime) -> RunRow:
    return {
        "id": run_id,
        "kind": "doc",
        "workflow_id": run_id,
        "status": "done",
        "last_step": "finalize",
        "retry_count": 0,
        "request_hash": "seeded",
        "request": {"seeded": True},
        "created_at": stamp,
        "updated_at": stamp,
    }


def _chunk_rows(run_id: str, n: int, texts: Sequence[str]) -> list[SeededChunk]:
    """The chunks of run `n`, laid end to end with one separator between them."""
    rows: list[SeededChunk] = []
    offset = 0
    for ord_, text in enumerate(texts):
        rows.append(
            {
                "run_id": run_id,
                "chunk_id": f"c-{n:06d}-{ord_:04d}",
                "ord": ord_,
                "text": text,
                "start": offset,
                "end": offset + len(text),
                "sha256": "seeded",
                "confidence": 1.0,
            }
        )
        offset += len(text) + 1
    return rows

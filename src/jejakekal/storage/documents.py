"""Document rows: artifacts (append-only, bytes with provenance) and searchable chunks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from jejakekal.domain.names import ARTIFACT_TYPES
from jejakekal.storage import schema as s
from jejakekal.storage.database import Tx

_TYPE_ORDER = sa.case({t: i for i, t in enumerate(ARTIFACT_TYPES)}, value=s.artifacts.c.type)
META_COLUMNS = (
    s.artifacts.c.id,
    s.artifacts.c.run_id,
    s.artifacts.c.type,
    s.artifacts.c.status,
    s.artifacts.c.visibility,
    s.artifacts.c.sha256,
    s.artifacts.c.size,
    s.artifacts.c.content_type,
    s.artifacts.c.created_at,
)


def artifact_id(run_id: str, artifact_type: str) -> str:
    return f"{run_id}:{artifact_type}"


def insert_artifacts(tx: Tx, run_id: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Append a run's artifacts in one statement; an artifact is never updated.

    Each row: type, content, content_type, sha256, producer_step, producer_function_id, prov.
    """
    stamp = datetime.now(UTC)
    values = [
        {
            **row,
            "id": artifact_id(run_id, row["type"]),
            "run_id": run_id,
            "visibility": "user",
            "status": "final",
            "size": len(row["content"]),
            "created_at": stamp,
        }
        for row in rows
    ]
    tx.execute(s.artifacts.insert(), values)
    return [v["id"] for v in values]


def insert_chunks(tx: Tx, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Chunk rows; the full-text index is written with them (trigger or generated column)."""
    if rows:
        tx.execute(s.chunks.insert(), [{"run_id": run_id, **row} for row in rows])


def list_artifacts(
    tx: Tx,
    *,
    artifact_type: str | None,
    visibility: str | None,
    run_id: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    stmt = sa.select(*META_COLUMNS)
    if artifact_type:
        stmt = stmt.where(s.artifacts.c.type == artifact_type)
    if visibility:
        stmt = stmt.where(s.artifacts.c.visibility == visibility)
    if run_id:
        stmt = stmt.where(s.artifacts.c.run_id == run_id).order_by(_TYPE_ORDER)
    else:
        stmt = stmt.order_by(s.artifacts.c.created_at.desc(), s.artifacts.c.id)
    rows = tx.execute(stmt.limit(limit).offset(offset)).mappings()
    return [dict(r) for r in rows]


def get_artifact(tx: Tx, artifact_id_: str) -> dict[str, Any] | None:
    row = tx.execute(sa.select(s.artifacts).where(s.artifacts.c.id == artifact_id_)).mappings()
    found = row.first()
    return dict(found) if found else None


def run_artifacts(tx: Tx, run_id: str) -> list[dict[str, Any]]:
    """A run's artifacts, bytes included, in production order (raw, docir, chunk-index, memo)."""
    rows = tx.execute(
        sa.select(s.artifacts).where(s.artifacts.c.run_id == run_id).order_by(_TYPE_ORDER)
    ).mappings()
    return [dict(r) for r in rows]


_ARTIFACT_IDS = (
    sa.select(s.artifacts.c.id)
    .where(s.artifacts.c.run_id == sa.bindparam("run_id_"))
    .order_by(_TYPE_ORDER)
)


def artifact_ids(tx: Tx, run_id: str) -> list[str]:
    return [r[0] for r in tx.execute(_ARTIFACT_IDS, {"run_id_": run_id})]

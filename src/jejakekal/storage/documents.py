"""Document rows: artifacts (append-only, bytes with provenance) and searchable chunks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypedDict

import sqlalchemy as sa

from jejakekal.domain.artifact_bodies import Provenance
from jejakekal.domain.names import ALL_ARTIFACT_TYPES
from jejakekal.domain.outputs import NodeArtifact, OutputChunk
from jejakekal.domain.snapshots import ArtifactMetaRow, ArtifactRow
from jejakekal.storage import schema as s
from jejakekal.storage.database import Tx

_TYPE_ORDER = sa.case({t: i for i, t in enumerate(ALL_ARTIFACT_TYPES)}, value=s.artifacts.c.type)
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


class NewArtifact(TypedDict):
    """An artifact to append; its id, size and status are derived here."""

    type: str
    content: bytes
    content_type: str
    sha256: str
    producer_step: str
    producer_function_id: int | None
    prov: Provenance


class ChunkRow(TypedDict):
    """An `app.chunks` row without its run id."""

    chunk_id: str
    ord: int
    text: str
    start: int
    end: int
    sha256: str
    confidence: float


def _meta_row(row: sa.RowMapping) -> ArtifactMetaRow:
    return {
        "id": row["id"],
        "run_id": row["run_id"],
        "type": row["type"],
        "status": row["status"],
        "visibility": row["visibility"],
        "sha256": row["sha256"],
        "size": row["size"],
        "content_type": row["content_type"],
        "created_at": row["created_at"],
    }


def _artifact_row(row: sa.RowMapping) -> ArtifactRow:
    return {
        **_meta_row(row),
        "content": bytes(row["content"]),  # PostgreSQL's driver may give a memoryview
        "producer_step": row["producer_step"],
        "producer_function_id": row["producer_function_id"],
        "prov": row["prov"],
    }


def artifact_id(run_id: str, artifact_type: str) -> str:
    return f"{run_id}:{artifact_type}"


def insert_artifacts(tx: Tx, run_id: str, rows: Sequence[NewArtifact]) -> list[str]:
    """Append a run's artifacts in one statement; an artifact is never updated."""
    stamp = datetime.now(UTC)
    ids = [artifact_id(run_id, row["type"]) for row in rows]
    values = [
        {
            **row,
            "id": id_,
            "run_id": run_id,
            "visibility": "user",
            "status": "final",
            "size": len(row["content"]),
            "created_at": stamp,
        }
        for id_, row in zip(ids, rows, strict=True)
    ]
    tx.execute(s.artifacts.insert(), values)
    return ids


def insert_node_outputs(
    tx: Tx, run_id: str, made: Sequence[NodeArtifact], chunks: Sequence[OutputChunk]
) -> None:
    """One node attempt's artifacts and search chunks (`domain.outputs`), appended."""
    stamp = datetime.now(UTC)
    tx.execute(
        s.artifacts.insert(),
        [
            {
                "id": a.artifact_id,
                "run_id": run_id,
                "type": a.type,
                "visibility": "user",
                "status": "final",
                "content_type": a.content_type,
                "sha256": a.sha256,
                "size": len(a.content),
                "content": a.content,
                "producer_step": a.prov["step"],
                "producer_function_id": None,
                "prov": a.prov,
                "created_at": stamp,
            }
            for a in made
        ],
    )
    insert_chunks(
        tx,
        run_id,
        [
            ChunkRow(
                chunk_id=c.chunk_id,
                ord=0,
                text=c.text,
                start=0,
                end=len(c.text),
                sha256=c.sha256,
                confidence=1.0,
            )
            for c in chunks
        ],
    )


def _like_prefix(prefix: str) -> str:
    for special in ("\\", "%", "_"):
        prefix = prefix.replace(special, "\\" + special)
    return prefix + "%"


# Built once: building a statement costs more than running this one (see effects.py).
# One read before a node runs: whether its receipt is in the ledger (it finished before a
# crash took its checkpoint), and how many of its attempts stored their outputs.
_NODE_HISTORY = sa.select(
    sa.select(s.effects.c.effect_key)
    .where(s.effects.c.effect_key == sa.bindparam("key_"))
    .exists()
    .label("finished"),
    sa.select(sa.func.count())
    .where(
        s.artifacts.c.run_id == sa.bindparam("run_id_"),
        s.artifacts.c.type == "node-result",
        s.artifacts.c.id.like(sa.bindparam("prefix_"), escape="\\"),
    )
    .scalar_subquery()
    .label("attempts"),
)


def node_history(tx: Tx, run_id: str, node_id: str, receipt_key: str) -> tuple[bool, int]:
    """(whether the node's receipt is in the ledger, how many of its attempts ran in a
    sandbox and stored their outputs), in one statement."""
    params = {
        "key_": receipt_key,
        "run_id_": run_id,
        "prefix_": _like_prefix(f"{run_id}:{node_id}:a"),
    }
    row = tx.execute(_NODE_HISTORY, params).one()
    return bool(row.finished), int(row.attempts)


def artifact_json(tx: Tx, artifact_id_: str) -> bytes | None:
    row = tx.execute(
        sa.select(s.artifacts.c.content).where(s.artifacts.c.id == artifact_id_)
    ).first()
    return bytes(row[0]) if row else None


def insert_chunks(tx: Tx, run_id: str, rows: Sequence[ChunkRow]) -> None:
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
) -> list[ArtifactMetaRow]:
    stmt = sa.select(*META_COLUMNS)
    if artifact_type:
        stmt = stmt.where(s.artifacts.c.type == artifact_type)
    if visibility:
        stmt = stmt.where(s.artifacts.c.visibility == visibility)
    if run_id:
        stmt = stmt.where(s.artifacts.c.run_id == run_id).order_by(_TYPE_ORDER, s.artifacts.c.id)
    else:
        stmt = stmt.order_by(s.artifacts.c.created_at.desc(), s.artifacts.c.id)
    rows = tx.execute(stmt.limit(limit).offset(offset)).mappings()
    return [_meta_row(r) for r in rows]


def get_artifact(tx: Tx, artifact_id_: str) -> ArtifactRow | None:
    row = tx.execute(sa.select(s.artifacts).where(s.artifacts.c.id == artifact_id_)).mappings()
    found = row.first()
    return _artifact_row(found) if found else None


def artifact_prov(tx: Tx, artifact_id_: str) -> Provenance | None:
    """An artifact's provenance alone (its bytes may be a whole uploaded file)."""
    prov: Provenance | None = tx.execute(
        sa.select(s.artifacts.c.prov).where(s.artifacts.c.id == artifact_id_)
    ).scalar_one_or_none()
    return prov


def run_artifacts(tx: Tx, run_id: str) -> list[ArtifactRow]:
    """A run's artifacts, bytes included, in production order (raw, docir, chunk-index, memo)."""
    rows = tx.execute(
        sa.select(s.artifacts)
        .where(s.artifacts.c.run_id == run_id)
        .order_by(_TYPE_ORDER, s.artifacts.c.id)
    ).mappings()
    return [_artifact_row(r) for r in rows]


_ARTIFACT_IDS = (
    sa.select(s.artifacts.c.id)
    .where(s.artifacts.c.run_id == sa.bindparam("run_id_"))
    .order_by(_TYPE_ORDER, s.artifacts.c.id)
)


def artifact_ids(tx: Tx, run_id: str) -> list[str]:
    return [r[0] for r in tx.execute(_ARTIFACT_IDS, {"run_id_": run_id})]

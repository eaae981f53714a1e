"""Artifacts of document runs, and the search over their chunks."""

from __future__ import annotations

import json
from typing import Any

from jejakekal.control.context import Context
from jejakekal.domain import errors
from jejakekal.domain.views import ArtifactMeta, SearchHit
from jejakekal.storage import documents, readmodels, search


class Artifacts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def find(self, **filters: Any) -> list[ArtifactMeta]:
        with self.ctx.db.read() as tx:
            rows = documents.list_artifacts(tx, **filters)
        return [ArtifactMeta(**{**r, "created_at": readmodels.iso(r["created_at"])}) for r in rows]

    def get(self, artifact_id: str) -> dict[str, Any]:
        with self.ctx.db.read() as tx:
            row = documents.get_artifact(tx, artifact_id)
        if row is None:
            raise errors.ArtifactNotFound(artifact_id=artifact_id)
        return row

    def document(self, artifact_id: str) -> dict[str, Any]:
        """An artifact as `GET /artifacts/{id}` shows it: `{meta, content, prov}`, the
        content parsed when it is JSON, else text."""
        row = self.get(artifact_id)
        content = bytes(row["content"])
        decoded: Any = content.decode("utf-8", errors="replace")
        if row["content_type"].startswith("application/json"):
            decoded = json.loads(content)
        meta = {
            k: row[k] for k in ("id", "run_id", "type", "status", "visibility", "sha256", "size")
        }
        meta.update(
            content_type=row["content_type"],
            created_at=readmodels.iso(row["created_at"]),
            producer_step=row["producer_step"],
            producer_function_id=row["producer_function_id"],
        )
        return {"meta": meta, "content": decoded, "prov": row["prov"]}

    def search(self, query: str, *, run_id: str | None, limit: int) -> list[SearchHit]:
        with self.ctx.db.read() as tx:
            return search.search(tx, query, run_id=run_id, limit=limit)

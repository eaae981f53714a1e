"""Artifacts of document runs, and the search over their chunks."""

from __future__ import annotations

from jejakekal.adapters import pdf_pages
from jejakekal.control.context import Context
from jejakekal.domain import errors
from jejakekal.domain.views import (
    ArtifactDetail,
    ArtifactDocument,
    ArtifactMeta,
    SearchHit,
    StoredArtifact,
)
from jejakekal.storage import documents, runs, search
from jejakekal.storage.blobs import BlobStore


class Artifacts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def find(
        self,
        *,
        artifact_type: str | None,
        visibility: str | None,
        run_id: str | None,
        limit: int,
        offset: int,
    ) -> list[ArtifactMeta]:
        with self.ctx.db.read() as tx:
            rows = documents.list_artifacts(
                tx,
                artifact_type=artifact_type,
                visibility=visibility,
                run_id=run_id,
                limit=limit,
                offset=offset,
            )
        return [
            ArtifactMeta(
                id=r["id"],
                run_id=r["run_id"],
                type=r["type"],
                status=r["status"],
                visibility=r["visibility"],
                sha256=r["sha256"],
                size=r["size"],
                content_type=r["content_type"],
                created_at=runs.iso(r["created_at"]),
            )
            for r in rows
        ]

    def get(self, artifact_id: str) -> StoredArtifact:
        with self.ctx.db.read() as tx:
            row = documents.get_artifact(tx, artifact_id)
        if row is None:
            raise errors.ArtifactNotFound(artifact_id=artifact_id)
        meta = ArtifactDetail(
            id=row["id"],
            run_id=row["run_id"],
            type=row["type"],
            status=row["status"],
            visibility=row["visibility"],
            sha256=row["sha256"],
            size=row["size"],
            content_type=row["content_type"],
            created_at=runs.iso(row["created_at"]),
            producer_step=row["producer_step"],
            producer_function_id=row["producer_function_id"],
        )
        return StoredArtifact(meta=meta, content=row["content"], prov=row["prov"])

    def document(self, artifact_id: str) -> ArtifactDocument:
        """An artifact as `GET /artifacts/{id}` shows it: `{meta, content, prov}`, the
        content parsed when it is JSON, else text."""
        return self.get(artifact_id).document()

    def page_image(self, run_id: str, page: int) -> bytes:
        """Page `page` of an uploaded PDF as a PNG, rendered once and cached."""
        with self.ctx.db.read() as tx:
            prov = documents.artifact_prov(tx, f"{run_id}:raw")
        source = prov.get("source") if prov is not None else None
        blob = source.get("blob") if source is not None else None
        if source is None or blob is None or source["format"] != "pdf":
            raise errors.ArtifactNotFound(
                "the run has no uploaded PDF", artifact_id=f"{run_id}:raw"
            )
        settings = self.ctx.settings
        pdf = BlobStore(settings.blobs_dir).path(blob["sha256"])
        try:
            return pdf_pages.cached_png(pdf, blob["sha256"], page, settings.pages_dir)
        except pdf_pages.PageOutOfRange as exc:
            raise errors.PageNotFound(str(exc), run_id=run_id, page=page) from None

    def search(self, query: str, *, run_id: str | None, limit: int) -> list[SearchHit]:
        with self.ctx.db.read() as tx:
            return search.search(tx, query, run_id=run_id, limit=limit)

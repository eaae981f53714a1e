"""Use cases of document runs: start, adoption after a crash, export, artifacts, search.

The base of `Control`, which adds intents and the use cases every run shares; the two
keep one state (settings, engine, DBOS client, the runs executing here).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from dbos import DBOSClient, EnqueueOptions

from jejakekal.config import Settings
from jejakekal.domain import errors, names
from jejakekal.domain.compiler import canonical_json
from jejakekal.domain.contracts import DocIngestInput, DocRunRequest
from jejakekal.domain.ids import new_doc_run_id
from jejakekal.domain.status import DocStatus, RunKind
from jejakekal.export import bundle
from jejakekal.export.writer import write_bundle
from jejakekal.storage import documents, readmodels, runs, search, snapshots

# Starts a document workflow in this process at once (given where workflows run); returns
# the local execution's future, if any.
DocStarter = Callable[[str, dict[str, Any]], "Future[Any] | None"]


class DocumentUseCases:
    def __init__(
        self,
        settings: Settings,
        engine: Any,
        client: DBOSClient,
        start_doc: DocStarter | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.client = client
        self.start_doc = start_doc
        # Runs started in this process, until they end: a long poll waits on these.
        self._running_here: dict[str, Future[Any]] = {}

    # -- document runs -------------------------------------------------------------
    def start_doc_run(self, body: DocRunRequest) -> dict[str, Any]:
        """Durable start of a document run, deduplicated by workflowId and payload.

        An API-only process commits the run row and the enqueued workflow together. A
        process that runs workflows commits the row, then starts the workflow at once
        (no queue poll in the way); a crash between the two leaves a row that the next
        launch adopts (`adopt_orphan_doc_runs`), so nothing is lost either way.
        """
        payload = body.model_dump(mode="json", exclude_none=True)
        payload.pop("workflowId", None)
        request_hash = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
        run_id = body.workflowId or new_doc_run_id()
        run_input = _doc_input(run_id, body)
        try:
            with runs.write(self.engine) as conn:
                runs.insert_run(
                    conn,
                    id=run_id,
                    kind=RunKind.DOC,
                    workflow_id=run_id,
                    status=DocStatus.RUNNING,
                    retry_count=0,
                    request_hash=request_hash,
                    request=payload,
                )
                if self.start_doc is None:
                    options: EnqueueOptions = {
                        "workflow_name": names.WF_DOC_INGEST,
                        "queue_name": names.DOC_QUEUE,
                        "workflow_id": run_id,
                        "app_version": self.settings.app_version,
                    }
                    self.client.enqueue_in_transaction(conn, options, run_input)
        except runs.AlreadyExists:
            existing = readmodels.run_view(self.engine, run_id)
            if existing is None:
                raise
            same = existing["kind"] == RunKind.DOC and self._request_hash(run_id) == request_hash
            if not same:
                raise errors.WorkflowIdPayloadMismatch(
                    run_id=existing["run_id"], workflow_id=run_id
                ) from None
            return {"run_id": existing["run_id"], "status": existing["status"]}
        if self.start_doc is not None:
            self._track(run_id, self.start_doc(run_id, run_input))
        return {"run_id": run_id, "status": DocStatus.RUNNING.value}

    def _track(self, run_id: str, future: Future[Any] | None) -> None:
        if future is not None:
            self._running_here[run_id] = future
            future.add_done_callback(lambda _: self._running_here.pop(run_id, None))

    def _request_hash(self, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            run = runs.find_run(conn, run_id)
        return run["request_hash"] if run else None

    def adopt_orphan_doc_runs(self) -> list[str]:
        """Start document runs whose row committed but whose workflow never started."""
        assert self.start_doc is not None, "only a process that runs workflows adopts"
        adopted = []
        for run in runs.orphan_doc_runs(self.engine):
            body = DocRunRequest.model_validate(run["request"], strict=False)
            self._track(run["id"], self.start_doc(run["id"], _doc_input(run["id"], body)))
            adopted.append(run["id"])
        return adopted

    def export_run(self, run_id: str) -> dict[str, Any]:
        """Write the run's bundle [BUNDLE] under `<home>/bundles/` and describe it."""
        snapshot = snapshots.run_snapshot(self.engine, run_id)
        if snapshot is None:
            raise errors.RunNotFound(run_id=run_id)
        run = snapshot["run"]
        path = write_bundle(self.settings.bundles_dir, run["id"], bundle.build(snapshot))
        return {
            "run_id": run["id"],
            "status": snapshot["status"],
            "dbos_status": snapshot["dbos_status"],
            "artifacts": [
                {
                    "id": a["type"],
                    "artifact_id": a["id"],
                    "sha256": a["sha256"],
                    "size": a["size"],
                    "content_type": a["content_type"],
                }
                for a in snapshot["artifacts"]
            ],
            "run_bundle_path": str(path),
        }

    # -- artifacts and search --------------------------------------------------------
    def list_artifacts(self, **filters: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = documents.list_artifacts(conn, **filters)
        return [{**r, "created_at": readmodels.iso(r["created_at"])} for r in rows]

    def artifact(self, artifact_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = documents.get_artifact(conn, artifact_id)
        if row is None:
            raise errors.ArtifactNotFound(artifact_id=artifact_id)
        return row

    def artifact_document(self, artifact_id: str) -> dict[str, Any]:
        """An artifact as `GET /artifacts/{id}` shows it: `{meta, content, prov}`, the
        content parsed when it is JSON, else text."""
        row = self.artifact(artifact_id)
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

    def search(self, query: str, *, run_id: str | None, limit: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return search.search(conn, query, run_id=run_id, limit=limit)


def _doc_input(run_id: str, body: DocRunRequest) -> dict[str, Any]:
    return DocIngestInput(
        run_id=run_id,
        source=body.document(),
        format=body.format,
        sleep_ms=body.sleepMs,
        source_kind="cmd" if body.cmd is not None else "source",
    ).model_dump()

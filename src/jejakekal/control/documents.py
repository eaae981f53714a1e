"""Document runs: start one (deduplicated by workflow id and payload), adopt the ones a
crash left unstarted, and export any run as a bundle."""

from __future__ import annotations

import hashlib

from dbos import EnqueueOptions

from jejakekal.control.context import Context, DocStarter
from jejakekal.domain import errors, names
from jejakekal.domain.audit import Who
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.contracts import DocIngestInput, DocRunRequest, UploadedDocRun
from jejakekal.domain.ids import new_doc_run_id
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import Action, DocStatus, RunKind
from jejakekal.domain.records import NewRun
from jejakekal.domain.snapshots import RunSnapshot
from jejakekal.domain.views import BundledArtifact, ExportedRun, StartedDocRun
from jejakekal.export import bundle
from jejakekal.export.writer import write_bundle
from jejakekal.storage import audit, readmodels, runs, snapshots
from jejakekal.storage.database import AlreadyExists


class DocumentRuns:
    def __init__(self, ctx: Context, start_doc: DocStarter | None = None) -> None:
        self.ctx = ctx
        self.start_doc = start_doc

    def start(self, body: DocRunRequest) -> StartedDocRun:
        """Durable start of a document run given as text, deduplicated by workflowId
        and payload."""
        payload = body.model_dump(mode="json", exclude_none=True)
        payload.pop("workflowId", None)
        run_id = body.workflowId or new_doc_run_id()
        return self._start(run_id, payload, _hash(payload), _doc_input(run_id, body))

    def refuse_conflicting_upload(self, upload: UploadedDocRun, workflow_id: str | None) -> None:
        """409 now, before the upload's bytes are stored, when `workflow_id` names a run
        of other bytes (`start_upload` checks again, in the insert, for a racing start)."""
        if workflow_id is None:
            return
        recorded = self._request_hash(workflow_id)
        if recorded is not None and recorded != _hash(upload.request_hash_payload()):
            raise errors.WorkflowIdPayloadMismatch(run_id=workflow_id, workflow_id=workflow_id)

    def start_upload(self, upload: UploadedDocRun, workflow_id: str | None) -> StartedDocRun:
        """Durable start of a document run whose bytes are in the blob store: the same
        `workflowId` with the same bytes is the same run."""
        run_id = workflow_id or new_doc_run_id()
        payload = upload.model_dump(mode="json", exclude_none=True)
        request_hash = _hash(upload.request_hash_payload())
        return self._start(run_id, payload, request_hash, _upload_input(run_id, upload))

    def _start(
        self, run_id: str, payload: JsonObject, request_hash: str, run_input: JsonObject
    ) -> StartedDocRun:
        """Insert the run row and start its workflow.

        An API-only process commits the run row and the enqueued workflow together. A
        process that runs workflows commits the row, then starts the workflow at once
        (no queue poll in the way); a crash between the two leaves a row that the next
        launch adopts (`adopt_orphan_doc_runs`), so nothing is lost either way.
        """
        try:
            with self.ctx.db.write() as tx:
                runs.insert_run(
                    tx,
                    NewRun(
                        run_id=run_id,
                        kind=RunKind.DOC,
                        workflow_id=run_id,
                        request_hash=request_hash,
                        request=payload,
                    ),
                )
                if self.start_doc is None:
                    options: EnqueueOptions = {
                        "workflow_name": names.WF_DOC_INGEST,
                        "queue_name": names.DOC_QUEUE,
                        "workflow_id": run_id,
                        "app_version": self.ctx.settings.app_version,
                    }
                    self.ctx.client.enqueue_in_transaction(tx, options, run_input)
        except AlreadyExists:
            existing = readmodels.run_view(self.ctx.db, run_id)
            if existing is None:
                raise
            same = existing.kind == RunKind.DOC and self._request_hash(run_id) == request_hash
            if not same:
                raise errors.WorkflowIdPayloadMismatch(
                    run_id=existing.run_id, workflow_id=run_id
                ) from None
            return StartedDocRun(run_id=existing.run_id, status=existing.status)
        if self.start_doc is not None:
            self.ctx.track(run_id, self.start_doc(run_id, run_input))
        return StartedDocRun(run_id=run_id, status=DocStatus.RUNNING.value)

    def _request_hash(self, run_id: str) -> str | None:
        with self.ctx.db.read() as tx:
            run = runs.find_run(tx, run_id)
        return run.request_hash if run else None

    def adopt_orphans(self) -> list[str]:
        """Start document runs whose row committed but whose workflow never started."""
        assert self.start_doc is not None, "only a process that runs workflows adopts"
        adopted = []
        for run in runs.orphan_doc_runs(self.ctx.db):
            if "blob" in run.request:
                upload = UploadedDocRun.model_validate(run.request)
                run_input = _upload_input(run.run_id, upload)
            else:
                body = DocRunRequest.model_validate(run.request, strict=False)
                run_input = _doc_input(run.run_id, body)
            self.ctx.track(run.run_id, self.start_doc(run.run_id, run_input))
            adopted.append(run.run_id)
        return adopted

    def export(self, run_id: str, who: Who | None = None) -> ExportedRun:
        """Write the run's bundle under `<home>/bundles/` and describe it (docs/runs.md,
        "Export bundles"); an operator's export is audited (`who`)."""
        snapshot = self._snapshot(run_id)
        run = snapshot["run"]
        path = write_bundle(self.ctx.settings.bundles_dir, run["id"], bundle.build(snapshot))
        self._audit_export(snapshot, who, "folder")
        return ExportedRun(
            run_id=run["id"],
            status=snapshot["status"],
            dbos_status=snapshot["dbos_status"],
            artifacts=tuple(
                BundledArtifact(
                    id=a["type"],
                    artifact_id=a["id"],
                    sha256=a["sha256"],
                    size=a["size"],
                    content_type=a["content_type"],
                )
                for a in snapshot["artifacts"]
            ),
            run_bundle_path=str(path),
        )

    def bundle_files(self, run_id: str, who: Who | None = None) -> bundle.RunBundle:
        """The run's bundle, the files `export` writes, in memory and nowhere on disk."""
        snapshot = self._snapshot(run_id)
        built = bundle.RunBundle(run_id=snapshot["run"]["id"], files=bundle.build(snapshot))
        self._audit_export(snapshot, who, "zip")
        return built

    def _audit_export(self, snapshot: RunSnapshot, who: Who | None, form: str) -> None:
        """One row per export, once the bundle is built (the bundle leaves exports out)."""
        if who is None:
            return
        with self.ctx.db.write() as tx:
            audit.record(
                tx,
                snapshot["run"]["id"],
                Action.EXPORT,
                who,
                before=snapshot["status"],
                after=snapshot["status"],
                detail={"form": form},
            )

    def _snapshot(self, run_id: str) -> RunSnapshot:
        snapshot = snapshots.run_snapshot(self.ctx.db, run_id)
        if snapshot is None:
            raise errors.RunNotFound(run_id=run_id)
        return snapshot


def _hash(payload: JsonObject) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _upload_input(run_id: str, upload: UploadedDocRun) -> JsonObject:
    return DocIngestInput(
        run_id=run_id,
        source="",
        format=upload.format,
        sleep_ms=upload.sleepMs,
        source_kind="upload",
        blob=upload.blob,
    ).model_dump(mode="json")


def _doc_input(run_id: str, body: DocRunRequest) -> JsonObject:
    """The workflow's input as DBOS records it: the plain dict earlier runs were given."""
    return DocIngestInput(
        run_id=run_id,
        source=body.document(),
        format=body.format,
        sleep_ms=body.sleepMs,
        source_kind="cmd" if body.cmd is not None else "source",
    ).model_dump(exclude_none=True)

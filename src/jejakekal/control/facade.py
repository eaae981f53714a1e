"""The use cases, as the API, the UI and the CLI call them.

`Control` composes one object per concern over one shared `Context`; its methods only
name which concern answers. Add a use case to its concern, then a line here.
"""

from __future__ import annotations

from collections.abc import Callable

from dbos import DBOSClient

from jejakekal.config import Settings
from jejakekal.control.artifacts import Artifacts
from jejakekal.control.batches import Batches
from jejakekal.control.context import Context, DocStarter
from jejakekal.control.documents import DocumentRuns
from jejakekal.control.forks import Forks
from jejakekal.control.gates import Gates
from jejakekal.control.intents import Intents, StartedRun
from jejakekal.control.operations import RunOperations
from jejakekal.control.reads import RunReads
from jejakekal.domain.audit import Who
from jejakekal.domain.batch import BatchRequest
from jejakekal.domain.contracts import (
    DocRunRequest,
    EventRequest,
    IntentCreate,
    RunRequest,
    UploadedDocRun,
)
from jejakekal.domain.fleet import Fleet
from jejakekal.domain.gates import GateAnswer, Origin
from jejakekal.domain.views import (
    ArtifactDocument,
    ArtifactMeta,
    BatchResult,
    Canceled,
    ExportedRun,
    Forked,
    GateReceipt,
    GateView,
    Resumed,
    Retried,
    RunSummary,
    RunView,
    SearchHit,
    StartedDocRun,
    StoredArtifact,
)
from jejakekal.export.bundle import RunBundle
from jejakekal.storage.database import Database
from jejakekal.storage.fleet import read_fleet


class Control:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: DBOSClient,
        start_doc: DocStarter | None = None,
        isolation: Callable[[], str] | None = None,
    ) -> None:
        self.ctx = Context(settings, db, client)
        if isolation is not None:
            self.ctx.isolation = isolation
        self.intents = Intents(self.ctx)
        self.documents = DocumentRuns(self.ctx, start_doc)
        self.reads = RunReads(self.ctx)
        self.operations = RunOperations(self.ctx, self.reads)
        self.gates = Gates(self.ctx, self.reads)
        self.forks = Forks(self.ctx, self.reads)
        self.batches = Batches(db, self.operations)
        self.artifacts = Artifacts(self.ctx)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def client(self) -> DBOSClient:
        return self.ctx.client

    # -- intents and document runs ------------------------------------------------------
    def create_intent(self, body: IntentCreate) -> str:
        return self.intents.create(body)

    def start_intent_run(self, intent_id: str, body: RunRequest) -> StartedRun:
        return self.intents.start_run(intent_id, body)

    def start_doc_run(self, body: DocRunRequest) -> StartedDocRun:
        return self.documents.start(body)

    def start_doc_upload(self, upload: UploadedDocRun, workflow_id: str | None) -> StartedDocRun:
        return self.documents.start_upload(upload, workflow_id)

    def refuse_conflicting_upload(self, upload: UploadedDocRun, workflow_id: str | None) -> None:
        self.documents.refuse_conflicting_upload(upload, workflow_id)

    def adopt_orphan_doc_runs(self) -> list[str]:
        return self.documents.adopt_orphans()

    def export_run(self, run_id: str, who: Who | None = None) -> ExportedRun:
        return self.documents.export(run_id, who)

    def run_bundle(self, run_id: str, who: Who | None = None) -> RunBundle:
        return self.documents.bundle_files(run_id, who)

    # -- reading runs -------------------------------------------------------------------
    def run_view(self, run_id: str) -> RunView:
        return self.reads.view(run_id)

    def live_workers(self) -> list[str]:
        return self.reads.live_workers()

    def fleet(self) -> Fleet:
        return read_fleet(self.ctx.db)

    def list_runs(
        self, *, status: str | None, kind: str | None, limit: int, offset: int
    ) -> list[RunSummary]:
        return self.reads.page(status=status, kind=kind, limit=limit, offset=offset)

    async def wait_run(self, run_id: str, wait_sec: float) -> RunView:
        return await self.reads.wait(run_id, wait_sec)

    def wait_run_view(self, run_id: str, wait_sec: float) -> RunView:
        return self.reads.wait_view(run_id, wait_sec)

    # -- operator actions ---------------------------------------------------------------
    def send_event(
        self,
        run_id: str,
        event: EventRequest,
        *,
        actor: str,
        origin: Origin = Origin.API,
        request_id: str | None = None,
    ) -> None:
        self.gates.answer_event(run_id, event, actor=actor, origin=origin, request_id=request_id)

    def answer_gate(
        self,
        run_id: str,
        key: str,
        body: GateAnswer,
        *,
        actor: str,
        origin: Origin,
        request_id: str | None = None,
    ) -> GateReceipt:
        return self.gates.answer(
            run_id, key, body, actor=actor, origin=origin, request_id=request_id
        )

    def gate_inbox(self, *, status: str, limit: int, offset: int) -> list[GateView]:
        return self.gates.inbox(status=status, limit=limit, offset=offset)

    def retry_run(self, run_id: str, who: Who) -> Retried:
        return self.operations.retry(run_id, who)

    def resume_run(self, run_id: str, who: Who) -> Resumed:
        return self.operations.resume(run_id, who)

    def cancel_run(self, run_id: str, who: Who) -> Canceled:
        return self.operations.cancel(run_id, who)

    def fork_run(self, run_id: str, from_step: str, who: Who) -> Forked:
        return self.forks.fork(run_id, from_step, who)

    def batch(self, request: BatchRequest, who: Who) -> BatchResult:
        return self.batches.run(request, who)

    # -- artifacts and search -----------------------------------------------------------
    def list_artifacts(
        self,
        *,
        artifact_type: str | None,
        visibility: str | None,
        run_id: str | None,
        limit: int,
        offset: int,
    ) -> list[ArtifactMeta]:
        return self.artifacts.find(
            artifact_type=artifact_type,
            visibility=visibility,
            run_id=run_id,
            limit=limit,
            offset=offset,
        )

    def artifact(self, artifact_id: str) -> StoredArtifact:
        return self.artifacts.get(artifact_id)

    def artifact_document(self, artifact_id: str) -> ArtifactDocument:
        return self.artifacts.document(artifact_id)

    def page_image(self, run_id: str, page: int) -> bytes:
        return self.artifacts.page_image(run_id, page)

    def search(self, query: str, *, run_id: str | None, limit: int) -> list[SearchHit]:
        return self.artifacts.search(query, run_id=run_id, limit=limit)

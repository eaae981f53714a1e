"""What the UI needs from the kernel, behind one interface with two implementations.

`InProcessClient` calls the control module in this process (`serve`); `HttpClient`
talks to a `jejakekal api` elsewhere (`ui --api-url`). Both take the API's request
models, return the same typed values (`domain/views.py`) and raise the kernel's typed
errors, so the routes cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jejakekal.adapters.ocr import engine_name
from jejakekal.control import Control
from jejakekal.control.intents import StartedRun
from jejakekal.domain import errors
from jejakekal.domain.audit import Who, parse_reason
from jejakekal.domain.batch import BatchRequest
from jejakekal.domain.contracts import (
    DocRunRequest,
    EventRequest,
    IntentCreate,
    RunRequest,
    parse_request,
)
from jejakekal.domain.fleet import Fleet
from jejakekal.domain.gates import GateAnswer, Origin
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.views import (
    ArtifactDocument,
    ArtifactMeta,
    BatchResult,
    Canceled,
    Forked,
    GateReceipt,
    GateView,
    OcrPosture,
    Resumed,
    Retried,
    RunSummary,
    RunView,
    SandboxPosture,
    SearchHit,
    StartedDocRun,
)
from jejakekal.export.archive import ZIP_TYPE, zip_bundle, zip_name
from jejakekal.web.upload_store import PIECE_BYTES, FileUpload, store_upload
from jejakekal.web.views import download_name


@dataclass(frozen=True)
class UpstreamHealth:
    """What the UI's /healthz tells of the kernel behind it."""

    ok: bool
    app_version: str | None
    workers_alive: int | None
    sandbox: SandboxPosture | None = None  # None from an API too old to say
    ocr: OcrPosture | None = None


@dataclass(frozen=True)
class Download:
    """An artifact's stored bytes, as a browser saves them."""

    content: bytes
    content_type: str
    filename: str


class UiClient(Protocol):
    async def start_doc_run(self, body: DocRunRequest) -> StartedDocRun: ...
    async def start_doc_upload(self, upload: FileUpload) -> StartedDocRun: ...
    async def search(
        self, q: str, *, run_id: str | None = None, limit: int = 20
    ) -> list[SearchHit]: ...
    async def page_image(self, run_id: str, page: int) -> bytes: ...
    async def create_intent(self, body: IntentCreate) -> str: ...
    async def start_intent_run(self, intent_id: str, body: RunRequest) -> StartedRun: ...
    async def run_view(self, run_id: str) -> RunView: ...
    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]: ...
    async def send_event(self, run_id: str, event: EventRequest, *, actor: str) -> None: ...
    async def answer_gate(
        self, run_id: str, key: str, body: GateAnswer, *, actor: str
    ) -> GateReceipt: ...
    async def gate_inbox(self, *, limit: int = 100) -> list[GateView]: ...
    async def fleet(self) -> Fleet: ...
    async def batch_runs(self, body: JsonObject, *, actor: str) -> BatchResult: ...
    async def retry_run(self, run_id: str, *, actor: str, reason: str | None) -> Retried: ...
    async def resume_run(self, run_id: str, *, actor: str, reason: str | None) -> Resumed: ...
    async def cancel_run(self, run_id: str, *, actor: str, reason: str | None) -> Canceled: ...
    async def fork_run(
        self, run_id: str, from_step: str, *, actor: str, reason: str | None
    ) -> Forked: ...
    async def list_artifacts(self, *, run_id: str | None = None) -> list[ArtifactMeta]: ...
    async def artifact(self, artifact_id: str) -> ArtifactDocument: ...
    async def download(self, artifact_id: str) -> Download: ...
    async def bundle_zip(self, run_id: str, *, actor: str) -> Download: ...
    async def health(self) -> UpstreamHealth: ...
    async def sandbox(self) -> SandboxPosture | None: ...
    async def ocr(self) -> OcrPosture | None: ...
    async def aclose(self) -> None: ...


class InProcessClient:
    """The control module of this process; every call leaves the event loop (DBOS and
    the database drivers block)."""

    def __init__(self, control: Control) -> None:
        self.control = control

    async def start_doc_run(self, body: DocRunRequest) -> StartedDocRun:
        return await run_in_threadpool(self.control.start_doc_run, body)

    async def start_doc_upload(self, upload: FileUpload) -> StartedDocRun:
        settings = self.control.settings

        def store_and_start() -> StartedDocRun:
            stored = store_upload(settings.blobs_dir, settings.max_upload_bytes, upload)
            return self.control.start_doc_upload(stored, None)

        return await run_in_threadpool(store_and_start)

    async def search(
        self, q: str, *, run_id: str | None = None, limit: int = 20
    ) -> list[SearchHit]:
        return await run_in_threadpool(lambda: self.control.search(q, run_id=run_id, limit=limit))

    async def page_image(self, run_id: str, page: int) -> bytes:
        return await run_in_threadpool(self.control.page_image, run_id, page)

    async def create_intent(self, body: IntentCreate) -> str:
        return await run_in_threadpool(self.control.create_intent, body)

    async def start_intent_run(self, intent_id: str, body: RunRequest) -> StartedRun:
        return await run_in_threadpool(self.control.start_intent_run, intent_id, body)

    async def run_view(self, run_id: str) -> RunView:
        return await run_in_threadpool(self.control.run_view, run_id)

    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]:
        return await run_in_threadpool(
            lambda: self.control.list_runs(status=None, kind=None, limit=limit, offset=0)
        )

    async def send_event(self, run_id: str, event: EventRequest, *, actor: str) -> None:
        await run_in_threadpool(
            lambda: self.control.send_event(run_id, event, actor=actor, origin=Origin.UI)
        )

    async def answer_gate(
        self, run_id: str, key: str, body: GateAnswer, *, actor: str
    ) -> GateReceipt:
        return await run_in_threadpool(
            lambda: self.control.answer_gate(run_id, key, body, actor=actor, origin=Origin.UI)
        )

    async def gate_inbox(self, *, limit: int = 100) -> list[GateView]:
        return await run_in_threadpool(
            lambda: self.control.gate_inbox(status="open", limit=limit, offset=0)
        )

    async def fleet(self) -> Fleet:
        return await run_in_threadpool(self.control.fleet)

    async def batch_runs(self, body: JsonObject, *, actor: str) -> BatchResult:
        request = parse_request(BatchRequest, body, errors.InvalidBatch)
        who = Who(actor, Origin.UI, parse_reason(request.reason))
        return await run_in_threadpool(self.control.batch, request, who)

    async def retry_run(self, run_id: str, *, actor: str, reason: str | None) -> Retried:
        who = Who(actor, Origin.UI, reason)
        return await run_in_threadpool(self.control.retry_run, run_id, who)

    async def resume_run(self, run_id: str, *, actor: str, reason: str | None) -> Resumed:
        who = Who(actor, Origin.UI, reason)
        return await run_in_threadpool(self.control.resume_run, run_id, who)

    async def cancel_run(self, run_id: str, *, actor: str, reason: str | None) -> Canceled:
        who = Who(actor, Origin.UI, reason)
        return await run_in_threadpool(self.control.cancel_run, run_id, who)

    async def fork_run(
        self, run_id: str, from_step: str, *, actor: str, reason: str | None
    ) -> Forked:
        who = Who(actor, Origin.UI, reason)
        return await run_in_threadpool(self.control.fork_run, run_id, from_step, who)

    async def list_artifacts(self, *, run_id: str | None = None) -> list[ArtifactMeta]:
        return await run_in_threadpool(
            lambda: self.control.list_artifacts(
                artifact_type=None, visibility=None, run_id=run_id, limit=100, offset=0
            )
        )

    async def artifact(self, artifact_id: str) -> ArtifactDocument:
        return await run_in_threadpool(self.control.artifact_document, artifact_id)

    async def download(self, artifact_id: str) -> Download:
        stored = await run_in_threadpool(self.control.artifact, artifact_id)
        meta = stored.meta
        return Download(
            stored.content, meta.content_type, download_name(meta.id, meta.content_type)
        )

    async def bundle_zip(self, run_id: str, *, actor: str) -> Download:
        who = Who(actor, Origin.UI)
        built = await run_in_threadpool(self.control.run_bundle, run_id, who)
        data = await run_in_threadpool(zip_bundle, built.files)
        return Download(data, ZIP_TYPE, zip_name(built.run_id))

    async def health(self) -> UpstreamHealth:
        live = await run_in_threadpool(self.control.live_workers)
        version = self.control.settings.app_version
        return UpstreamHealth(
            ok=True,
            app_version=version,
            workers_alive=len(live),
            sandbox=await self.sandbox(),
            ocr=await self.ocr(),
        )

    async def sandbox(self) -> SandboxPosture:
        # The first call may probe the sandbox (a process that runs no workflows).
        isolation = await run_in_threadpool(self.control.ctx.isolation)
        allow = self.control.settings.allow_unisolated
        return SandboxPosture.of(isolation, allow_unisolated=allow)

    async def ocr(self) -> OcrPosture:
        # Cached for the process after the first call (it runs `tesseract --version`).
        engine = await run_in_threadpool(engine_name)
        return OcrPosture(mode=self.control.settings.ocr, engine=engine)

    async def aclose(self) -> None:
        return None  # the kernel belongs to whoever built it


# Every typed error the API answers, by code, so a remote failure is raised as ours.
_ERRORS: dict[str, type[errors.JejakekalError]] = {cls.code: cls for cls in errors.ERROR_CODES}


class ApiUnavailable(errors.JejakekalError):
    status = 502
    code = "api_unavailable"
    default_message = "the API did not answer"


class HttpClient:
    """The JSON API over HTTP, with the bearer token when one is configured."""

    def __init__(self, api_url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.api_url = api_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=timeout)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            reply = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{self.api_url}: {type(exc).__name__}") from exc
        if reply.status_code >= 400:
            raise _as_typed_error(reply)
        return reply

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    async def start_doc_run(self, body: DocRunRequest) -> StartedDocRun:
        return StartedDocRun.from_json(await self._call("POST", "/runs", json=_sent(body)))

    async def start_doc_upload(self, upload: FileUpload) -> StartedDocRun:
        # The file's bytes as the raw body, read from the spooled file piece by piece.
        params = {"filename": upload.filename, "sleepMs": upload.sleep_ms}
        headers = {"content-type": upload.content_type or "application/octet-stream"}
        started = await self._call(
            "POST", "/runs", content=_pieces(upload), params=params, headers=headers
        )
        return StartedDocRun.from_json(started)

    async def search(
        self, q: str, *, run_id: str | None = None, limit: int = 20
    ) -> list[SearchHit]:
        params: dict[str, str | int] = {"q": q, "limit": limit}
        if run_id is not None:
            params["run_id"] = run_id
        return [
            SearchHit.from_json(hit) for hit in await self._call("GET", "/search", params=params)
        ]

    async def page_image(self, run_id: str, page: int) -> bytes:
        return (await self._request("GET", f"/runs/{_seg(run_id)}/pages/{page}.png")).content

    async def create_intent(self, body: IntentCreate) -> str:
        created = await self._call("POST", "/intents", json=_sent(body))
        return str(created["intentId"])

    async def start_intent_run(self, intent_id: str, body: RunRequest) -> StartedRun:
        path = f"/intents/{_seg(intent_id)}/run"
        started = await self._call("POST", path, json=_sent(body))
        return StartedRun(run_id=started["runId"], workflow_id=started["workflowId"])

    async def run_view(self, run_id: str) -> RunView:
        return RunView.from_json(await self._call("GET", f"/runs/{_seg(run_id)}"))

    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]:
        page = await self._call("GET", "/runs", params={"limit": limit})
        return [RunSummary.from_json(item) for item in page["items"]]

    async def send_event(self, run_id: str, event: EventRequest, *, actor: str) -> None:
        path = f"/runs/{_seg(run_id)}/events"
        await self._call("POST", path, json=_sent(event), headers=_as_ui(actor))

    async def answer_gate(
        self, run_id: str, key: str, body: GateAnswer, *, actor: str
    ) -> GateReceipt:
        path = f"/runs/{_seg(run_id)}/gates/{_seg(key)}"
        sent = body.model_dump(mode="json", exclude_none=True)
        return GateReceipt.from_json(
            await self._call("POST", path, json=sent, headers=_as_ui(actor))
        )

    async def gate_inbox(self, *, limit: int = 100) -> list[GateView]:
        page = await self._call("GET", "/gates", params={"status": "open", "limit": limit})
        return [GateView.from_json(item) for item in page["items"]]

    async def fleet(self) -> Fleet:
        return Fleet.from_json(await self._call("GET", "/ops"))

    async def batch_runs(self, body: JsonObject, *, actor: str) -> BatchResult:
        done = await self._call("POST", "/runs/batch", json=body, headers=_as_ui(actor))
        return BatchResult.from_json(done)

    async def retry_run(self, run_id: str, *, actor: str, reason: str | None) -> Retried:
        return Retried.from_json(await self._act(run_id, "retry", actor, {"reason": reason}))

    async def resume_run(self, run_id: str, *, actor: str, reason: str | None) -> Resumed:
        return Resumed.from_json(await self._act(run_id, "resume", actor, {"reason": reason}))

    async def cancel_run(self, run_id: str, *, actor: str, reason: str | None) -> Canceled:
        return Canceled.from_json(await self._act(run_id, "cancel", actor, {"reason": reason}))

    async def fork_run(
        self, run_id: str, from_step: str, *, actor: str, reason: str | None
    ) -> Forked:
        body = {"fromStep": from_step, "reason": reason}
        return Forked.from_json(await self._act(run_id, "fork", actor, body))

    async def _act(self, run_id: str, action: str, actor: str, body: Mapping[str, object]) -> Any:
        sent = {k: v for k, v in body.items() if v is not None}
        path = f"/runs/{_seg(run_id)}/{action}"
        return await self._call("POST", path, json=sent, headers=_as_ui(actor))

    async def list_artifacts(self, *, run_id: str | None = None) -> list[ArtifactMeta]:
        params = {"run_id": run_id} if run_id else {}
        rows = await self._call("GET", "/artifacts", params=params)
        return [ArtifactMeta.from_json(row) for row in rows]

    async def artifact(self, artifact_id: str) -> ArtifactDocument:
        document = await self._call("GET", f"/artifacts/{_seg(artifact_id)}")
        return ArtifactDocument.from_json(document)

    async def download(self, artifact_id: str) -> Download:
        reply = await self._request("GET", f"/artifacts/{_seg(artifact_id)}/download")
        content_type = reply.headers.get("content-type", "application/octet-stream")
        return Download(reply.content, content_type, download_name(artifact_id, content_type))

    async def bundle_zip(self, run_id: str, *, actor: str) -> Download:
        path = f"/runs/{_seg(run_id)}/bundle.zip"
        reply = await self._request("GET", path, headers=_as_ui(actor))
        return Download(reply.content, ZIP_TYPE, zip_name(run_id))

    async def health(self) -> UpstreamHealth:
        health = await self._call("GET", "/healthz")
        return UpstreamHealth(
            ok=bool(health.get("ok")),
            app_version=health.get("app_version"),
            workers_alive=health.get("workers_alive"),
            sandbox=_posture(health.get("sandbox")),
            ocr=_ocr(health.get("ocr")),
        )

    async def sandbox(self) -> SandboxPosture | None:
        return (await self.health()).sandbox

    async def ocr(self) -> OcrPosture | None:
        return (await self.health()).ocr

    async def aclose(self) -> None:
        await self.http.aclose()


def _sent(body: BaseModel) -> JsonObject:
    # The fields as the route set them, so the API reads the body the form gave.
    return body.model_dump(mode="json", exclude_unset=True)


def _posture(shown: object) -> SandboxPosture | None:
    """The API's `sandbox` in /healthz; None when it is missing or not understood."""
    if not isinstance(shown, dict):
        return None
    try:
        return SandboxPosture.from_json(shown)
    except ValueError:
        return None


def _ocr(shown: object) -> OcrPosture | None:
    """The API's `ocr` in /healthz; None from an API too old to say."""
    if not isinstance(shown, dict):
        return None
    try:
        return OcrPosture.from_json(shown)
    except ValueError:
        return None


async def _pieces(upload: FileUpload) -> AsyncIterator[bytes]:
    while piece := await run_in_threadpool(upload.file.read, PIECE_BYTES):
        yield piece


def _seg(value: str) -> str:
    # Ids are checked by the routes before they get here; quoting keeps a path a path.
    return quote(value, safe="")


def _as_typed_error(reply: httpx.Response) -> errors.JejakekalError:
    try:
        body = reply.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or body.get("error") or "")
    message = str(body.get("message") or f"API answered HTTP {reply.status_code}")
    fields = {k: v for k, v in body.items() if k not in ("error", "code", "message")}
    cls = _ERRORS.get(code)
    if cls is None:
        return errors.HttpStatusError(reply.status_code, code or "api_error", message, **fields)
    return cls(message, **fields)


def _as_ui(actor: str) -> dict[str, str]:
    """An answer sent from the UI says so, and who sent it."""
    return {"x-actor": actor, "x-origin": Origin.UI.value}

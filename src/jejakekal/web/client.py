"""What the UI needs from the kernel, behind one interface with two implementations.

`InProcessClient` calls the control module in this process (`serve`); `HttpClient`
talks to a `jejakekal api` elsewhere (`ui --api-url`). Both return the same values (run
views as `RunView`, the rest as the JSON API's shapes) and raise the kernel's typed
errors, so the routes cannot tell them apart.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import httpx
from starlette.concurrency import run_in_threadpool

from jejakekal.control import Control
from jejakekal.domain import errors
from jejakekal.domain.contracts import (
    DocRunRequest,
    EventRequest,
    IntentCreate,
    RunRequest,
    parse_request,
)
from jejakekal.domain.views import ArtifactMeta, RunSummary, RunView

Json = dict[str, Any]


class UiClient(Protocol):
    async def start_doc_run(self, body: Json) -> Json: ...
    async def create_intent(self, body: Json) -> Json: ...
    async def start_intent_run(self, intent_id: str, body: Json) -> Json: ...
    async def run_view(self, run_id: str) -> RunView: ...
    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]: ...
    async def send_event(self, run_id: str, body: Json) -> Json: ...
    async def retry_run(self, run_id: str) -> Json: ...
    async def resume_run(self, run_id: str) -> Json: ...
    async def cancel_run(self, run_id: str) -> Json: ...
    async def list_artifacts(self, *, run_id: str | None = None) -> list[ArtifactMeta]: ...
    async def artifact(self, artifact_id: str) -> Json: ...
    async def health(self) -> Json: ...
    async def aclose(self) -> None: ...


class InProcessClient:
    """The control module of this process; every call leaves the event loop (DBOS and
    the database drivers block)."""

    def __init__(self, control: Control) -> None:
        self.control = control

    async def start_doc_run(self, body: Json) -> Json:
        request = parse_request(DocRunRequest, body, errors.InvalidRunRequest)
        return await run_in_threadpool(self.control.start_doc_run, request)

    async def create_intent(self, body: Json) -> Json:
        request = parse_request(IntentCreate, body, errors.InvalidIntent)
        return {"intentId": await run_in_threadpool(self.control.create_intent, request)}

    async def start_intent_run(self, intent_id: str, body: Json) -> Json:
        request = parse_request(RunRequest, body, errors.InvalidRunRequest)
        started = await run_in_threadpool(self.control.start_intent_run, intent_id, request)
        return {"runId": started.run_id, "workflowId": started.workflow_id}

    async def run_view(self, run_id: str) -> RunView:
        return await run_in_threadpool(self.control.run_view, run_id)

    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]:
        return await run_in_threadpool(
            lambda: self.control.list_runs(status=None, kind=None, limit=limit, offset=0)
        )

    async def send_event(self, run_id: str, body: Json) -> Json:
        event = parse_request(EventRequest, body, errors.InvalidEvent)
        await run_in_threadpool(self.control.send_event, run_id, event)
        return {"accepted": True}

    async def retry_run(self, run_id: str) -> Json:
        return await run_in_threadpool(self.control.retry_run, run_id)

    async def resume_run(self, run_id: str) -> Json:
        return await run_in_threadpool(self.control.resume_run, run_id)

    async def cancel_run(self, run_id: str) -> Json:
        return await run_in_threadpool(self.control.cancel_run, run_id)

    async def list_artifacts(self, *, run_id: str | None = None) -> list[ArtifactMeta]:
        return await run_in_threadpool(
            lambda: self.control.list_artifacts(
                artifact_type=None, visibility=None, run_id=run_id, limit=100, offset=0
            )
        )

    async def artifact(self, artifact_id: str) -> Json:
        return await run_in_threadpool(self.control.artifact_document, artifact_id)

    async def health(self) -> Json:
        live = await run_in_threadpool(self.control.live_workers)
        version = self.control.settings.app_version
        return {"ok": True, "app_version": version, "workers_alive": len(live)}

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

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{self.api_url}: {type(exc).__name__}") from exc
        if reply.status_code >= 400:
            raise _as_typed_error(reply)
        return reply.json()

    async def start_doc_run(self, body: Json) -> Json:
        result: Json = await self._call("POST", "/runs", json=body)
        return result

    async def create_intent(self, body: Json) -> Json:
        result: Json = await self._call("POST", "/intents", json=body)
        return result

    async def start_intent_run(self, intent_id: str, body: Json) -> Json:
        result: Json = await self._call("POST", f"/intents/{_seg(intent_id)}/run", json=body)
        return result

    async def run_view(self, run_id: str) -> RunView:
        return RunView.from_json(await self._call("GET", f"/runs/{_seg(run_id)}"))

    async def list_runs(self, *, limit: int = 50) -> list[RunSummary]:
        page = await self._call("GET", "/runs", params={"limit": limit})
        return [RunSummary.from_json(item) for item in page["items"]]

    async def send_event(self, run_id: str, body: Json) -> Json:
        result: Json = await self._call("POST", f"/runs/{_seg(run_id)}/events", json=body)
        return result

    async def retry_run(self, run_id: str) -> Json:
        result: Json = await self._call("POST", f"/runs/{_seg(run_id)}/retry")
        return result

    async def resume_run(self, run_id: str) -> Json:
        result: Json = await self._call("POST", f"/runs/{_seg(run_id)}/resume")
        return result

    async def cancel_run(self, run_id: str) -> Json:
        result: Json = await self._call("POST", f"/runs/{_seg(run_id)}/cancel")
        return result

    async def list_artifacts(self, *, run_id: str | None = None) -> list[ArtifactMeta]:
        params = {"run_id": run_id} if run_id else {}
        rows = await self._call("GET", "/artifacts", params=params)
        return [ArtifactMeta.from_json(row) for row in rows]

    async def artifact(self, artifact_id: str) -> Json:
        result: Json = await self._call("GET", f"/artifacts/{_seg(artifact_id)}")
        return result

    async def health(self) -> Json:
        result: Json = await self._call("GET", "/healthz")
        return result

    async def aclose(self) -> None:
        await self.http.aclose()


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

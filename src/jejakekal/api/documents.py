"""The README's HTTP API for document runs, artifacts, search and export."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from jejakekal.api import uploads
from jejakekal.api.parsing import (
    REQUEST_GUARDS,
    is_json_type,
    json_only,
    openapi_upload_body,
    read_json,
    storable_query,
)
from jejakekal.api.routes import control_of, exporter
from jejakekal.domain import errors
from jejakekal.domain.contracts import DocRunRequest, parse_request
from jejakekal.domain.ids import is_valid_id, parse_artifact_id, parse_run_id
from jejakekal.domain.names import ALL_ARTIFACT_TYPES
from jejakekal.storage.blobs import BlobStore

router = APIRouter(dependencies=REQUEST_GUARDS)
# `POST /runs` also takes files, so it checks the body's type itself.
upload_router = APIRouter(dependencies=[Depends(storable_query)])


@upload_router.post(
    "/runs", status_code=202, openapi_extra=openapi_upload_body(DocRunRequest), tags=["runs"]
)
async def start_doc_run(request: Request) -> dict[str, object]:
    """[API-6] Start a document run; returns after durable start, before it finishes.

    The document comes as JSON (`source` or `cmd`), as a multipart form (a `file` part
    beside `sleepMs`, `workflowId`, `format`), or as the raw bytes under their own
    Content-Type with `?filename=` (and the same fields as query parameters).
    """
    control = control_of(request)
    declared = request.headers.get("content-type")
    if declared is None or is_json_type(declared):
        await json_only(request)
        body = parse_request(DocRunRequest, await read_json(request), errors.InvalidRunRequest)
        started = await run_in_threadpool(control.start_doc_run, body)
        return started.to_json()
    settings = control.settings
    received = await uploads.receive(
        request, BlobStore(settings.blobs_dir), settings.max_upload_bytes
    )
    try:
        upload, workflow_id = uploads.check(received, dict(request.query_params))
        await run_in_threadpool(control.refuse_conflicting_upload, upload, workflow_id)
        await run_in_threadpool(received.writer.commit)
    finally:
        received.writer.discard()
    started = await run_in_threadpool(control.start_doc_upload, upload, workflow_id)
    return started.to_json()


@router.get("/runs/{run_id}/export", tags=["runs"])
async def export_run(run_id: str, request: Request) -> JSONResponse:
    """[API-8] Write the run's bundle and describe it; `?reason=` for the audit."""
    run_id, who = parse_run_id(run_id), exporter(request)
    described = await run_in_threadpool(control_of(request).export_run, run_id, who)
    return JSONResponse(described.to_json())


@router.get("/artifacts", tags=["artifacts"])
async def list_artifacts(
    request: Request,
    type: str | None = Query(None, description=f"one of {', '.join(ALL_ARTIFACT_TYPES)}"),
    visibility: str | None = Query(None, max_length=32),
    run_id: str | None = Query(None, max_length=128),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> JSONResponse:
    """[API-9] Artifacts, newest first (a run's in production order when `run_id` is given)."""
    if type is not None and type not in ALL_ARTIFACT_TYPES:
        raise errors.InvalidQuery(
            f"type must be one of {', '.join(ALL_ARTIFACT_TYPES)}", field="type"
        )
    if run_id is not None:
        run_id = parse_run_id(run_id)
    rows = await run_in_threadpool(
        lambda: control_of(request).list_artifacts(
            artifact_type=type, visibility=visibility, run_id=run_id, limit=limit, offset=offset
        )
    )
    return JSONResponse([row.to_json() for row in rows])


@router.get("/artifacts/{artifact_id}", tags=["artifacts"])
async def get_artifact(artifact_id: str, request: Request) -> JSONResponse:
    """The artifact's metadata, its content (parsed JSON, or text) and its provenance."""
    document = await run_in_threadpool(
        control_of(request).artifact_document, parse_artifact_id(artifact_id)
    )
    return JSONResponse(document.to_json())


@router.get("/artifacts/{artifact_id}/download", tags=["artifacts"])
async def download_artifact(artifact_id: str, request: Request) -> Response:
    """The exact stored bytes, as an attachment that browsers will not sniff."""
    stored = await run_in_threadpool(control_of(request).artifact, parse_artifact_id(artifact_id))
    meta = stored.meta
    extension = "json" if meta.content_type.startswith("application/json") else "txt"
    filename = f"{meta.id.replace(':', '_')}.{extension}"
    return Response(
        content=stored.content,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/runs/{run_id}/pages/{page}.png", tags=["runs"])
async def page_image(run_id: str, page: str, request: Request) -> Response:
    """A page of the run's uploaded PDF as a PNG image (rendered once, then cached)."""
    run_id = parse_run_id(run_id)
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        raise errors.InvalidQuery("page must be a page number from 1", field="page")
    png = await run_in_threadpool(control_of(request).page_image, run_id, int(page))
    return Response(
        content=png,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/search", tags=["search"])
async def search(
    request: Request,
    q: str = Query(..., min_length=1, max_length=512),
    run_id: str | None = Query(None, max_length=128),
    limit: int = Query(20, ge=1, le=200),
) -> JSONResponse:
    """[API-10] Full-text search over chunks: best matches first."""
    if run_id is not None and not is_valid_id(run_id):
        raise errors.InvalidRunId()
    hits = await run_in_threadpool(
        lambda: control_of(request).search(q, run_id=run_id, limit=limit)
    )
    return JSONResponse([hit.to_json() for hit in hits])

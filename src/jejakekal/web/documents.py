"""The UI's document routes: a file uploaded from the conversation plane starts a
document run, a search lists the chunks that match, and a PDF's page images come
through the UI with the same sign-in as its pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from jejakekal.domain import errors
from jejakekal.domain.formats import format_of_type
from jejakekal.domain.ids import parse_run_id
from jejakekal.domain.views import SearchHit
from jejakekal.web import csrf
from jejakekal.web.pages import run_context, run_list
from jejakekal.web.routes import (
    UI_USER,
    CsrfRejected,
    client_of,
    full_page,
    render,
    wants_fragment,
)
from jejakekal.web.upload_store import FileUpload
from jejakekal.web.views import chunk_anchor, parse_sleep_ms

router = APIRouter()
SEARCH_LIMIT = 20
MAX_QUERY_CHARS = 512  # as the API's GET /search
# What a multipart body adds around the file: part headers, boundaries, the small fields.
FORM_OVERHEAD_BYTES = 64 * 1024
_MARKED = re.compile(r"(«[^«»]*»)")


@router.post("/uploads", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    """A file from the picker or the drop zone starts a document run, shown as a
    `/doc` command's run is."""
    cap = request.app.state.settings.max_upload_bytes
    _refuse_declared_size(request, cap)
    # htmx sends the token as a header: a forged post is refused before its body is read.
    header_checked = request.state.auth == "bearer" or csrf.HEADER in request.headers
    if header_checked and not _csrf_ok(request, {}):
        raise CsrfRejected()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise errors.InvalidRunRequest("send the file as a multipart form", field="file")
    capped = Request(request.scope, receive=_capped(request.receive, cap + FORM_OVERHEAD_BYTES))
    try:
        run_id, sleep_ms = await _start_from_form(request, capped, cap, header_checked)
    except ClientDisconnect:
        raise errors.ClientDisconnected() from None
    url = f"/runs/{run_id}" + (f"?sleepMs={sleep_ms}" if sleep_ms else "")
    if not wants_fragment(request):
        return RedirectResponse(url, status_code=303)
    client = client_of(request)
    context = await run_context(client, run_id, step=None, polling=False)
    context.update(refresh_runs=True, runs=await run_list(client), clear_viewer=True)
    response = render(request, "_exec_update.html", {**context, "clear_notice": True})
    response.headers["HX-Push-Url"] = url
    return response


async def _start_from_form(
    request: Request, capped: Request, cap: int, header_checked: bool
) -> tuple[str, int]:
    """The form's file as a document run (its id, and the pause it asked for); the
    spooled file is removed as the form closes."""
    async with capped.form(max_files=1, max_fields=8) as form:
        token = form.get(csrf.FIELD)
        if not header_checked and not _csrf_ok(request, {csrf.FIELD: str(token or "")}):
            raise CsrfRejected()
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            raise errors.InvalidRunRequest("choose a file first", field="file")
        _check_file(file, cap)
        sleep_ms = parse_sleep_ms(str(form.get("sleepMs") or "0"))
        sent = FileUpload(file.file, file.content_type or "", file.filename, sleep_ms)
        return (await client_of(request).start_doc_upload(sent)).run_id, sleep_ms


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    # A script's bearer token is proof enough: no browser adds that header on its own.
    return request.state.auth == "bearer" or csrf.is_allowed(request, form)


def _refuse_declared_size(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap + FORM_OVERHEAD_BYTES:
        raise _too_large(cap)


def _check_file(file: UploadFile, cap: int) -> None:
    """What can be refused before the file goes anywhere: its size and a type that is
    no document (the in-process client and the API check its bytes afterwards)."""
    if file.size is not None and file.size > cap:
        raise _too_large(cap)
    if file.size == 0:
        raise errors.InvalidRunRequest("the document is empty", field="file")
    format_of_type(file.content_type)


def _too_large(cap: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"the document is larger than {cap // (1024 * 1024)} MiB (JEJAKEKAL_MAX_UPLOAD_MB)",
        limit_bytes=cap,
    )


def _capped(receive: Receive, limit: int) -> Receive:
    """The request's body, refused with a 413 once more than `limit` bytes came (a
    chunked body declares no length, and the form parser would spool it all)."""
    seen = 0

    async def capped_receive() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(limit - FORM_OVERHEAD_BYTES)
        return message

    return capped_receive


@dataclass(frozen=True)
class SearchRow:
    """A search hit as the results list shows it: the snippet in pieces, the matched
    words (`«word»` in the API's snippet) flagged to be marked."""

    hit: SearchHit
    pieces: list[tuple[str, bool]]
    url: str  # the run's chunk list, scrolled to the chunk


def search_row(hit: SearchHit) -> SearchRow:
    pieces = [
        (piece.strip("«»"), piece.startswith("«")) for piece in _MARKED.split(hit.snippet) if piece
    ]
    chunk = quote(hit.chunk_id, safe="")
    url = f"/artifacts/{hit.run_id}:chunk-index?chunk={chunk}#{chunk_anchor(hit.chunk_id)}"
    return SearchRow(hit=hit, pieces=pieces, url=url)


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request) -> HTMLResponse:
    """Chunks that match the words, best first, each linking to its run's chunk list
    with the chunk in view."""
    q = request.query_params.get("q", "").strip()[:MAX_QUERY_CHARS]
    hits = await client_of(request).search(q, limit=SEARCH_LIMIT) if q else []
    context = {"search_q": q, "hits": [search_row(h) for h in hits], "searched": bool(q)}
    if wants_fragment(request):
        return render(request, "_search_results.html", context)
    return await full_page(request, context, title=f"Search {q}" if q else "Search")


@router.get("/runs/{run_id}/bundle.zip")
async def bundle_zip(request: Request, run_id: str) -> Response:
    """The run's bundle as the API zips it, saved as a file, never rendered."""
    # A download is an export: the audit names the UI's user (web/routes.py, ui_actor).
    download = await client_of(request).bundle_zip(parse_run_id(run_id), actor=UI_USER)
    return Response(
        content=download.content,
        media_type=download.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/runs/{run_id}/pages/{page}.png")
async def page_image(request: Request, run_id: str, page: str) -> Response:
    """A page of the run's PDF as the API renders it."""
    run_id = parse_run_id(run_id)
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        raise errors.InvalidQuery("page must be a page number from 1", field="page")
    png = await client_of(request).page_image(run_id, int(page))
    return Response(
        content=png,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )

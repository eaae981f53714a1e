"""The operations page: queue depths, live workers and their heartbeats, open gates,
failed runs and a "retry all failed" button, from the fleet read model (`GET /ops`
behind the UI client), refreshed every few seconds."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jejakekal.domain import errors
from jejakekal.domain.fleet import Fleet
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunStatus
from jejakekal.domain.views import BatchResult
from jejakekal.web.client import UiClient
from jejakekal.web.pages import Notice, TemplateContext, no_run
from jejakekal.web.routes import (
    UI_USER,
    checked_form,
    client_of,
    full_page,
    render,
    ui_actor,
    wants_fragment,
)

router = APIRouter()
OPS_POLL_URL = "/fragments/ops"
# A click retries at most this many failed runs; another click takes the next ones.
RETRY_LIMIT = 50
# The stored statuses a retry accepts: a run that failed, and one that used up its
# retries (what a repeatedly failing node ends as). One batch call per status.
RETRY_STATUSES = (RunStatus.FAILED.value, RunStatus.RETRIES_EXCEEDED.value)


@dataclass(frozen=True)
class RetryPreview:
    """What "retry all failed" would do now: the batch endpoint's dry run, or, when the
    API cannot do one, the read model's count and why."""

    matched: int
    limit: int
    unavailable: str | None = None


@dataclass(frozen=True)
class OpsPage:
    fleet: Fleet
    retry: RetryPreview
    poll_url: str
    result: Notice | None = None  # what the last click did


def retry_body(status: str, *, dry_run: bool, limit: int, reason: str | None = None) -> JsonObject:
    """A `POST /runs/batch` body of the button: retry the runs of one status."""
    body: JsonObject = {
        "action": "retry",
        "filter": {"status": status},
        "dryRun": dry_run,
        "limit": limit,
    }
    if reason:
        body["reason"] = reason
    return body


async def ops_context(client: UiClient, result: Notice | None = None) -> TemplateContext:
    fleet = await client.fleet()
    page = OpsPage(
        fleet=fleet,
        retry=await _preview(client, fleet),
        poll_url=OPS_POLL_URL,
        result=result,
    )
    return {**no_run(), "ops": page}


async def _preview(client: UiClient, fleet: Fleet) -> RetryPreview:
    matched = 0
    for status in RETRY_STATUSES:
        try:
            body = retry_body(status, dry_run=True, limit=RETRY_LIMIT)
            matched += (await client.batch_runs(body, actor=UI_USER)).matched
        except errors.JejakekalError as exc:
            # The button stays; its line says the count is the read model's own.
            counted = sum(fleet.runs_of(s) for s in RETRY_STATUSES)
            return RetryPreview(counted, RETRY_LIMIT, f"{exc.message} ({exc.code})")
    return RetryPreview(matched, RETRY_LIMIT)


@router.get("/ops", response_class=HTMLResponse)
async def ops_page(request: Request) -> HTMLResponse:
    context = await ops_context(client_of(request))
    if wants_fragment(request):
        return render(request, "_exec_update.html", {**context, "clear_viewer": True})
    return await full_page(request, context, title="Operations")


@router.get("/fragments/ops", response_class=HTMLResponse)
async def ops_fragment(request: Request) -> HTMLResponse:
    """What the operations page polls."""
    return render(request, "_ops.html", await ops_context(client_of(request)))


@router.post("/runs/batch", response_class=HTMLResponse)
async def retry_failed(request: Request) -> Response:
    """The "retry all failed" button: batch retries of at most RETRY_LIMIT runs in all,
    each run audited with the form's reason."""
    form = await checked_form(request)
    client = client_of(request)
    reason = form.get("reason", "").strip() or None
    results: list[BatchResult] = []
    left = RETRY_LIMIT
    for status in RETRY_STATUSES:
        if left > 0:
            body = retry_body(status, dry_run=False, limit=left, reason=reason)
            results.append(await client.batch_runs(body, actor=ui_actor(form)))
            left -= len(results[-1].done)
    if not wants_fragment(request):
        return RedirectResponse("/ops", status_code=303)
    return render(request, "_ops.html", await ops_context(client, _said(results)))


def _said(results: list[BatchResult]) -> Notice:
    done = sum(len(r.done) for r in results)
    refused = sum(len(r.refused) for r in results)
    text = f"Retried {done} of {sum(r.matched for r in results)} failed runs"
    if refused:
        text += f"; {refused} refused"
    return Notice("info", text + ".")

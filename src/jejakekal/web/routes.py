"""The UI's routes: full pages on direct loads, fragments for htmx, POSTed actions.

A request with `HX-Request` gets a fragment; a direct load, or htmx restoring history
(`HX-History-Restore-Request`), gets the full page, so every URL the UI pushes can be
reloaded, bookmarked or opened in a new tab.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jejakekal.domain import errors
from jejakekal.domain.audit import parse_reason
from jejakekal.domain.contracts import (
    MAX_BODY_BYTES,
    MAX_GOAL_CHARS,
    DocRunRequest,
    EventRequest,
    IntentCreate,
    RunRequest,
    parse_request,
)
from jejakekal.domain.gates import parse_actor, parse_key
from jejakekal.domain.ids import parse_artifact_id, parse_run_id
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.views import RunView
from jejakekal.web import csrf
from jejakekal.web.client import UiClient
from jejakekal.web.following import answer_poll
from jejakekal.web.gates import form_answer
from jejakekal.web.pages import (
    Notice,
    TemplateContext,
    inbox_context,
    no_run,
    ocr_posture,
    run_context,
    run_list,
    safe_run_context,
    sandbox_posture,
    shown_artifact,
)
from jejakekal.web.views import parse_sleep_ms, parse_step

router = APIRouter()
DOC_PREFIX = "/doc"
FRAGMENT_HEADERS = {"Vary": "HX-Request, HX-History-Restore-Request", "Cache-Control": "no-store"}


class CsrfRejected(errors.JejakekalError):
    status = 403
    code = "csrf_rejected"
    default_message = "this form is stale or came from another site; reload the page"


def client_of(request: Request) -> UiClient:
    client: UiClient = request.app.state.ui_client
    return client


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def wants_fragment(request: Request) -> bool:
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


def render(
    request: Request, template: str, context: TemplateContext, status: int = 200
) -> HTMLResponse:
    token = request.cookies.get(csrf.COOKIE, "")
    response = templates_of(request).TemplateResponse(
        request, template, {"csrf": token, **context}, status_code=status, headers=FRAGMENT_HEADERS
    )
    return response


async def full_page(
    request: Request, context: TemplateContext, *, title: str, status: int = 200
) -> HTMLResponse:
    token, fresh = csrf.page_token(request)
    page = {
        "title": title,
        "mode": request.app.state.ui_mode,
        "sleep_ms": parse_sleep_ms(request.query_params.get("sleepMs")),
        "runs": await run_list(client_of(request)),
        "sandbox": await sandbox_posture(client_of(request)),
        "ocr": await ocr_posture(client_of(request)),
        "run": None,
        "bars": [],
        "artifacts": [],
        **context,
        "csrf": token,
    }
    response = templates_of(request).TemplateResponse(
        request, "page.html", page, status_code=status, headers=FRAGMENT_HEADERS
    )
    if fresh:
        csrf.set_cookie(response, token, secure=request.url.scheme == "https")
    return response


# -- pages and fragments ---------------------------------------------------------------
@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    body: JsonObject = {"ok": True, "role": "ui", "mode": request.app.state.ui_mode}
    try:
        upstream = await client_of(request).health()
        body.update(
            api_ok=upstream.ok,
            app_version=upstream.app_version,
            workers_alive=upstream.workers_alive,
        )
        if upstream.sandbox is not None:
            body["sandbox"] = upstream.sandbox.to_json()
        if upstream.ocr is not None:
            body["ocr"] = upstream.ocr.to_json()
    except errors.JejakekalError as exc:
        body.update(api_ok=False, api_error=exc.message)
    return JSONResponse(body)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    if wants_fragment(request):
        return render(request, "_exec_update.html", {**no_run(), "clear_viewer": True})
    return await full_page(request, no_run(), title="Runs")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    step = parse_step(request.query_params.get("step"))
    context, status = await safe_run_context(client_of(request), run_id, step=step)
    if wants_fragment(request):
        # Following the viewer's producer link keeps the artifact in view.
        keep_viewer = request.headers.get("hx-trigger") == "producer-step"
        return render(
            request, "_exec_update.html", {**context, "clear_viewer": not keep_viewer}, status
        )
    return await full_page(request, context, title=f"Run {run_id}", status=status)


@router.get("/fragments/runs", response_class=HTMLResponse)
async def run_list_fragment(request: Request) -> HTMLResponse:
    return render(request, "_run_list.html", {"runs": await run_list(client_of(request))})


@router.get("/fragments/runs/{run_id}", response_class=HTMLResponse)
async def run_fragment(request: Request, run_id: str) -> HTMLResponse:
    """What a live run's #exec polls: #exec, and out of band #run-status and #artifacts."""
    step = parse_step(request.query_params.get("step"))
    context, status = await safe_run_context(client_of(request), run_id, step=step, polling=True)
    run = context.get("run")
    if isinstance(run, RunView):
        # The answer says when to poll next, slower while nothing changes, or to stop.
        policy = request.app.state.poll_policy
        context["follow"] = answer_poll(policy, request.query_params, run, str(context["poll_url"]))
    return render(request, "_exec_update.html", context, status)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request) -> HTMLResponse:
    """Every open gate across runs, each with its answer form."""
    context = await inbox_context(client_of(request))
    if wants_fragment(request):
        return render(request, "_exec_update.html", {**context, "clear_viewer": True})
    return await full_page(request, context, title="Inbox")


@router.get("/fragments/inbox", response_class=HTMLResponse)
async def inbox_fragment(request: Request) -> HTMLResponse:
    """What the inbox's #exec polls: new gates appear, answered ones leave."""
    return render(request, "_exec.html", await inbox_context(client_of(request), polling=True))


@router.get("/artifacts/{artifact_id}", response_class=HTMLResponse)
async def artifact_page(request: Request, artifact_id: str) -> HTMLResponse:
    client = client_of(request)
    try:
        shown = await shown_artifact(
            client, parse_artifact_id(artifact_id), focus_chunk=request.query_params.get("chunk")
        )
    except (errors.ArtifactNotFound, errors.InvalidArtifactId) as exc:
        if wants_fragment(request):
            return render(request, "_viewer.html", {"viewer_message": exc.message}, exc.status)
        context = {**no_run(), "viewer_message": exc.message}
        return await full_page(request, context, title="Artifact", status=exc.status)
    if wants_fragment(request):
        return render(request, "_viewer.html", {"shown": shown})
    context, _ = await safe_run_context(client, shown.meta.run_id, step=None)
    return await full_page(request, {**context, "shown": shown}, title=f"Artifact {artifact_id}")


@router.get("/artifacts/{artifact_id}/download")
async def artifact_download(request: Request, artifact_id: str) -> Response:
    """The artifact's stored bytes as a file to save; never rendered by the browser."""
    download = await client_of(request).download(parse_artifact_id(artifact_id))
    disposition = f'attachment; filename="{download.filename}"'
    return Response(
        content=download.content,
        media_type=download.content_type,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/fragments/artifacts/{artifact_id}", response_class=HTMLResponse)
async def artifact_fragment(request: Request, artifact_id: str) -> HTMLResponse:
    shown = await shown_artifact(
        client_of(request),
        parse_artifact_id(artifact_id),
        focus_chunk=request.query_params.get("chunk"),
    )
    return render(request, "_viewer.html", {"shown": shown})


# -- actions ---------------------------------------------------------------------------
async def checked_form(request: Request) -> dict[str, str]:
    form = await csrf.read_form(request)
    # A script's bearer token is proof enough: no browser adds that header on its own.
    if request.state.auth != "bearer" and not csrf.is_allowed(request, form):
        raise CsrfRejected()
    return form


def check_size(body: JsonObject) -> JsonObject:
    """The body the API would get, held to the API's limit (the in-process client has
    no HTTP body to measure): compact UTF-8 JSON, as the HTTP client sends it."""
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(
            f"the command is {size} bytes as JSON; the limit is {MAX_BODY_BYTES} bytes (1 MiB)",
            limit=MAX_BODY_BYTES,
            field="command",
        )
    return body


@router.post("/commands", response_class=HTMLResponse)
async def command(request: Request) -> Response:
    """`/doc <text>` starts a document run; any other text becomes an intent and runs."""
    form = await checked_form(request)
    text = form.get("command", "").replace("\r\n", "\n").strip()
    sleep_ms = parse_sleep_ms(form.get("sleepMs"))
    client = client_of(request)
    if not text:
        raise errors.BadRequest("type a command first", field="command")
    if text == DOC_PREFIX or text.startswith(DOC_PREFIX + " "):
        body = check_size({"cmd": text, "sleepMs": sleep_ms})
        doc = parse_request(DocRunRequest, body, errors.InvalidRunRequest)
        run_id = (await client.start_doc_run(doc)).run_id
    else:
        if len(text) > MAX_GOAL_CHARS:
            # Most likely a document pasted without `/doc`: say how to ingest it.
            raise errors.InvalidIntent(
                f"a goal is at most {MAX_GOAL_CHARS} characters, this text has {len(text)}; "
                "to ingest it as a document start it with /doc, or upload the file",
                field="command",
            )
        body = check_size({"goal": text, "inputs": {}, "constraints": {}})
        intent_id = await client.create_intent(
            parse_request(IntentCreate, body, errors.InvalidIntent)
        )
        run_id = (await client.start_intent_run(intent_id, RunRequest())).run_id
    url = f"/runs/{run_id}" + (f"?sleepMs={sleep_ms}" if sleep_ms else "")
    if not wants_fragment(request):
        return RedirectResponse(url, status_code=303)
    context = await run_context(client, run_id, step=None, polling=False)
    context.update(refresh_runs=True, runs=await run_list(client), clear_viewer=True)
    response = render(request, "_exec_update.html", {**context, "clear_notice": True})
    response.headers["HX-Push-Url"] = url
    return response


async def _after_action(request: Request, run_id: str) -> Response:
    if not wants_fragment(request):
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
    context = await run_context(client_of(request), run_id, step=None, polling=False)
    return render(request, "_exec_update.html", {**context, "clear_notice": True})


@router.post("/runs/{run_id}/answer", response_class=HTMLResponse)
async def answer(request: Request, run_id: str) -> Response:
    form = await checked_form(request)
    run_id = parse_run_id(run_id)
    text = form.get("answer", "").strip()
    if not text:
        raise errors.InvalidEvent("type an answer first", field="answer")
    event = EventRequest(type="input", payload={"answer": text})
    await client_of(request).send_event(run_id, event, actor=ui_actor(form))
    return await _after_action(request, run_id)


@router.post("/runs/{run_id}/gates/{key}", response_class=HTMLResponse)
async def answer_gate(request: Request, run_id: str, key: str) -> Response:
    """A gate's form: the answer read as the gate's schema says, sent with the name
    typed in the form; the run page, or the inbox the form was on, comes back."""
    form = await checked_form(request)
    run_id, key = parse_run_id(run_id), parse_key(key)
    client = client_of(request)
    body = form_answer(await _answer_kind(client, run_id, key), key, form)
    await client.answer_gate(run_id, key, body, actor=ui_actor(form))
    if form.get("back") != "inbox":
        return await _after_action(request, run_id)
    if not wants_fragment(request):
        return RedirectResponse("/inbox", status_code=303)
    context = await inbox_context(client)
    return render(request, "_exec_update.html", {**context, "clear_notice": True})


async def _answer_kind(client: UiClient, run_id: str, key: str) -> str | None:
    """The type of answer gate `key` of the run takes (its latest asking); None when the
    run has no such gate, which the answer then hears from the API (`gate_not_open`)."""
    asked = [g for g in (await client.run_view(run_id)).gates if g.key == key]
    opened = [g for g in asked if g.is_open] or asked[-1:]
    return str(opened[0].answer_schema.get("type")) if opened else None


@router.post("/runs/{run_id}/retry", response_class=HTMLResponse)
async def retry(request: Request, run_id: str) -> Response:
    form = await checked_form(request)
    run_id = parse_run_id(run_id)
    await client_of(request).retry_run(run_id, actor=ui_actor(form), reason=_reason(form))
    return await _after_action(request, run_id)


@router.post("/runs/{run_id}/resume", response_class=HTMLResponse)
async def resume(request: Request, run_id: str) -> Response:
    form = await checked_form(request)
    run_id = parse_run_id(run_id)
    await client_of(request).resume_run(run_id, actor=ui_actor(form), reason=_reason(form))
    return await _after_action(request, run_id)


@router.post("/runs/{run_id}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, run_id: str) -> Response:
    form = await checked_form(request)
    run_id = parse_run_id(run_id)
    await client_of(request).cancel_run(run_id, actor=ui_actor(form), reason=_reason(form))
    return await _after_action(request, run_id)


@router.post("/runs/{run_id}/fork", response_class=HTMLResponse)
async def fork(request: Request, run_id: str) -> Response:
    """The "Fork from here" button of a step: the new run's page follows."""
    form = await checked_form(request)
    run_id = parse_run_id(run_id)
    step = form.get("fromStep", "")
    forked = await client_of(request).fork_run(
        run_id, step, actor=ui_actor(form), reason=_reason(form)
    )
    target = f"/runs/{forked.run_id}"
    if wants_fragment(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _reason(form: Mapping[str, str]) -> str | None:
    return parse_reason(form.get("reason"))


async def error_response(request: Request, exc: errors.JejakekalError) -> Response:
    """A failure as a notice: swapped into #notice for htmx, a page otherwise."""
    notice = Notice("error", f"{exc.message} ({exc.code})")
    if request.state.auth is None:
        # Not signed in (a missing static file, a bad login post): no page, no run list.
        return HTMLResponse(notice.text, status_code=exc.status)
    # A run that is missing (or never could be) puts the execution plane in its error state.
    missing_run = isinstance(exc, errors.RunNotFound | errors.InvalidRunId)
    context = no_run(notice.text, failed=missing_run)
    if wants_fragment(request) and missing_run:
        response = render(
            request, "_exec_update.html", {**context, "clear_viewer": True}, exc.status
        )
        response.headers.update({"HX-Retarget": "#exec", "HX-Reswap": "outerHTML"})
        return response
    if wants_fragment(request):
        response = render(request, "_notice.html", {"notice": notice}, exc.status)
        response.headers.update({"HX-Retarget": "#notice", "HX-Reswap": "innerHTML"})
        return response
    try:
        return await full_page(
            request, {**context, "notice": notice}, title="Error", status=exc.status
        )
    except errors.JejakekalError:
        # The page itself needs the API (its run list): say so in plain text.
        return HTMLResponse(notice.text, status_code=exc.status)


# Who acts from the UI when no name is given (the UI has one shared token, no accounts).
UI_USER = "ui-user"


def ui_actor(form: Mapping[str, str]) -> str:
    """Who answers from the UI: the name typed in the form, else the signed-in user."""
    given = form.get("actor", "").strip()
    return parse_actor(given, "actor") if given else UI_USER

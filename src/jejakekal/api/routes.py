"""The README's HTTP API for intents and runs."""

from __future__ import annotations

from typing import Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jejakekal.adapters.ocr import engine_name
from jejakekal.api.parsing import REQUEST_GUARDS, openapi_body, read_json
from jejakekal.control import Control
from jejakekal.domain import audit, errors
from jejakekal.domain.audit import Who, parse_reason
from jejakekal.domain.batch import BatchRequest
from jejakekal.domain.contracts import (
    EventRequest,
    ForkRequest,
    IntentCreate,
    RunRequest,
    parse_request,
)
from jejakekal.domain.gates import (
    ANONYMOUS,
    TOKEN_ACTOR,
    GateAnswer,
    parse_actor,
    parse_key,
    parse_origin,
)
from jejakekal.domain.ids import parse_intent_id, parse_run_id
from jejakekal.domain.lifecycle import ALL_STATUSES, RunKind
from jejakekal.domain.views import Health, OcrPosture, SandboxPosture

router = APIRouter(dependencies=REQUEST_GUARDS)
MAX_WAIT_MS = 30_000
RUN_STATUSES = ALL_STATUSES
GateStatus = Literal["open", "answered", "rejected", "timed_out"]
GATE_STATUSES = get_args(GateStatus)


def control_of(request: Request) -> Control:
    control: Control = request.app.state.kernel.control
    return control


@router.get("/healthz", tags=["ops"])
async def healthz(request: Request) -> dict[str, object]:
    """Liveness, and whether any worker of this version is alive to run what is queued."""
    kernel = request.app.state.kernel
    live = await run_in_threadpool(kernel.control.live_workers)
    # A process that runs no workflows probes the sandbox once, on first use.
    isolation = await run_in_threadpool(kernel.control.ctx.isolation)
    health = Health(
        ok=True,
        role=kernel.role,
        app_version=kernel.settings.app_version,
        db=kernel.db_kind,
        workers=tuple(live),
        queues=kernel.queue_pace,
        sandbox=SandboxPosture.of(isolation, allow_unisolated=kernel.settings.allow_unisolated),
        # Cached after the first probe of `tesseract --version`: no thread hop per call.
        ocr=OcrPosture(mode=kernel.settings.ocr, engine=engine_name()),
    )
    return health.to_json()


@router.post(
    "/intents", status_code=201, openapi_extra=openapi_body(IntentCreate), tags=["intents"]
)
async def create_intent(request: Request) -> dict[str, str]:
    """[API-1] Record an intent: a goal with its inputs and constraints."""
    body = parse_request(IntentCreate, await read_json(request), errors.InvalidIntent)
    intent_id = await run_in_threadpool(control_of(request).create_intent, body)
    return {"intentId": intent_id}


@router.post(
    "/intents/{intent_id}/run",
    status_code=202,
    openapi_extra=openapi_body(RunRequest),
    tags=["intents"],
)
async def start_run(intent_id: str, request: Request) -> dict[str, str]:
    """[API-2] Start the intent's run (workflow id = intent id); returns after durable start."""
    intent_id = parse_intent_id(intent_id)
    body = parse_request(
        RunRequest, await read_json(request, allow_empty=True), errors.InvalidRunRequest
    )
    started = await run_in_threadpool(control_of(request).start_intent_run, intent_id, body)
    return {"runId": started.run_id, "workflowId": started.workflow_id}


@router.get("/runs", tags=["runs"])
async def list_runs(
    request: Request,
    status: str | None = Query(None, description="a status of either kind's vocabulary"),
    kind: RunKind | None = None,
    limit: int = Query(50, ge=1, le=500),
    # Bounded: both databases keep 64-bit integers, and no list is that long.
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> dict[str, object]:
    """Runs, newest first, filtered by status and kind."""
    if status is not None and status not in RUN_STATUSES:
        raise errors.InvalidQuery(
            f"status must be one of {', '.join(RUN_STATUSES)}", field="status"
        )
    items = await run_in_threadpool(
        lambda: control_of(request).list_runs(
            status=status,
            kind=kind.value if kind else None,
            limit=limit,
            offset=offset,
        )
    )
    return {"items": [item.to_json() for item in items], "limit": limit, "offset": offset}


@router.get("/runs/{run_id}", tags=["runs"])
async def get_run(
    run_id: str,
    request: Request,
    waitMs: int = Query(
        0, ge=0, le=MAX_WAIT_MS, description="hold the reply until the run is not queued or running"
    ),
) -> JSONResponse:
    """[API-3] The run view; `run_id` may be a run id or a workflow id."""
    run_id = parse_run_id(run_id)
    control = control_of(request)
    if waitMs:
        # Awaited on the event loop: a long poll holds no thread of the pool.
        view = await control.wait_run(run_id, waitMs / 1000)
    else:
        view = await run_in_threadpool(control.run_view, run_id)
    return JSONResponse(view.to_json())


@router.post(
    "/runs/{run_id}/events",
    status_code=202,
    openapi_extra=openapi_body(EventRequest),
    tags=["runs"],
)
async def post_event(run_id: str, request: Request) -> dict[str, bool]:
    """[API-4] Answer a run that waits for input: the event's type names the gate."""
    run_id = parse_run_id(run_id)
    event = parse_request(EventRequest, await read_json(request), errors.InvalidEvent)
    actor, origin = actor_of(request), parse_origin(request.headers.get("x-origin"))
    request_id = audit.request_id(request.headers.get("x-request-id"))
    await run_in_threadpool(
        lambda: control_of(request).send_event(
            run_id, event, actor=actor, origin=origin, request_id=request_id
        )
    )
    return {"accepted": True}


@router.post(
    "/runs/{run_id}/gates/{key}",
    status_code=202,
    openapi_extra=openapi_body(GateAnswer),
    tags=["gates"],
)
async def answer_gate(run_id: str, key: str, request: Request) -> dict[str, object]:
    """Answer a run's open gate; `X-Actor` names who answers (README, "Human gates")."""
    run_id, key = parse_run_id(run_id), parse_key(key)
    body = parse_request(GateAnswer, await read_json(request), errors.InvalidAnswer)
    actor, origin = actor_of(request), parse_origin(request.headers.get("x-origin"))
    request_id = audit.request_id(request.headers.get("x-request-id"))
    receipt = await run_in_threadpool(
        lambda: control_of(request).answer_gate(
            run_id, key, body, actor=actor, origin=origin, request_id=request_id
        )
    )
    return receipt.to_json()


@router.get("/gates", tags=["gates"])
async def list_gates(
    request: Request,
    status: GateStatus = "open",
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> dict[str, object]:
    """Gates across runs, oldest first: the inbox of open ones by default."""
    items = await run_in_threadpool(
        lambda: control_of(request).gate_inbox(status=status, limit=limit, offset=offset)
    )
    return {"items": [item.to_json() for item in items], "limit": limit, "offset": offset}


def actor_of(request: Request) -> str:
    """`X-Actor`, else the API token's holder when a token is configured."""
    raw = request.headers.get("x-actor")
    if raw is not None:
        return parse_actor(raw)
    return TOKEN_ACTOR if request.app.state.kernel.settings.api_token else ANONYMOUS


@router.post("/runs/{run_id}/retry", status_code=202, tags=["runs"])
async def retry_run(run_id: str, request: Request) -> dict[str, object]:
    """[API-5] Re-enter a failed run at ExecuteST on the same run id; `{"reason"}` optional."""
    run_id, who = parse_run_id(run_id), await who_of(request)
    retried = await run_in_threadpool(control_of(request).retry_run, run_id, who)
    return retried.to_json()


@router.post("/runs/{run_id}/resume", status_code=202, tags=["runs"])
async def resume_run(run_id: str, request: Request) -> dict[str, object]:
    """[API-7] Continue a cancelled (or recovery-exhausted) run; finished steps stay done."""
    run_id, who = parse_run_id(run_id), await who_of(request)
    resumed = await run_in_threadpool(control_of(request).resume_run, run_id, who)
    return resumed.to_json()


@router.post("/runs/{run_id}/cancel", status_code=202, tags=["runs"])
async def cancel_run(run_id: str, request: Request) -> dict[str, object]:
    """Cancel a live run; `{"reason"}` optional."""
    run_id, who = parse_run_id(run_id), await who_of(request)
    canceled = await run_in_threadpool(control_of(request).cancel_run, run_id, who)
    return canceled.to_json()


@router.post(
    "/runs/{run_id}/fork", status_code=202, openapi_extra=openapi_body(ForkRequest), tags=["runs"]
)
async def fork_run(run_id: str, request: Request) -> dict[str, object]:
    """A new run from a stopped run's step; the steps before it are reused, not re-run."""
    run_id = parse_run_id(run_id)
    body = parse_request(ForkRequest, await read_json(request), errors.InvalidFork)
    who = actor_and_origin(request, parse_reason(body.reason))
    forked = await run_in_threadpool(control_of(request).fork_run, run_id, body.fromStep, who)
    return forked.to_json()


@router.post(
    "/runs/batch", status_code=200, openapi_extra=openapi_body(BatchRequest), tags=["runs"]
)
async def batch_runs(request: Request) -> dict[str, object]:
    """Cancel, resume or retry every run a filter matches: `dryRun` counts, `limit` caps."""
    body = parse_request(BatchRequest, await read_json(request), errors.InvalidBatch)
    who = actor_and_origin(request, parse_reason(body.reason))
    done = await run_in_threadpool(control_of(request).batch, body, who)
    return done.to_json()


async def who_of(request: Request) -> Who:
    """The operator behind an action: `X-Actor`, `X-Origin`, `X-Request-Id`, and the
    body's optional `{"reason"}` (an empty body is no reason)."""
    body = await read_json(request, allow_empty=True)
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise errors.InvalidReason('the body is empty or {"reason": "..."}', field="body")
    return actor_and_origin(request, parse_reason(body.get("reason")))


def exporter(request: Request) -> Who:
    """Who exports a run (a GET): the headers, and `?reason=`."""
    return actor_and_origin(request, parse_reason(request.query_params.get("reason")))


def actor_and_origin(request: Request, reason: str | None) -> Who:
    return Who(
        actor_of(request),
        parse_origin(request.headers.get("x-origin")),
        reason,
        audit.request_id(request.headers.get("x-request-id")),
    )

"""The operator's view of the fleet: `GET /ops` as JSON (what `jejakekal status` and a
UI in split mode read) and `GET /metrics` for Prometheus, both from one read model."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from jejakekal.api import metrics
from jejakekal.api.parsing import REQUEST_GUARDS
from jejakekal.api.routes import control_of

router = APIRouter(dependencies=REQUEST_GUARDS)


@router.get("/ops", tags=["ops"])
async def fleet(request: Request) -> dict[str, object]:
    """Runs by kind and status, queue depths, workers and their heartbeats, open gates,
    recent failed runs and step durations, as read now from the shared database."""
    read = await run_in_threadpool(control_of(request).fleet)
    return read.to_json()


@router.get("/metrics", tags=["ops"])
async def prometheus(request: Request) -> Response:
    """The same fleet in Prometheus' text exposition format, read at each scrape."""
    body = await run_in_threadpool(metrics.exposition, control_of(request).fleet)
    return Response(content=body, media_type=metrics.CONTENT_TYPE)

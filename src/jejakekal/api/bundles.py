"""A run's bundle over HTTP, as one deterministic zip (docs/runs.md, "Export bundles")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from jejakekal.api.parsing import REQUEST_GUARDS
from jejakekal.api.routes import control_of, exporter
from jejakekal.domain.ids import parse_run_id
from jejakekal.export.archive import ZIP_TYPE, zip_bundle, zip_name

router = APIRouter(dependencies=REQUEST_GUARDS)


@router.get("/runs/{run_id}/bundle.zip", tags=["runs"])
async def bundle_zip(run_id: str, request: Request) -> Response:
    """The run's bundle (the files `export` writes) as a zip; two downloads of a
    finished run are byte-identical. Nothing is written on the server."""
    run_id, who = parse_run_id(run_id), exporter(request)
    built = await run_in_threadpool(control_of(request).run_bundle, run_id, who)
    data = await run_in_threadpool(zip_bundle, built.files)
    return Response(
        content=data,
        media_type=ZIP_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{zip_name(built.run_id)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )

"""The one error mapper: every failure leaves as `{"error", "code", "message", ...}`."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jejakekal.domain.errors import JejakekalError

log = logging.getLogger("jejakekal.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(exc: JejakekalError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JejakekalError)
    async def kernel_error(_: Request, exc: JejakekalError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def query_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Bodies are parsed by the routes themselves; what FastAPI validates is the query.
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"][1:]) or None
        code = "invalid_query"
        body = {"error": code, "code": code, "message": f"{field}: {first['msg']}", "field": field}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        body = {"error": code, "code": code, "message": str(exc.detail)}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        # Opaque to the client; the traceback goes to the log for the operator.
        log.exception("unhandled error", exc_info=exc)
        body = {"error": "internal_error", "code": "internal_error", "message": "internal error"}
        return JSONResponse(body, status_code=500)


def allowed_methods(request: Request, named: str) -> str:
    """Every method the path answers, as RFC 9110 asks of a 405.

    The router names only the first route whose path matched, and `/runs` has one
    route for GET and another for POST; the OpenAPI document knows them all.
    """
    methods = {m.strip() for m in named.split(",") if m.strip()}
    path = request.scope["path"]
    for template, item in request.app.openapi()["paths"].items():
        if _template(template).fullmatch(path):
            methods |= {method.upper() for method in item}
    return ", ".join(sorted(methods))


def _template(path: str) -> re.Pattern[str]:
    """`/runs/{run_id}/events` as a pattern: each `{name}` stands for one segment."""
    segments = path.split("/")
    return re.compile("/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments))

"""The one error mapper: every failure leaves as `{"error", "code", "message", ...}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jejakekal.domain.errors import KernelError

log = logging.getLogger("jejakekal.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(exc: KernelError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KernelError)
    async def kernel_error(_: Request, exc: KernelError) -> JSONResponse:
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
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        body = {"error": code, "code": code, "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        # Opaque to the client; the traceback goes to the log for the operator.
        log.exception("unhandled error", exc_info=exc)
        body = {"error": "internal_error", "code": "internal_error", "message": "internal error"}
        return JSONResponse(body, status_code=500)

"""ASGI factories. The lifespan of the app owns the kernel (and with it DBOS)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from jejakekal import __version__
from jejakekal.api.errors import error_response, install_error_handlers
from jejakekal.api.routes import router
from jejakekal.bootstrap import Kernel, Role, build_kernel
from jejakekal.config import Settings
from jejakekal.domain.errors import KernelError, Unauthorized
from jejakekal.domain.ids import check_raw_path


def create_api_app(
    settings: Settings, role: Role = "full", kernel: Kernel | None = None
) -> FastAPI:
    """The API. With no `kernel`, the app builds one at startup and closes it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = kernel is None
        # Off the event loop: DBOS refuses its synchronous API inside a running loop.
        app.state.kernel = kernel or await run_in_threadpool(build_kernel, settings, role)
        try:
            yield
        finally:
            if owned:
                await run_in_threadpool(app.state.kernel.close)

    app = FastAPI(title="jejakekal", version=__version__, lifespan=lifespan)
    if kernel is not None:
        app.state.kernel = kernel
    install_error_handlers(app)
    app.include_router(router)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            raw = request.scope.get("raw_path") or request.url.path.encode()
            check_raw_path(raw.decode("latin-1"))
            token = settings.api_token
            if token and request.url.path != "/healthz":
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given, f"Bearer {token}"):
                    raise Unauthorized()
        except KernelError as exc:
            return error_response(exc)
        return await call_next(request)

    return app

"""ASGI factories. The lifespan of the app owns the kernel (and with it DBOS)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from jejakekal import __version__
from jejakekal.api import bundles, documents, ops
from jejakekal.api.errors import error_response, install_error_handlers
from jejakekal.api.openapi import install_openapi
from jejakekal.api.routes import router
from jejakekal.bootstrap import Kernel, Role, build_kernel
from jejakekal.config import Settings
from jejakekal.domain.errors import HostNotAllowed, JejakekalError, Unauthorized
from jejakekal.domain.hosts import HostAllowList, host_of
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
    app.include_router(documents.upload_router)
    app.include_router(documents.router)
    app.include_router(bundles.router)
    app.include_router(ops.router)
    install_openapi(app, token_required=settings.api_token is not None)

    hosts = HostAllowList.for_server(settings.host, settings.allowed_hosts)
    app.add_middleware(Guard, token=settings.api_token, hosts=hosts)
    return app


class Guard:
    """Checks every request before routing: the Host, the raw path's id, then the
    bearer token.

    Plain ASGI rather than `@app.middleware("http")`, which costs every request a
    second task and a streamed copy of its response.
    """

    def __init__(self, app: ASGIApp, token: str | None, hosts: HostAllowList) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                # First: a rebound name is refused before anything else is looked at.
                if not self.hosts.allows(host_of(scope["headers"])):
                    raise HostNotAllowed()
                raw = scope.get("raw_path") or scope["path"].encode()
                check_raw_path(raw.decode("latin-1"))
                if self.expected is not None and scope["path"] != "/healthz":
                    given = dict(scope["headers"]).get(b"authorization", b"")
                    if not hmac.compare_digest(given, self.expected):
                        raise Unauthorized()
            except JejakekalError as exc:
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)

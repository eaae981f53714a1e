"""The UI's ASGI app: templates, static files, the routes, and a guard in front."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jejakekal import __version__
from jejakekal.config import Settings
from jejakekal.domain.errors import KernelError
from jejakekal.domain.ids import check_raw_path
from jejakekal.web import routes
from jejakekal.web.assets import VersionedStaticFiles
from jejakekal.web.client import HttpClient, UiClient
from jejakekal.web.views import status_label, ui_state

HERE = Path(__file__).parent
# htmx's settings, read by htmx from the page's <meta name="htmx-config"> as it starts.
# A history restore must get the full page (the server answers HX-Request with a
# fragment); errors are swapped too, as the server retargets them to #notice.
HTMX_CONFIG = {
    "historyRestoreAsHxRequest": False,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True},
    ],
}


def create_ui_app(settings: Settings, client: UiClient, *, password: str | None = None) -> FastAPI:
    """The web UI over `client` (in-process or HTTP). With `password`, every page but
    /healthz asks for HTTP Basic credentials with that password (any user name)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(
        title="jejakekal UI",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    static = VersionedStaticFiles(HERE / "static")
    environment.globals.update(
        ui_state=ui_state,
        status_label=status_label,
        static_url=static.url,
        # Inline in every full page: a first visit renders without a second round trip.
        app_css=Markup((HERE / "static" / "app.css").read_text(encoding="utf-8")),
        htmx_config=HTMX_CONFIG,
    )
    templates = Jinja2Templates(env=environment)
    app.state.templates = templates
    app.state.ui_client = client
    app.state.ui_mode = "split" if isinstance(client, HttpClient) else "embedded"
    app.state.settings = settings

    @app.exception_handler(KernelError)
    async def kernel_error(request: Request, exc: KernelError) -> Response:
        return await routes.error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return await routes.error_response(request, _routing_error(request, exc))

    app.include_router(routes.router)
    app.mount("/static", static, name="static")
    # Pages, fragments and htmx itself (about 50 kB) travel gzipped to browsers that ask.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(UiGuard, password=password)
    return app


def _routing_error(request: Request, exc: StarletteHTTPException) -> KernelError:
    """No route matched: a malformed id gets its typed 400, as the API answers it
    (`..%2F` splits the path before routing), anything else its HTTP status."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    try:
        check_raw_path(raw.decode("latin-1"))
    except KernelError as bad_id:
        return bad_id
    error = KernelError("no page at this address" if exc.status_code == 404 else str(exc.detail))
    error.status = exc.status_code
    error.code = "not_found" if exc.status_code == 404 else "http_error"
    return error


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class UiGuard:
    """Plain ASGI (as the API's Guard): optional Basic auth, and headers that keep the
    pages out of frames and stop content sniffing."""

    def __init__(self, app: ASGIApp, password: str | None) -> None:
        self.app = app
        self.password = password.encode() if password else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.password is not None and scope["path"] != "/healthz":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not self._authorized(given):
                response = Response(
                    "authentication required",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="jejakekal"'},
                )
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorized(self, header: bytes) -> bool:
        assert self.password is not None
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            _, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(password, self.password)

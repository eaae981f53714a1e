"""The UI's ASGI app: templates, static files, the routes, and a guard in front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from jejakekal import __version__
from jejakekal.config import Settings
from jejakekal.domain.errors import HttpStatusError, JejakekalError
from jejakekal.domain.hosts import HostAllowList
from jejakekal.domain.ids import check_raw_path
from jejakekal.web import documents, login, ops, routes
from jejakekal.web.assets import VersionedStaticFiles
from jejakekal.web.client import HttpClient, UiClient
from jejakekal.web.following import PollPolicy
from jejakekal.web.guard import UiGuard
from jejakekal.web.views import (
    artifact_label,
    chunk_anchor,
    command_line,
    status_label,
    ui_state,
)

HERE = Path(__file__).parent
# htmx's settings, read by htmx from the page's <meta name="htmx-config"> as it starts.
# A history restore must get the full page (the server answers HX-Request with a
# fragment); errors are swapped too, as the server retargets them to #notice. The
# page's Content-Security-Policy allows no inline style or script and no eval: htmx must
# not inject its indicator stylesheet, run scripts it swaps in, evaluate attributes, or
# copy `style` attributes as it settles.
HTMX_CONFIG = {
    "historyRestoreAsHxRequest": False,
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "attributesToSettle": ["class", "width", "height"],
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True},
    ],
}


def create_ui_app(settings: Settings, client: UiClient) -> FastAPI:
    """The web UI over `client` (in-process or HTTP). With `settings.api_token`, every
    page but the login form, static files and /healthz needs a session or the token."""

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
    static = VersionedStaticFiles(HERE / "static")
    app_css = (HERE / "static" / "app.css").read_text(encoding="utf-8")
    app.state.templates = _templates(static, app_css)
    app.state.ui_client = client
    app.state.ui_mode = "split" if isinstance(client, HttpClient) else "embedded"
    app.state.settings = settings
    # A page's first poll comes after the configured interval; later ones as each answer says.
    app.state.poll_policy = policy = PollPolicy.of(settings)
    app.state.templates.env.globals["poll_policy"] = policy

    @app.exception_handler(JejakekalError)
    async def typed_error(request: Request, exc: JejakekalError) -> Response:
        return await routes.error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return await routes.error_response(request, _routing_error(request, exc))

    app.include_router(login.router)
    app.include_router(routes.router)
    app.include_router(documents.router)
    app.include_router(ops.router)
    app.mount("/static", static, name="static")
    # Pages, fragments and htmx itself (about 50 kB) travel gzipped to browsers that ask.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.state.hosts = hosts = HostAllowList.for_server(settings.host, settings.allowed_hosts)
    app.add_middleware(UiGuard, token=settings.api_token, hosts=hosts, inline_css=app_css)
    return app


def _templates(static: VersionedStaticFiles, app_css: str) -> Jinja2Templates:
    """The pages' Jinja environment, with what every template may call."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(
        ui_state=ui_state,
        status_label=status_label,
        command_line=command_line,
        artifact_label=artifact_label,
        chunk_anchor=chunk_anchor,
        static_url=static.url,
        # Inline in every full page: a first visit renders without a second round trip.
        app_css=Markup(app_css),
        htmx_config=HTMX_CONFIG,
    )
    return Jinja2Templates(env=environment)


def _routing_error(request: Request, exc: StarletteHTTPException) -> JejakekalError:
    """No route matched: a malformed id gets its typed 400, as the API answers it
    (`..%2F` splits the path before routing), anything else its HTTP status."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    try:
        check_raw_path(raw.decode("latin-1"))
    except JejakekalError as bad_id:
        return bad_id
    if exc.status_code == 404:
        return HttpStatusError(404, "not_found", "no page at this address")
    return HttpStatusError(exc.status_code, "http_error", str(exc.detail))

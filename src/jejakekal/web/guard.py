"""What every UI request passes before routing, and the headers every answer carries.

In order: the `Host` must be on the allow-list (DNS rebinding); with a token configured,
the request must carry a session cookie or the bearer token (the login form, static
files and /healthz aside); then each response gets a Content-Security-Policy and the
usual hardening. Plain ASGI, as the API's Guard.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jejakekal.domain.errors import HostNotAllowed
from jejakekal.domain.hosts import HostAllowList, host_of
from jejakekal.web import session

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
# Scripts only from this origin, no eval; styles from this origin or the one inline
# stylesheet, by its hash. A hash, not a nonce per response: htmx parses the full page
# a history restore fetches inside the current page, whose policy must accept its
# stylesheet too. The timeline's bars are placed by app.js through the CSSOM.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' '{style_hash}'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def style_hash(css: str) -> str:
    """The CSP source that allows one inline `<style>` holding exactly `css`."""
    return "sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()


class UiGuard:
    """Refuses what may not reach the routes; marks the rest with `state.auth`."""

    def __init__(
        self, app: ASGIApp, token: str | None, hosts: HostAllowList, inline_css: str
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.policy = CSP.format(style_hash=style_hash(inline_css))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers["content-security-policy"] = self.policy
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        """The answer for a request that may not reach the routes, else None (and the
        request's `state.auth` says how it got in)."""
        if not self.hosts.allows(host_of(scope["headers"])):
            error = HostNotAllowed()
            return PlainTextResponse(f"{error.message} ({error.code})", status_code=error.status)
        if self.token is None:
            scope["state"]["auth"] = "open"
            return None
        auth = session.authenticate(scope, self.token)
        scope["state"]["auth"] = auth
        if auth is not None or session.is_public(scope["path"]):
            return None
        return _sign_in_first(HTTPConnection(scope))


def _sign_in_first(request: HTTPConnection) -> Response:
    """Unauthenticated: a page load goes to the login form (and comes back after it),
    htmx is told to go there, and anything else (a script, a form) gets a plain 401."""
    headers = request.headers
    if headers.get("hx-request") == "true":
        target = _login_url(session.next_of_url(headers.get("hx-current-url")))
        return PlainTextResponse("sign in first", status_code=401, headers={"HX-Redirect": target})
    method = request.scope["method"]
    if method in ("GET", "HEAD") and "authorization" not in headers:
        query = request.scope.get("query_string", b"").decode("latin-1")
        path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
        here = path + (f"?{query}" if query else "")
        return RedirectResponse(_login_url(session.safe_next(here)), status_code=303)
    return PlainTextResponse(
        "sign in at /login, or send Authorization: Bearer <token> (unauthorized)",
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="jejakekal"'},
    )


def _login_url(next_path: str) -> str:
    return "/login" if next_path == "/" else f"/login?next={quote(next_path, safe='')}"

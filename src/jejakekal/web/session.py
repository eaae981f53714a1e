"""Who may use the UI when a token is configured: a session cookie, or the bearer token.

The cookie does not hold the token: it holds an HMAC of a fixed label keyed by the
token, so a copied cookie does not reveal the token, and changing the token ends every
session. Scripts send `Authorization: Bearer <token>`, as they do to the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.types import Scope

COOKIE = "jejakekal_session"
_LABEL = b"jejakekal ui session v1"
# Reachable without a session: the login form itself, static files, the health probe.
PUBLIC_PATHS = ("/login", "/healthz")
PUBLIC_PREFIXES = ("/static/",)

Auth = Literal["open", "session", "bearer"]


def session_value(token: str) -> str:
    digest = hmac.new(token.encode(), _LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(given: str, token: str) -> bool:
    """Constant time, whatever the lengths (both sides are hashed first)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def authenticate(scope: Scope, token: str) -> Auth | None:
    """How this request proves it may use the UI, or None when it does not."""
    request = HTTPConnection(scope)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(given.strip(), token):
        return "bearer"
    sent = request.cookies.get(COOKIE, "")
    if sent and hmac.compare_digest(sent.encode(), session_value(token).encode()):
        return "session"
    return None


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return value


def next_of_url(url: str | None) -> str:
    """The path and query of an absolute URL (htmx's `HX-Current-URL`), made safe."""
    if not url:
        return "/"
    parts = urlsplit(url)
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))

"""CSRF defence for the UI's forms: a double-submitted token and a same-origin check.

A full page sets a random token in a `SameSite=Strict` cookie and writes the same value
into every form (and into `hx-headers` for htmx). A POST passes only when the value it
sends matches the cookie and its `Origin`, when given, is this server under a name on
its Host allow-list: another site can make a browser send the cookie, but cannot read
it to send the matching value.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from jejakekal.domain.contracts import MAX_BODY_BYTES
from jejakekal.domain.errors import PayloadTooLarge
from jejakekal.domain.hosts import HostAllowList

COOKIE = "jejakekal_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
# A command may be as large as the API's JSON body; urlencoding a form triples a
# byte at most (`%XX`), and the other fields need a little room.
MAX_FORM_BYTES = 3 * MAX_BODY_BYTES + 16_384


def page_token(request: Request) -> tuple[str, bool]:
    """The token to render: the browser's own when it has a sound one, else a new one
    (True: the response must set the cookie)."""
    current = request.cookies.get(COOKIE, "")
    if _TOKEN.match(current):
        return current, False
    return secrets.token_urlsafe(32), True


def set_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (what browsers and htmx send), first value of each field."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise _too_large()
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    fields = parse_qs(bytes(body).decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the form is over {MAX_FORM_BYTES} bytes; a command may be up to "
        f"{MAX_BODY_BYTES} bytes (1 MiB) as JSON",
        limit=MAX_BODY_BYTES,
    )


def same_origin(request: Request) -> bool:
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-origin request; the token still has to match
    # Not the Host alone: a rebinding page's Origin matches the Host it sends.
    hosts: HostAllowList = request.app.state.hosts
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin == own and hosts.allows(urlsplit(origin).netloc)


def is_allowed(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(COOKIE, "")
    sent = request.headers.get(HEADER) or form.get(FIELD, "")
    if not _TOKEN.match(cookie) or not same_origin(request):
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())

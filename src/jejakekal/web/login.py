"""Signing in to the UI with the API token, and signing out.

The form is the only page an unauthenticated browser can load, so it shows nothing but
itself: no run list, and its failures are answered here, not by the app's error page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jejakekal.web import csrf, session

router = APIRouter()


def _token(request: Request) -> str | None:
    token: str | None = request.app.state.settings.api_token
    return token


def _form(request: Request, next_path: str, message: str | None, status: int) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    token, fresh = csrf.page_token(request)
    context = {"title": "Sign in", "csrf": token, "next": next_path, "message": message}
    response = templates.TemplateResponse(
        request, "login.html", context, status_code=status, headers={"Cache-Control": "no-store"}
    )
    if fresh:
        csrf.set_cookie(response, token, secure=request.url.scheme == "https")
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    next_path = session.safe_next(request.query_params.get("next"))
    if _token(request) is None or request.state.auth is not None:
        return RedirectResponse(next_path, status_code=303)
    return _form(request, next_path, None, 200)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    token = _token(request)
    form = await csrf.read_form(request)
    next_path = session.safe_next(form.get("next"))
    if token is None:
        return RedirectResponse(next_path, status_code=303)
    if not csrf.is_allowed(request, form):
        return _form(request, next_path, "This form is stale; sign in again.", 403)
    if not session.token_matches(form.get("token", ""), token):
        return _form(request, next_path, "That is not the token this server was given.", 401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        session.COOKIE,
        session.session_value(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await csrf.read_form(request)
    if request.state.auth == "session" and not csrf.is_allowed(request, form):
        return RedirectResponse("/", status_code=303)
    response = RedirectResponse("/login" if _token(request) else "/", status_code=303)
    response.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="strict")
    return response

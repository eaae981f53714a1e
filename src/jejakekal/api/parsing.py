"""Request bodies: JSON only, size-capped, bounded depth, strict JSON, then a strict model;
each failure typed. Also the checks every API route makes before its own code runs."""

from __future__ import annotations

import json
import logging
import math
import re
from array import array
from itertools import accumulate
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from jejakekal.domain.contracts import MAX_BODY_BYTES as MAX_BODY_BYTES
from jejakekal.domain.errors import (
    ClientDisconnected,
    InvalidJson,
    InvalidQuery,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from jejakekal.domain.jsonrules import MAX_JSON_DEPTH, text_problem

log = logging.getLogger("jejakekal.api")


# `application/json` or a structured `+json` type, parameters (charset) allowed.
_JSON_MEDIA = re.compile(r"application/(?:[a-z0-9.!#$&^_-]+\+)?json", re.IGNORECASE)
# A JSON string, escapes included; what remains outside strings is structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Opening brackets become +1, closing ones -1 (as signed bytes); everything else goes.
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")


async def json_only(request: Request) -> None:
    """Refuse a POST whose body is not declared JSON, before the body is read.

    A browser sends `text/plain` and form types cross-site without a preflight; only a
    page of our own origin can send `application/json`. Bodyless actions need no type.
    """
    if request.method != "POST":
        return
    declared = request.headers.get("content-type")
    if declared is None:
        if _has_body(request):
            raise UnsupportedMediaType("a request body needs Content-Type: application/json")
        return
    media_type = declared.split(";", 1)[0].strip()
    if not is_json_type(declared):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {media_type[:64]!r}",
            content_type=media_type[:64],
        )


def is_json_type(content_type: str) -> bool:
    return _JSON_MEDIA.fullmatch(content_type.split(";", 1)[0].strip()) is not None


async def storable_query(request: Request) -> None:
    """Refuse a query parameter no database could compare with (U+0000), on every route."""
    for name, value in request.query_params.multi_items():
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            field = name.replace("\x00", "\\u0000")
            raise InvalidQuery(f"{field}: {problem}", field=field)


# Every API router's dependencies: checked before a route's own code runs.
REQUEST_GUARDS = [Depends(json_only), Depends(storable_query)]


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


async def read_json(request: Request, *, allow_empty: bool = False) -> Any:
    raw = await _read_body(request)
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidJson("request body is empty")
    return parse_json(raw)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES)
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw.extend(chunk)
            if len(raw) > MAX_BODY_BYTES:
                raise PayloadTooLarge(
                    f"request body exceeds {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES
                )
    except ClientDisconnect:
        # The client's own doing, not a fault of ours: one line, no traceback.
        log.info(
            "client disconnected after %d bytes of its body: %s %s",
            len(raw),
            request.method,
            request.url.path,
        )
        raise ClientDisconnected() from None
    return bytes(raw)


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN or infinities, no duplicate keys, at most MAX_JSON_DEPTH deep."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        # Checked before decoding: the decoder recurses once per level.
        raise InvalidJson(
            f"request body is nested deeper than {MAX_JSON_DEPTH} levels", limit=MAX_JSON_DEPTH
        )
    try:
        return json.loads(
            raw,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"request body is not valid JSON: {exc}") from exc


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw` (0 for a scalar), without recursing.

    All in C: strings are cut out, the brackets left become +1/-1, and the deepest
    running sum is the depth. Malformed input gives some number; the decoder refuses it.
    """
    brackets = _STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(array("b", brackets)), default=0)


def _reject_constant(value: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told not to.
    raise ValueError(f"{value} is not valid JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"the number {literal[:32]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {json.dumps(key[:64])} in an object")
            seen.add(key)
    return result


def openapi_upload_body(model: type[BaseModel]) -> dict[str, Any]:
    """`POST /runs`: JSON, or a document as a form's `file` part or as the raw body."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "sleepMs": {"type": "integer", "minimum": 0},
            "workflowId": {"type": "string"},
            "format": {"type": "string", "enum": ["text", "markdown", "pdf", "html", "docx"]},
        },
    }
    body = openapi_body(model)
    body["requestBody"]["content"].update(
        {
            "multipart/form-data": {"schema": form},
            "application/pdf": binary,
            "text/html": binary,
            "text/plain": binary,
            "text/markdown": binary,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document": binary,
        }
    )
    return body


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """Document a body the route parses itself (so it can answer typed 400s, not 422s)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }

"""Request bodies: size-capped, strict JSON, then a strict model; each failure typed."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from jejakekal.domain.errors import BadRequest, InvalidJson, PayloadTooLarge

MAX_BODY_BYTES = 1_048_576

M = TypeVar("M", bound=BaseModel)


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


async def read_json(request: Request, *, allow_empty: bool = False) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES)
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"request body exceeds {MAX_BODY_BYTES} bytes", limit=MAX_BODY_BYTES
            )
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidJson("request body is empty")
    try:
        # NaN and Infinity are not JSON; Python's parser accepts them unless told not to.
        return json.loads(bytes(raw), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"request body is not valid JSON: {exc}") from exc


def validate(model: type[M], data: Any, error: type[BadRequest]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise error(f"{field or 'body'}: {first['msg']}", field=field) from exc


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """Document a body the route parses itself (so it can answer typed 400s, not 422s)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }

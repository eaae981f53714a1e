"""Identifier grammar shared by every route and every store."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

from jejakekal.domain.errors import InvalidArtifactId, InvalidIntentId, InvalidRunId

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def is_valid_id(value: str) -> bool:
    # fullmatch: `$` alone also matches before a final newline, which would let `id\n` in.
    return bool(ID_PATTERN.fullmatch(value)) and ".." not in value


def parse_run_id(value: str) -> str:
    """Require the id grammar of an already percent-decoded id."""
    if not is_valid_id(value):
        raise InvalidRunId()
    return value


def parse_artifact_id(value: str) -> str:
    if not is_valid_id(value):
        raise InvalidArtifactId()
    return value


def parse_intent_id(value: str) -> str:
    if not is_valid_id(value):
        raise InvalidIntentId()
    return value


def check_raw_path(raw_path: str) -> None:
    """Validate the id segment of a raw (still percent-encoded) request path.

    Routing sees the path after decoding, where `..%2Fx` has become two segments
    and would miss every route; here it is decoded exactly once and judged whole.
    """
    parts = raw_path.split("/")
    if len(parts) < 3 or not parts[2]:
        return
    value = unquote(parts[2])
    if parts[1] == "runs" and not is_valid_id(value):
        raise InvalidRunId()
    if parts[1] == "intents" and not is_valid_id(value):
        raise InvalidIntentId()
    if parts[1] == "artifacts" and not is_valid_id(value):
        raise InvalidArtifactId()


def new_intent_id() -> str:
    return f"intent-{uuid.uuid4().hex}"


def new_doc_run_id() -> str:
    return f"doc-{uuid.uuid4().hex}"

"""The rules that make a snapshot a function of the code alone: each volatile field (a
time, a duration, a host's fact, a fresh id) becomes a token; everything else is kept."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

TIME = "<time>"
VOLATILE_KEYS = {
    "executor_id": "<executor>",
    "owner_xid": "<owner>",
    "creator_xid": "<xid>",
    "run_bundle_path": "<path>",
    "application_id": "<app>",
    "application_version": "<version>",
    "app_version": "<version>",
    "duration_ms": "<duration>",
    # Which sandbox ran a node is the host's (bwrap where installed), not the run's.
    "isolation": "<isolation>",
    "process_bound": "<isolation>",
}
# Hashes over a body that holds the run's id (the decider's request, recorded beside
# its hash): new with each intent run's ids. A document run's ids are fixed, so there
# they are kept.
ID_HASH_KEYS = frozenset({"request_sha256"})
# Artifact types whose body records a measured duration and the host's sandbox: their
# hash and size change with each run (the facts in them show in the steps' outputs).
TIMED_ARTIFACTS = frozenset({"node-result"})
NO_IDS: Mapping[str, str] = MappingProxyType({})
# An id minted from a random UUID (`act-<hex>` of an audit row, `req-`, `batch-`,
# `intent-`): new each time, so it keeps only its prefix.
MINTED_ID = re.compile(r"\b([a-z]+)-[0-9a-f]{32}\b")


def _volatile_time(key: str) -> bool:
    return key == "at" or key.endswith(("_at", "_epoch_ms", "At", "_timestamp"))


def normalise(value: Any, key: str = "", ids: Mapping[str, str] = NO_IDS) -> Any:
    """`value` with volatile fields replaced by tokens; `ids` maps a run's fresh ids to
    their tokens, replaced wherever they occur (artifact ids and receipt keys embed them)."""
    if isinstance(value, dict):
        return _normalise_object(value, ids)
    if isinstance(value, list):
        return [normalise(v, key, ids) for v in value]
    if isinstance(value, bool):
        # SQLite stores DBOS's flags as 0/1, PostgreSQL as booleans: compare them alike.
        return int(value)
    if value == "null":
        return None  # likewise a JSON null that one dialect keeps as text
    if value is None:
        return None
    if key in VOLATILE_KEYS:
        return VOLATILE_KEYS[key]
    if _volatile_time(key):
        return TIME
    if ids and key in ID_HASH_KEYS:
        return "<sha256-over-ids>"
    if isinstance(value, str):
        return _normalise_text(value, ids)
    return value


def _normalise_object(value: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    if value.get("function_name") == "DBOS.sleep" and "output" in value:
        # A durable sleep's output is its wake-up time.
        value = {**value, "output": TIME}
    if value.get("type") in TIMED_ARTIFACTS and "sha256" in value:
        value = {**value, "sha256": "<sha256-of-timed-record>", "size": "<size>"}
    return {k: normalise(v, k, ids) for k, v in value.items()}


def _normalise_text(text: str, ids: Mapping[str, str]) -> str:
    for found, token in ids.items():
        text = text.replace(found, token)
    text = MINTED_ID.sub(r"<\1-id>", text)
    if not text.startswith(("{", "[")):
        return text
    # DBOS keeps step outputs as JSON text: their volatile fields are normalised inside,
    # and the text re-encoded only if one was, so stable text stays byte for byte.
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    normalised = normalise(parsed, "", ids)
    if normalised == parsed:
        return text
    return json.dumps(normalised, ensure_ascii=False, separators=(",", ":"))

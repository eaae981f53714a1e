"""The public portable-JSON serializer writes what the private instance earlier releases
were configured with wrote: the same text for workflow inputs, outputs and errors, under
the same name, so rows written by either read back alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dbos import DBOSPortableJSONSerializer
from dbos._serialization import DBOSPortableJSON, serialize_exception

from jejakekal.domain.errors import DecisionInvalid, NodeFailed

PUBLIC = DBOSPortableJSONSerializer()

VALUES: list[Any] = [
    None,
    {"run_id": "run-1", "goal": 'say é "hi"', "steps": 3, "ratio": 0.5, "ok": True},
    {"plan": {"patch": [{"op": "add", "path": "/goal", "value": "x"}], "nodes": ["exec-1"]}},
    ["exec-1", ("exec-2", 2), {"nested": [None, False]}],
    {"at": datetime(2026, 12, 7, 11, 55, 19, 123456, tzinfo=UTC)},
]


def test_the_public_serializer_is_stored_under_the_name_old_rows_carry() -> None:
    assert PUBLIC.name() == DBOSPortableJSON.name() == "portable_json"


@pytest.mark.parametrize("value", VALUES)
def test_inputs_and_outputs_are_written_and_read_alike(value: Any) -> None:
    text = PUBLIC.serialize(value)

    assert text == DBOSPortableJSON.serialize(value)
    assert PUBLIC.deserialize(text) == DBOSPortableJSON.deserialize(text)


@pytest.mark.parametrize(
    "error", [NodeFailed("exit 3", attempt=2), DecisionInvalid(), ValueError("bad value")]
)
def test_errors_are_written_alike(error: Exception) -> None:
    written = serialize_exception(error, None, PUBLIC)

    assert written == serialize_exception(error, None, DBOSPortableJSON)
    assert written[1] == "portable_json"

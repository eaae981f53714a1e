"""The error family built through its constructors: implied fields, untyped statuses, and
an API answer raised again as the typed error it was."""

from __future__ import annotations

from typing import Any

import httpx

from jejakekal.domain import errors
from jejakekal.web.client import _as_typed_error


def _answer(status: int, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_an_id_error_carries_its_field_unless_given_another() -> None:
    assert errors.InvalidRunId().body()["field"] == "run_id"
    assert errors.InvalidRunId("bad", field="runId").fields == {"field": "runId"}


def test_an_untyped_status_keeps_fields_named_status_and_code() -> None:
    error = errors.HttpStatusError(418, "teapot", "short and stout", status="brewing")

    assert (error.status, error.code) == (418, "teapot")
    assert error.body() == {
        "error": "teapot",
        "code": "teapot",
        "message": "short and stout",
        "status": "brewing",
    }


def test_a_typed_api_answer_is_raised_again_as_its_class_with_the_same_body() -> None:
    body = {
        "error": "run_not_cancelable",
        "code": "run_not_cancelable",
        "message": "run is succeeded",
        "run_id": "run-1",
        "status": "succeeded",
    }

    error = _as_typed_error(_answer(409, body))

    assert type(error) is errors.RunNotCancelable
    assert error.status == 409
    assert error.body() == body


def test_an_id_error_from_the_api_keeps_the_field_the_api_named() -> None:
    body = {"code": "invalid_intent_id", "message": "no", "field": "intentId"}

    error = _as_typed_error(_answer(400, body))

    assert type(error) is errors.InvalidIntentId
    assert error.fields == {"field": "intentId"}


def test_an_unknown_api_code_keeps_the_answers_status_and_code() -> None:
    error = _as_typed_error(_answer(507, {"code": "disk_full", "message": "full", "free": 0}))

    assert type(error) is errors.HttpStatusError
    assert (error.status, error.code, error.message) == (507, "disk_full", "full")
    assert error.fields == {"free": 0}

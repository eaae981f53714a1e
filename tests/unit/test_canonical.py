"""Canonical JSON: the bytes behind stored hashes and bundle files."""

from __future__ import annotations

import hashlib

import pytest

from jejakekal.domain.canonical import canonical_json


def test_compact_form_sorts_keys_keeps_utf8_and_has_no_spaces() -> None:
    text = canonical_json({"b": [1, "é"], "a": {"d": None, "c": 1.5}})

    assert text == '{"a":{"c":1.5,"d":null},"b":[1,"é"]}'


def test_indented_form_puts_one_space_after_colons_only() -> None:
    text = canonical_json({"b": 1, "a": [1, 2]}, indent=2)

    assert text == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}'


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_numbers_that_json_has_not_are_refused(number: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": number})


def test_a_hash_is_the_one_recorded_by_earlier_releases() -> None:
    # Request and plan hashes are stored with runs; a change in spelling would orphan them.
    plan = {
        "compiler": "compile-default/1",
        "lanes": {"ask": True, "fail": False},
        "patch": [{"op": "add", "path": "/goal", "value": 'say é "hi"'}],
        "workload": {"concurrency": 1, "steps": 2, "ratio": 0.5, "none": None},
    }

    digest = hashlib.sha256(canonical_json(plan).encode()).hexdigest()

    assert digest == "3679506f5e37d39e14cef0cd9b6af9a8dd35429a57f0ea326b9e97c585da6679"

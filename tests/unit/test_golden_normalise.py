"""The golden normalisation rules: volatile fields become tokens, everything else stays."""

from __future__ import annotations

import json

from jejakekal.golden.normalise import TIME, normalise

IDS = {"run-0123456789abcdef01234567": "<run-id>"}


def test_a_run_id_becomes_its_token_inside_any_string() -> None:
    value = {"artifacts": ["run-0123456789abcdef01234567:exec-1:a1:stdout"]}

    assert normalise(value, ids=IDS) == {"artifacts": ["<run-id>:exec-1:a1:stdout"]}


def test_an_id_minted_from_a_uuid_keeps_only_its_prefix() -> None:
    value = {"id": "act-7898e47618e94d6a81bd63f0b06a1566", "note": "golden-command"}

    assert normalise(value) == {"id": "<act-id>", "note": "golden-command"}


def test_times_durations_and_host_facts_become_tokens() -> None:
    value = {
        "at": "2026-01-01T00:00:00Z",
        "openedAt": "x",
        "duration_ms": 9.1,
        "isolation": "bwrap",
    }

    assert normalise(value) == {
        "at": TIME,
        "openedAt": TIME,
        "duration_ms": "<duration>",
        "isolation": "<isolation>",
    }


def test_json_text_is_normalised_inside_and_stable_text_kept_byte_for_byte() -> None:
    timed = json.dumps({"node_id": "exec-1", "accepted_at": "2026-01-01T00:00:00Z"})
    stable = '{"b": 1, "a": [true]}'

    shown = normalise({"output": timed, "input": stable})

    assert json.loads(shown["output"]) == {"node_id": "exec-1", "accepted_at": TIME}
    assert shown["input"] == stable


def test_a_hash_over_a_request_is_a_token_only_when_the_run_has_fresh_ids() -> None:
    value = {"request_sha256": "ab" * 32}

    assert normalise(value, ids=IDS) == {"request_sha256": "<sha256-over-ids>"}
    assert normalise(value) == value


def test_a_timed_artifact_loses_its_hash_and_size_and_others_keep_theirs() -> None:
    rows = [
        {"type": "node-result", "sha256": "aa", "size": 366},
        {"type": "node-stdout", "sha256": "bb", "size": 24},
    ]

    assert normalise(rows) == [
        {"type": "node-result", "sha256": "<sha256-of-timed-record>", "size": "<size>"},
        {"type": "node-stdout", "sha256": "bb", "size": 24},
    ]

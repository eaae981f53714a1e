from __future__ import annotations

import pytest

from jejakekal.domain.compiler import apply_patch, compile_plan, lane_words, lanes_of
from jejakekal.domain.errors import InvalidIntentId, InvalidRunId
from jejakekal.domain.ids import check_raw_path, is_valid_id, parse_run_id
from jejakekal.domain.lifecycle import DocStatus, RunStatus, reconcile, reconcile_doc
from jejakekal.domain.plan import PatchOp


@pytest.mark.parametrize("value", ["run-1", "intent-abc", "a:b.c_d-e", "A" * 128])
def test_valid_ids_pass(value: str) -> None:
    assert parse_run_id(value) == value


@pytest.mark.parametrize(
    "value", ["", "..", "a..b", "../x", "-lead", "a/b", "a b", "A" * 129, "abc\n", "a\x00"]
)
def test_hostile_ids_are_rejected(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidRunId):
        parse_run_id(value)


@pytest.mark.parametrize(
    "raw", ["/runs/%2E%2E", "/runs/..%2Fx/export", "/runs/%252E%252E", "/runs/abc%0A"]
)
def test_raw_paths_are_decoded_once_and_judged(raw: str) -> None:
    # Decoded once, "%252E%252E" is "%2E%2E": not traversal, but no valid id either.
    with pytest.raises(InvalidRunId):
        check_raw_path(raw)


def test_raw_intent_path_with_traversal_is_rejected() -> None:
    with pytest.raises(InvalidIntentId):
        check_raw_path("/intents/..%2Fetc/run")


def test_compiler_is_deterministic_and_counts_nodes() -> None:
    a = compile_plan("demo", {"k": 1}, "compile-default", 3, 2)
    b = compile_plan("demo", {"k": 1}, "compile-default", 3, 2)
    assert a == b
    assert a.node_ids == ["exec-1", "exec-2", "exec-3"]


@pytest.mark.parametrize(
    "goal",
    [
        "Summarise why the deploy failed",
        "Task: clean the slowest queries",
        "flask app upgrade",
        "a failure, flakiness, asking, rejection",
        "fail_mode is not a lane",
    ],
)
def test_a_lane_is_named_by_a_whole_word_only(goal: str) -> None:
    lanes = lanes_of(goal)

    assert (lanes.ask, lanes.fail, lanes.flaky, lanes.slow) == (False, False, False, False)
    assert lanes.selected_by == {}


def test_the_plan_says_which_word_chose_each_lane() -> None:
    lanes = compile_plan("Please ASK, then Fail", {}, "compile-default", 1, 1).lanes

    assert (lanes.ask, lanes.fail, lanes.flaky) == (True, True, False)
    assert lanes.selected_by == {"ask": "ASK", "fail": "Fail"}
    assert lane_words("reject this plan") == {"reject": "reject"}


def test_lanes_follow_the_goal() -> None:
    assert lanes_of("Please ASK me").ask
    assert lanes_of("fail me").fail_mode == "always"
    assert lanes_of("flaky thing").fail_mode == "first"
    assert lanes_of("demo chain").fail_mode == "none"


def test_patch_applies_add_replace_remove() -> None:
    state = apply_patch(
        {"a": 1},
        [
            PatchOp(op="replace", path="/a", value=2),
            PatchOp(op="add", path="/b", value=3),
            PatchOp(op="remove", path="/a"),
        ],
    )
    assert state == {"b": 3}


def test_engine_cancel_wins_over_app_status() -> None:
    assert reconcile(RunStatus.RUNNING, "CANCELLED") is RunStatus.CANCELED


def test_terminal_app_status_waits_for_the_engine_to_close() -> None:
    assert reconcile(RunStatus.SUCCEEDED, "PENDING") is RunStatus.RUNNING
    assert reconcile(RunStatus.SUCCEEDED, "SUCCESS") is RunStatus.SUCCEEDED


def test_a_queued_run_a_worker_has_picked_up_is_running() -> None:
    assert reconcile(RunStatus.QUEUED, "ENQUEUED") is RunStatus.QUEUED
    assert reconcile(RunStatus.QUEUED, "PENDING") is RunStatus.RUNNING  # e.g. a retry


def test_engine_error_unseen_by_the_app_is_a_failure() -> None:
    assert reconcile(RunStatus.RUNNING, "ERROR") is RunStatus.FAILED
    assert reconcile(RunStatus.RETRIES_EXCEEDED, "ERROR") is RunStatus.RETRIES_EXCEEDED


@pytest.mark.parametrize(
    ("app", "engine", "shown"),
    [
        ("running", None, "running"),  # committed, workflow not started yet
        ("running", "ENQUEUED", "running"),
        ("done", "PENDING", "running"),  # finalize committed, engine not closed yet
        ("done", "SUCCESS", "done"),
        ("running", "ERROR", "error"),
        ("running", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "error"),
        ("running", "CANCELLED", "unknown"),
        ("done", None, "unknown"),  # engine rows reset under a finished run
    ],
)
def test_a_document_run_shows_done_only_when_the_engine_agrees(
    app: str, engine: str | None, shown: str
) -> None:
    assert reconcile_doc(DocStatus(app), engine) == DocStatus(shown)

"""ExecuteST's record: each node merges its outcome into the step's output, in any order,
possibly replayed; the output keeps plan order, and the node that completes the set
finishes the step with the most attempts any node took."""

from __future__ import annotations

import itertools
import json
from functools import reduce

import pytest

from jejakekal.domain.execute import (
    Merged,
    Node,
    failed_output,
    merge_node,
    plan_order,
    reopened_output,
)

RUN = "run-b9fe84e0c0451ea9686feab4"


def _node(node_id: str, attempt: int = 1, accepted_at: str = "2026-12-07T11:56:45+00:00") -> Node:
    return Node(
        node_id=node_id,
        attempt=attempt,
        exit_code=0,
        isolation="bwrap",
        receipt={"receipt_key": f"{RUN}:ExecuteST:{node_id}", "accepted_at": accepted_at},
    )


def _arrive(arrivals: list[Node], node_count: int) -> list[Merged]:
    """Each node in turn merges into what the ones before it recorded."""
    merges: list[Merged] = []
    for node in arrivals:
        recorded = merges[-1].nodes if merges else []
        merges.append(merge_node(recorded, node, node_count))
    return merges


def test_node_ids_sort_in_plan_order() -> None:
    ids = ["exec-10", "exec-2", "exec-1", "exec-11", "exec-9"]

    assert sorted(ids, key=plan_order) == ["exec-1", "exec-2", "exec-9", "exec-10", "exec-11"]


def test_a_merge_keeps_plan_order_whatever_the_arrival_order() -> None:
    merges = _arrive([_node("exec-10"), _node("exec-2"), _node("exec-1")], node_count=10)

    assert [n["node_id"] for n in merges[-1].nodes] == ["exec-1", "exec-2", "exec-10"]


def test_the_step_finishes_only_once_every_node_has_recorded_itself() -> None:
    merges = _arrive([_node("exec-1"), _node("exec-3"), _node("exec-2")], node_count=3)

    assert [m.finished for m in merges] == [False, False, True]
    assert [m.attempt for m in merges] == [None, None, 1]


def test_a_finished_step_takes_the_most_attempts_any_node_took() -> None:
    merges = _arrive([_node("exec-1", 1), _node("exec-2", 3), _node("exec-3", 2)], node_count=3)

    assert merges[-1].attempt == 3
    assert merges[-1].output() == {"attempt": 3, "nodes": merges[-1].nodes}


def test_a_replayed_node_replaces_its_entry_and_finishes_nothing() -> None:
    first = _node("exec-1", 1, accepted_at="2026-12-07T11:56:45+00:00")
    replay = _node("exec-1", 2, accepted_at="2026-12-07T11:57:00+00:00")

    merges = _arrive([first, replay], node_count=2)

    assert merges[-1].nodes == [replay]
    assert not merges[-1].finished
    assert merges[-1].attempt is None


def test_a_replay_of_the_last_node_finishes_the_step_again_alike() -> None:
    recorded = _arrive([_node("exec-2"), _node("exec-1")], node_count=2)[-1]

    again = merge_node(recorded.nodes, _node("exec-1"), 2)

    assert again == recorded
    assert again.finished


def test_a_run_of_one_node_finishes_with_it_and_reads_nothing() -> None:
    merged = merge_node([], _node("exec-1", 2), 1)

    assert merged == Merged(nodes=[_node("exec-1", 2)], finished=True, attempt=2)


def test_a_merge_leaves_the_recorded_list_as_it_was() -> None:
    recorded = [_node("exec-2")]

    merge_node(recorded, _node("exec-1"), 2)
    merge_node(recorded, _node("exec-2", 2), 2)

    assert recorded == [_node("exec-2")]


NODES = [_node(f"exec-{i}", attempt) for i, attempt in zip(range(1, 5), [1, 3, 1, 2], strict=True)]


def _order(arrivals: tuple[Node, ...]) -> str:
    return ",".join(node["node_id"] for node in arrivals)


@pytest.mark.parametrize("arrivals", list(itertools.permutations(NODES)), ids=_order)
def test_any_order_of_arrivals_gives_the_same_output(arrivals: tuple[Node, ...]) -> None:
    merges = _arrive(list(arrivals), node_count=len(NODES))

    assert merges[-1].output() == {"attempt": 3, "nodes": NODES}
    assert [m.finished for m in merges] == [False, False, False, True]


def test_any_order_with_replays_of_the_same_outcome_gives_the_same_output() -> None:
    # A node replayed after a crash between its commit and its checkpoint records the
    # same outcome again: arriving twice, anywhere in the order, changes nothing.
    arrivals = [*NODES[:3], NODES[0], NODES[2]]
    finals = set()
    for order in itertools.permutations(arrivals):
        merges = _arrive(list(order), node_count=3)
        finals.add(json.dumps(merges[-1].output()))
        # Once finished, a step stays finished whatever arrives after.
        finished = [m.finished for m in merges]
        assert finished == sorted(finished)

    assert finals == {json.dumps({"attempt": 3, "nodes": NODES[:3]})}


def test_concurrent_merges_fold_like_one_sequence() -> None:
    # The row lock serialises writers: each merge starts from the last one's nodes.
    final = reduce(
        lambda merged, node: merge_node(merged.nodes, node, 4),
        NODES[1:],
        merge_node([], NODES[0], 4),
    )

    assert final == Merged(nodes=NODES, finished=True, attempt=3)


# The ExecuteST outputs release c7734f8 wrote in tests/fixtures/release2.sqlite: one run
# mid-flight (exec-1 done after a retry, exec-2 not yet), one finished.
RELEASE2_RUNNING = (
    '{"attempt": null, "nodes": [{"node_id": "exec-1", "attempt": 2, "exit_code": 0, '
    '"isolation": "bwrap", "receipt": {"receipt_key": '
    '"run-b9fe84e0c0451ea9686feab4:ExecuteST:exec-1", '
    '"accepted_at": "2026-12-07T11:56:45.974066+00:00"}}]}'
)
RELEASE2_DONE = (
    '{"attempt": 1, "nodes": [{"node_id": "exec-1", "attempt": 1, "exit_code": 0, '
    '"isolation": "bwrap", "receipt": {"receipt_key": '
    '"run-08f83bbf3b558b9b1703b402:ExecuteST:exec-1", '
    '"accepted_at": "2026-12-07T11:56:40.729894+00:00"}}, {"node_id": "exec-2", '
    '"attempt": 1, "exit_code": 0, "isolation": "bwrap", "receipt": {"receipt_key": '
    '"run-08f83bbf3b558b9b1703b402:ExecuteST:exec-2", '
    '"accepted_at": "2026-12-07T11:56:40.771085+00:00"}}]}'
)


def test_the_merge_writes_what_the_old_release_wrote_mid_flight() -> None:
    stored = json.loads(RELEASE2_RUNNING)

    merged = merge_node([], stored["nodes"][0], 2)

    assert json.dumps(merged.output()) == RELEASE2_RUNNING


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_merge_writes_what_the_old_release_wrote_once_finished(
    order: tuple[int, int],
) -> None:
    nodes = json.loads(RELEASE2_DONE)["nodes"]

    merges = _arrive([nodes[i] for i in order], node_count=2)

    assert json.dumps(merges[-1].output()) == RELEASE2_DONE


def test_a_failed_step_keeps_the_nodes_that_finished() -> None:
    recorded = [_node("exec-1")]

    output = failed_output(recorded, 3, "ExecuteST failed after 3 attempts")

    assert output == {
        "attempt": 3,
        "error": "ExecuteST failed after 3 attempts",
        "nodes": [_node("exec-1")],
    }


def test_a_step_failed_before_any_node_finished_lists_none() -> None:
    # As release1's retries_exceeded run recorded it.
    output = failed_output([], 3, "ExecuteST failed after 3 attempts: DBOS Error 7")

    assert json.dumps(output) == (
        '{"attempt": 3, "error": "ExecuteST failed after 3 attempts: DBOS Error 7", "nodes": []}'
    )


def test_a_reopened_step_is_unfinished_and_keeps_its_nodes() -> None:
    recorded = [_node("exec-1"), _node("exec-3")]

    output = reopened_output(recorded)

    assert output == {"attempt": None, "nodes": recorded}
    # A node that re-runs after the reopen replaces its entry; the set then finishes.
    merged = merge_node(output["nodes"], _node("exec-2", 2), 3)
    assert (merged.finished, merged.attempt) == (True, 2)

"""The typed plan reads what earlier releases checkpointed and writes it back unchanged.

The checkpoints are real ones: CompileST's rows in DBOS `operation_outputs` of the two
release fixtures, stored as portable JSON. A replayed run hands that text to `Plan`, and
later steps hash and checkpoint what `Plan` gives back, so it must be the same bytes."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOSPortableJSONSerializer

from jejakekal.domain import names
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import compile_plan
from jejakekal.domain.plan import PatchOp, Plan, PlanLanes

FIXTURES = Path(__file__).parent.parent / "fixtures"
SERIALIZER = DBOSPortableJSONSerializer()


def _checkpoints() -> list[tuple[str, str]]:
    """(release fixture and workflow id, stored text) of every CompileST checkpoint."""
    found = []
    for name in ("release1.sqlite", "release2.sqlite"):
        # Read-only and immutable: the fixture file is never touched.
        uri = f"file:{FIXTURES / name}?mode=ro&immutable=1"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            rows = conn.execute(
                "SELECT workflow_uuid, output, serialization FROM operation_outputs"
                " WHERE function_name = ? ORDER BY workflow_uuid",
                (names.STEP_COMPILE,),
            ).fetchall()
        for workflow_id, output, serialization in rows:
            assert serialization == SERIALIZER.name()
            found.append((f"{name}:{workflow_id}", output))
    return found


CHECKPOINTS = _checkpoints()


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def test_both_releases_left_compile_checkpoints_of_every_lane() -> None:
    lanes = [Plan.model_validate(SERIALIZER.deserialize(text)).lanes for _, text in CHECKPOINTS]

    assert len(CHECKPOINTS) == 7
    assert {"release1", "release2"} == {key.split(".")[0] for key, _ in CHECKPOINTS}
    assert {lane.fail_mode for lane in lanes} == {"none", "always", "first"}
    assert any(lane.ask for lane in lanes)


@pytest.mark.parametrize("text", [text for _, text in CHECKPOINTS], ids=[k for k, _ in CHECKPOINTS])
def test_an_old_checkpoint_validates_and_dumps_back_byte_identical(text: str) -> None:
    stored = SERIALIZER.deserialize(text)

    plan = Plan.model_validate(stored)

    assert SERIALIZER.serialize(plan.checkpoint()) == text
    assert canonical_json(plan.checkpoint()) == canonical_json(stored)


@pytest.mark.parametrize("text", [text for _, text in CHECKPOINTS], ids=[k for k, _ in CHECKPOINTS])
def test_an_old_checkpoint_hashes_to_its_plan_sha256(text: str) -> None:
    plan = Plan.model_validate(SERIALIZER.deserialize(text))
    unhashed = {k: v for k, v in plan.checkpoint().items() if k != "plan_sha256"}

    assert plan.plan_sha256 == _sha256(unhashed)


@pytest.mark.parametrize("text", [text for _, text in CHECKPOINTS], ids=[k for k, _ in CHECKPOINTS])
def test_an_old_checkpoint_names_its_goal_and_nodes(text: str) -> None:
    stored = SERIALIZER.deserialize(text)

    plan = Plan.model_validate(stored)

    assert plan.goal == stored["patch"][0]["value"]
    assert all(node.env["JJK_GOAL"] == plan.goal for node in plan.workload.nodes)
    assert plan.node_ids == [f"exec-{i}" for i in range(1, plan.workload.steps + 1)]
    assert plan.node_ids == stored["patch"][2]["value"]


@pytest.mark.parametrize("text", [text for _, text in CHECKPOINTS], ids=[k for k, _ in CHECKPOINTS])
def test_this_compiler_compiles_an_old_plan_again_to_the_same_plan_and_the_lane_words(
    text: str,
) -> None:
    stored = SERIALIZER.deserialize(text)
    old = Plan.model_validate(stored)
    inputs = next(op.value for op in old.patch if op.path == "/inputs")

    plan = compile_plan(old.goal, inputs, old.recipe, old.workload.steps, old.workload.concurrency)

    # The old goals name their lanes as whole words, so the lanes are the same; the plan
    # now also says which word chose each (and so its hash differs).
    assert plan.lanes.selected_by is not None
    assert sorted(plan.lanes.selected_by) == sorted(
        lane for lane in ("ask", "fail", "flaky", "slow") if getattr(old.lanes, lane)
    )
    again = plan.checkpoint()
    again["lanes"] = {k: v for k, v in plan.lanes.model_dump().items() if k != "selected_by"}
    again["plan_sha256"] = old.plan_sha256
    assert SERIALIZER.serialize(again) == text


GOALS = [
    "Compile the chain",
    "please ASK before deploying",
    "fail every attempt",
    "a flaky node",
    "a slow one",
    "ask, then fail, though flaky and slow",
    'quotes " and \\ and é and 日本',
]


@pytest.mark.parametrize(
    ("goal", "steps"), list(itertools.product(GOALS, [1, 2, 10])), ids=lambda v: str(v)
)
def test_a_compiled_plan_survives_its_own_checkpoint(goal: str, steps: int) -> None:
    plan = compile_plan(goal, {"ticket": "JJK-1", "n": [1, 2]}, "compile-default", steps, 2)
    checkpoint = plan.checkpoint()
    text = SERIALIZER.serialize(checkpoint)

    replayed = Plan.model_validate(SERIALIZER.deserialize(text))

    assert replayed == plan
    assert SERIALIZER.serialize(replayed.checkpoint()) == text
    assert plan.plan_sha256 == _sha256({k: v for k, v in checkpoint.items() if k != "plan_sha256"})
    assert replayed.goal == goal
    assert replayed.node_ids == [f"exec-{i}" for i in range(1, steps + 1)]


@pytest.mark.parametrize(
    ("fail", "flaky", "mode"),
    [
        (False, False, "none"),
        (False, True, "first"),
        (True, False, "always"),
        (True, True, "always"),
    ],
)
def test_a_failing_lane_wins_over_a_flaky_one(fail: bool, flaky: bool, mode: str) -> None:
    assert PlanLanes(ask=False, fail=fail, flaky=flaky).fail_mode == mode


def test_lanes_without_slow_are_not_slow() -> None:
    # Checkpoints older than the slow lane carry no "slow" key.
    assert PlanLanes.model_validate({"ask": True, "fail": False, "flaky": False}).slow is False


def _plan_with_patch(patch: list[dict[str, Any]]) -> Plan:
    checkpoint = compile_plan("the goal", {}, "compile-default", 1, 1).checkpoint()
    return Plan.model_validate({**checkpoint, "patch": patch})


def test_a_patch_that_replaces_the_goal_sets_it() -> None:
    plan = _plan_with_patch(
        [
            {"op": "add", "path": "/inputs", "value": {}},
            {"op": "replace", "path": "/goal", "value": "replaced"},
        ]
    )

    assert plan.goal == "replaced"
    assert plan.patch[1] == PatchOp(op="replace", path="/goal", value="replaced")


@pytest.mark.parametrize(
    "patch",
    [[], [{"op": "remove", "path": "/goal"}], [{"op": "add", "path": "/inputs", "value": {}}]],
)
def test_a_plan_whose_patch_sets_no_goal_has_none(patch: list[dict[str, Any]]) -> None:
    plan = _plan_with_patch(patch)

    with pytest.raises(ValueError, match="sets no /goal"):
        _ = plan.goal


def test_a_checkpoint_is_plain_json() -> None:
    checkpoint = compile_plan("the goal", {}, "compile-default", 2, 1).checkpoint()

    assert json.loads(json.dumps(checkpoint)) == checkpoint

"""The default, deterministic compiler: intent + recipe + workload -> plan.

Lanes (used by the courses and tests) are read from the goal's whole words: `ask`
waits for human input after DecideST, `fail` makes ExecuteST fail on every attempt,
`flaky` makes it fail on its first attempt only, `slow` makes each node sleep first, and
the stub decider rejects a plan whose goal says `reject`. "fail me" fails; "the deploy
failed" and "Task: ..." select nothing. The plan records the word that selected each
lane (`lanes.selected_by`).
"""

from __future__ import annotations

import hashlib
import re
import shlex

from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.gates import Gate, plan_gate
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.plan import PatchOp, Plan, PlanLanes
from jejakekal.domain.ports import NodeDraft, PlannerReply

# The seeded recipes name this version. Lanes became whole words under it (they were
# substrings, so "Task" asked and "failed" failed); such plans carry `lanes.selected_by`.
COMPILER_VERSION = "compile-default/1"
LANE_WORDS = ("ask", "fail", "flaky", "slow", "reject")
_WORD = re.compile(r"\w+")

NODE_SCRIPT = 'printf "step %s of %s: %s\\n" "$JJK_STEP" "$JJK_STEPS" "$JJK_GOAL" | tee out.txt'
# The `slow` lane gives drills a window to kill a worker while ExecuteST runs.
SLOW_SECONDS = 2


def lane_words(goal: str) -> dict[str, str]:
    """Each lane the goal names as a whole word (any case), with the word as written."""
    found: dict[str, str] = {}
    for word in _WORD.findall(goal):
        lane = word.lower()
        if lane in LANE_WORDS and lane not in found:
            found[lane] = word
    return found


def lanes_of(goal: str) -> PlanLanes:
    words = lane_words(goal)
    return PlanLanes(
        ask="ask" in words,
        fail="fail" in words,
        flaky="flaky" in words,
        slow="slow" in words,
        selected_by={lane: word for lane, word in words.items() if lane != "reject"},
    )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stub_nodes(goal: str, steps: int, lanes: PlanLanes) -> list[NodeDraft]:
    """The stub planner's nodes: each prints its place in the run and the goal."""
    script = f"sleep {SLOW_SECONDS}; {NODE_SCRIPT}" if lanes.slow else NODE_SCRIPT
    return [
        NodeDraft(
            argv=["/bin/sh", "-c", script],
            env={"JJK_GOAL": goal, "JJK_STEP": str(i), "JJK_STEPS": str(steps)},
        )
        for i in range(1, steps + 1)
    ]


def compile_plan(
    goal: str, inputs: JsonObject, recipe_name: str, steps: int, concurrency: int
) -> Plan:
    """The stub planner's plan (the default recipe's): the courses' demo lanes."""
    lanes = lanes_of(goal)
    reply = PlannerReply(
        nodes=tuple(stub_nodes(goal, steps, lanes)), compiler=COMPILER_VERSION, lanes=lanes
    )
    return build_plan(goal, inputs, recipe_name, reply, concurrency=concurrency, iteration=1)


def node_id(iteration: int, index: int) -> str:
    """`exec-<i>` in the first plan, `exec-<iteration>.<i>` in the agent loop's later ones."""
    return f"exec-{index}" if iteration == 1 else f"exec-{iteration}.{index}"


def build_plan(
    goal: str,
    inputs: JsonObject,
    recipe_name: str,
    reply: PlannerReply,
    *,
    concurrency: int,
    iteration: int,
    approval: bool = False,
) -> Plan:
    """A plan from a planner's reply: a patch to apply, and the execution nodes (none
    when the planner answered `done`). Its hash covers everything else in it."""
    nodes: list[JsonObject] = []
    for i, draft in enumerate(reply.nodes, start=1):
        node: JsonObject = {
            "node_id": node_id(iteration, i),
            "kind": "sandbox",
            "argv": list(draft.argv),
            "env": dict(draft.env),
        }
        if draft.purpose:
            node["purpose"] = draft.purpose
        if draft.expected_outputs:
            node["expected_outputs"] = list(draft.expected_outputs)
        if reply.files:
            node["files"] = dict(reply.files)
        nodes.append(node)
    patch = [
        {"op": "add", "path": "/goal", "value": goal},
        {"op": "add", "path": "/inputs", "value": inputs},
        {"op": "add", "path": "/nodes", "value": [n["node_id"] for n in nodes]},
    ]
    lanes = reply.lanes or PlanLanes(ask=False, fail=False, flaky=False)
    plan: JsonObject = {
        "compiler": reply.compiler,
        "recipe": recipe_name,
        "lanes": lanes.model_dump(exclude_none=True) if reply.lanes is None else lanes.model_dump(),
        "patch": patch,
        "workload": {"concurrency": concurrency, "steps": len(nodes), "nodes": nodes},
    }
    if iteration > 1:
        plan["iteration"] = iteration
    if reply.done:
        plan["answer"] = reply.answer or ""
    gates = [g.spec() for g in reply.gates]
    if approval and nodes:
        gates.insert(0, plan_gate([shlex.join(d.argv) for d in reply.nodes]).spec())
    if gates and nodes:
        plan["gates"] = gates
    return Plan.model_validate({**plan, "plan_sha256": sha256_text(canonical_json(plan))})


def apply_patch(state: JsonObject, patch: list[PatchOp]) -> JsonObject:
    """Apply `add`/`replace`/`remove` ops on top-level keys of the workspace state."""
    result = dict(state)
    for op in patch:
        key = op.path.lstrip("/")
        if op.op == "remove":
            result.pop(key, None)
        else:
            result[key] = op.value
    return result


def reply_json(reply: PlannerReply) -> JsonObject:
    """A planner's reply as the effect ledger keeps it (read back by `reply_from_json`)."""
    return {
        "nodes": [
            {
                "argv": list(n.argv),
                "purpose": n.purpose,
                "expected_outputs": list(n.expected_outputs),
                "env": dict(n.env),
            }
            for n in reply.nodes
        ],
        "done": reply.done,
        "answer": reply.answer,
        "compiler": reply.compiler,
        "files": dict(reply.files),
        **({"gates": [g.spec() for g in reply.gates]} if reply.gates else {}),
    }


def reply_from_json(data: JsonObject) -> PlannerReply:
    nodes = data.get("nodes")
    files = data.get("files")
    answer = data.get("answer")
    return PlannerReply(
        nodes=tuple(
            NodeDraft(
                argv=[str(a) for a in n["argv"]],
                purpose=str(n.get("purpose") or ""),
                expected_outputs=tuple(str(o) for o in n.get("expected_outputs") or ()),
                env={str(k): str(v) for k, v in (n.get("env") or {}).items()},
            )
            for n in (nodes if isinstance(nodes, list) else [])
        ),
        done=bool(data.get("done")),
        answer=None if answer is None else str(answer),
        compiler=str(data.get("compiler") or ""),
        files={str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {},
        gates=tuple(Gate.model_validate(g) for g in _list(data.get("gates"))),
    )


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []

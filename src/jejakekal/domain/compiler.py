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

from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.plan import PatchOp, Plan, PlanLanes

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


def compile_plan(
    goal: str, inputs: JsonObject, recipe_name: str, steps: int, concurrency: int
) -> Plan:
    """A plan: a compile node, a patch to apply, a decide node and the execution nodes."""
    lanes = lanes_of(goal)
    script = f"sleep {SLOW_SECONDS}; {NODE_SCRIPT}" if lanes.slow else NODE_SCRIPT
    nodes = [
        {
            "node_id": f"exec-{i}",
            "kind": "sandbox",
            "argv": ["/bin/sh", "-c", script],
            "env": {"JJK_GOAL": goal, "JJK_STEP": str(i), "JJK_STEPS": str(steps)},
        }
        for i in range(1, steps + 1)
    ]
    patch = [
        {"op": "add", "path": "/goal", "value": goal},
        {"op": "add", "path": "/inputs", "value": inputs},
        {"op": "add", "path": "/nodes", "value": [n["node_id"] for n in nodes]},
    ]
    plan = {
        "compiler": COMPILER_VERSION,
        "recipe": recipe_name,
        "lanes": lanes.model_dump(),
        "patch": patch,
        "workload": {"concurrency": concurrency, "steps": steps, "nodes": nodes},
    }
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

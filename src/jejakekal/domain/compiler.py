"""The default, deterministic compiler: intent + recipe + workload -> plan.

Lanes (used by the courses and tests) are read from the goal: `ask` waits for
human input after DecideST, `fail` makes ExecuteST fail on every attempt, `flaky`
makes it fail on its first attempt only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

COMPILER_VERSION = "compile-default/1"

NODE_SCRIPT = 'printf "step %s of %s: %s\\n" "$JJK_STEP" "$JJK_STEPS" "$JJK_GOAL" | tee out.txt'
# The `slow` lane gives drills a window to kill a worker while ExecuteST runs.
SLOW_SECONDS = 2


@dataclass(frozen=True)
class Lanes:
    ask: bool
    fail: bool
    flaky: bool
    slow: bool = False

    @property
    def fail_mode(self) -> str:
        return "always" if self.fail else "first" if self.flaky else "none"


def lanes_of(goal: str) -> Lanes:
    g = goal.lower()
    return Lanes(ask="ask" in g, fail="fail" in g, flaky="flaky" in g, slow="slow" in g)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compile_plan(
    goal: str, inputs: dict[str, Any], recipe_name: str, steps: int, concurrency: int
) -> dict[str, Any]:
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
        "lanes": {"ask": lanes.ask, "fail": lanes.fail, "flaky": lanes.flaky, "slow": lanes.slow},
        "patch": patch,
        "workload": {"concurrency": concurrency, "steps": steps, "nodes": nodes},
    }
    return {**plan, "plan_sha256": sha256_text(canonical_json(plan))}


def apply_patch(state: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply `add`/`replace`/`remove` ops on top-level keys of the workspace state."""
    result = dict(state)
    for op in patch:
        key = op["path"].lstrip("/")
        if op["op"] in ("add", "replace"):
            result[key] = op["value"]
        elif op["op"] == "remove":
            result.pop(key, None)
        else:
            raise ValueError(f"unsupported patch op {op['op']!r}")
    return result

"""Bare DBOS baseline for `jejakekal bench throughput`.

The same path as `run_intent` (compile, patch and decide steps, then the execution
node as a child workflow whose step runs the sandbox), as plain DBOS on the product's
own queues (`intentQ`, then `sandboxQ`), waiting for the child through the same
`ResultPacer`: no app rows, no run-step records, no effect ledger. The gap to
`run_intent` is the kernel's own cost.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from jejakekal.domain import names
from jejakekal.domain.compiler import apply_patch, compile_plan
from jejakekal.domain.ports import DecisionRequest, ExecNode
from jejakekal.workflows.runtime import current

WF_BARE = "bench_bare"


@DBOS.step(name="bare.CompileST")
def _compile(goal: str) -> dict[str, Any]:
    return compile_plan(goal, {}, "compile-default", 1, 1)


@DBOS.step(name="bare.ApplyPatchST")
def _patch(plan: dict[str, Any]) -> dict[str, Any]:
    return apply_patch({}, plan["patch"])


@DBOS.step(name="bare.DecideST")
def _decide(plan: dict[str, Any]) -> dict[str, Any]:
    request = DecisionRequest("bare", plan["patch"][0]["value"], plan["plan_sha256"], [])
    return current().decider.decide(request).response


@DBOS.step(name="bare.ExecuteST")
def _execute(node: dict[str, Any]) -> int:
    result = current().sandbox.execute(ExecNode(node["node_id"], node["argv"], node["env"], 60))
    return result.exit_code


@DBOS.workflow(name="bench_bare_node")
def bench_bare_node(node: dict[str, Any]) -> int:
    return _execute(node)


@DBOS.workflow(name=WF_BARE)
def bench_bare(goal: str) -> int:
    plan = _compile(goal)
    _patch(plan)
    _decide(plan)
    queue = DBOS.retrieve_queue(names.SANDBOX_QUEUE)
    assert queue is not None
    handle = queue.enqueue(bench_bare_node, plan["workload"]["nodes"][0])
    exit_code: int = current().results.result(handle)
    return exit_code

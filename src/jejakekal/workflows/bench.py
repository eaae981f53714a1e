"""Bare DBOS baselines for `jejakekal bench throughput` and `jejakekal bench ingest`.

`bench_bare` takes the same path as `run_intent` (compile, patch and decide steps, then
the execution node as a child workflow whose step runs the sandbox), as plain DBOS on
the product's own queues (`intentQ`, then `sandboxQ`), waiting for the child through
the same `ResultPacer`: no app rows, no run-step records, no effect ledger. The gap to
`run_intent` is the kernel's own cost.

`bench_bare_doc` has the four operations of `doc_ingest` (a step, `DBOS.sleep`, a step
with retries, a step) and does the same document work (hashing, docir, chunks, memo)
without storing anything: no run row, no artifacts, chunks or search index, no effect
ledger, no finalize check of stored bytes. The gap to `doc_ingest` is what keeping the
document costs.
"""

from __future__ import annotations

from typing import TypedDict

from dbos import DBOS

from jejakekal.domain import documents as docs
from jejakekal.domain import names
from jejakekal.domain.compiler import apply_patch, compile_plan
from jejakekal.domain.contracts import DocIngestInput
from jejakekal.domain.formats import RAW_TYPES
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.plan import Plan
from jejakekal.domain.ports import Decision, DecisionRequest, ExecNode
from jejakekal.workflows import doc_steps
from jejakekal.workflows.runtime import MIN_SLEEP_SEC, current

WF_BARE = "bench_bare"
WF_BARE_DOC = "bench_bare_doc"


class BareNode(TypedDict):
    """The input of `bench_bare_node`: the plan node to run."""

    node_id: str
    argv: list[str]
    env: dict[str, str]


class Digest(TypedDict):
    sha256: str
    size: int


class BareBuilt(TypedDict):
    """What the side-effect step of `bench_bare_doc` built: digests, nothing stored."""

    artifacts: dict[str, Digest]
    chunks: int


class BareDocResult(TypedDict):
    status: str
    artifacts: list[str]


@DBOS.step(name="bare.CompileST")
def _compile(goal: str) -> JsonObject:
    return compile_plan(goal, {}, "compile-default", 1, 1).checkpoint()


@DBOS.step(name="bare.ApplyPatchST")
def _patch(plan: Plan) -> JsonObject:
    return apply_patch({}, plan.patch)


@DBOS.step(name="bare.DecideST")
def _decide(plan: Plan) -> Decision:
    request = DecisionRequest("bare", plan.goal, plan.plan_sha256, [])
    return current().decider.decide(request).response


@DBOS.step(name="bare.ExecuteST")
def _execute(node: BareNode) -> int:
    result = current().sandbox.execute(ExecNode(node["node_id"], node["argv"], node["env"], 60))
    return result.exit_code


@DBOS.workflow(name="bench_bare_node")
def bench_bare_node(node: BareNode) -> int:
    return _execute(node)


@DBOS.workflow(name=WF_BARE)
def bench_bare(goal: str) -> int:
    plan = Plan.model_validate(_compile(goal))
    _patch(plan)
    _decide(plan)
    queue = DBOS.retrieve_queue(names.SANDBOX_QUEUE)
    assert queue is not None
    first = plan.workload.nodes[0]
    node: BareNode = {"node_id": first.node_id, "argv": first.argv, "env": first.env}
    handle = queue.enqueue(bench_bare_node, node)
    exit_code: int = current().results.result(handle)
    return exit_code


def _doc_prepare(request: JsonObject) -> doc_steps.Prepared:
    inp = DocIngestInput.model_validate(request)
    raw = inp.source.encode("utf-8")
    return {
        "raw_sha256": docs.sha256_hex(raw),
        "size": len(raw),
        "format": inp.format,
        "content_type": RAW_TYPES[inp.format],
        "source_kind": inp.source_kind,
    }


def _doc_build(request: JsonObject, prepared: doc_steps.Prepared) -> BareBuilt:
    inp = DocIngestInput.model_validate(request)
    built = doc_steps.build(inp, prepared, current().parsers[inp.format])
    return {
        "artifacts": {
            a.type: {"sha256": docs.sha256_hex(a.content), "size": len(a.content)}
            for a in built.artifacts
        },
        "chunks": len(built.chunks),
    }


def _doc_finalize(built: BareBuilt) -> list[str]:
    return sorted(built["artifacts"])


@DBOS.workflow(name=WF_BARE_DOC)
def bench_bare_doc(request: JsonObject) -> BareDocResult:
    prepared = DBOS.run_step({"name": "bare.prepare"}, _doc_prepare, request)
    DBOS.sleep(MIN_SLEEP_SEC)
    built = DBOS.run_step(
        {"name": "bare.side-effect", "retries_allowed": True, "max_attempts": 3},
        _doc_build,
        request,
        prepared,
    )
    artifacts = DBOS.run_step({"name": "bare.finalize"}, _doc_finalize, built)
    return {"status": "done", "artifacts": artifacts}

"""ExecuteST's record, pure: how one node's outcome merges into the step's output.

Nodes finish in any order, possibly at once, and each records itself in the one
ExecuteST row of its run; the node that completes the set closes the step. A replayed
node replaces its own entry instead of adding a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict


class Receipt(TypedDict):
    """The mock external system's answer to a node's delivery."""

    receipt_key: str
    accepted_at: str


class Node(TypedDict):
    """One node's summary, as ExecuteST's output lists it."""

    node_id: str
    attempt: int
    exit_code: int
    isolation: str
    receipt: Receipt


class Output(TypedDict):
    """ExecuteST's `output` column."""

    attempt: int | None
    nodes: list[Node]
    error: NotRequired[str]  # once a node gave up


@dataclass(frozen=True)
class Merged:
    nodes: list[Node]  # in plan order
    finished: bool  # every node of the run has recorded itself
    attempt: int | None  # the most attempts any node took, once finished

    def output(self) -> Output:
        return Output(attempt=self.attempt, nodes=self.nodes)


def plan_order(node_id: str) -> tuple[int, str]:
    """exec-2 before exec-10: node ids share their prefix, so length then text is plan order."""
    return len(node_id), node_id


def merge_node(recorded: list[Node], node: Node, node_count: int) -> Merged:
    by_id = {n["node_id"]: n for n in recorded}
    by_id[node["node_id"]] = node
    nodes = [by_id[k] for k in sorted(by_id, key=plan_order)]
    finished = len(nodes) >= node_count
    attempt = max(n["attempt"] for n in nodes) if finished else None
    return Merged(nodes=nodes, finished=finished, attempt=attempt)


def failed_output(recorded: list[Node], attempts: int, error: str) -> Output:
    """The step's output once a node gave up: the nodes that did finish stay recorded."""
    return Output(attempt=attempts, error=error, nodes=recorded)


def reopened_output(recorded: list[Node]) -> Output:
    """The step's output when a retry reopens it: the finished nodes stay recorded."""
    return Output(attempt=None, nodes=recorded)

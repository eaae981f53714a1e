"""What a node leaves behind, as artifacts of its run (README, "Outputs").

Every attempt of a node that ran (the sandbox executed it) keeps, under ids that name
the node and the attempt (`<run>:<node>:a<n>:<what>`): a `node-result` (exit code,
fault, duration, isolation, sizes and the cuts made), its `stdout` and `stderr` (cut at
the recipe's cap), and an `out-file` per file it wrote under `out/`. Each carries its
provenance: node, attempt, the argv's sha256 and the producing step. Pure: the step
stores what this builds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypedDict

from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.ports import ExecResult

# How much of each stream a checkpoint and an observation keep (artifacts keep the rest).
TAIL_CHARS = 4096


class NodeProvenance(TypedDict):
    step: str
    producer_function_id: int | None
    node_id: str
    attempt: int
    argv_sha256: str
    inputs: list[JsonObject]
    path: str | None


@dataclass(frozen=True)
class NodeArtifact:
    artifact_id: str
    type: str
    content: bytes
    content_type: str
    sha256: str
    prov: NodeProvenance


@dataclass(frozen=True)
class OutputChunk:
    """The searchable text of one stream (`app.chunks`: `GET /search` finds it)."""

    chunk_id: str
    text: str
    sha256: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def argv_sha256(argv: list[str]) -> str:
    return sha256_bytes(canonical_json(argv).encode())


def tail(text: str, chars: int = TAIL_CHARS) -> str:
    return text if len(text) <= chars else text[-chars:]


def node_result_body(
    node_id: str, attempt: int, argv: list[str], result: ExecResult, cap: int
) -> JsonObject:
    """The `node-result` artifact's JSON."""
    return {
        "node_id": node_id,
        "attempt": attempt,
        "argv": argv,
        "exit_code": result.exit_code,
        "fault": result.fault,
        "duration_ms": round(result.duration_ms, 3),
        "isolation": result.isolation,
        "process_bound": result.process_bound,
        "stdout": {"bytes": result.stdout_bytes, "kept": len(result.stdout.encode()), "cap": cap},
        "stderr": {"bytes": result.stderr_bytes, "kept": len(result.stderr.encode()), "cap": cap},
        "out_files": [
            {"path": f.path, "bytes": f.size, "sha256": f.sha256, "truncated": f.truncated}
            for f in result.out_files
        ],
        "out_files_dropped": result.out_files_dropped,
    }


def node_artifacts(
    run_id: str,
    step_id: str,
    node_id: str,
    attempt: int,
    argv: list[str],
    result: ExecResult,
    cap: int,
) -> tuple[list[NodeArtifact], list[OutputChunk]]:
    """The artifacts and search chunks of one attempt of one node."""
    prefix = f"{run_id}:{node_id}:a{attempt}"
    argv_sha = argv_sha256(argv)

    def prov(path: str | None = None) -> NodeProvenance:
        return NodeProvenance(
            step=step_id,
            producer_function_id=None,
            node_id=node_id,
            attempt=attempt,
            argv_sha256=argv_sha,
            inputs=[],
            path=path,
        )

    def artifact(
        what: str, kind: str, content: bytes, content_type: str, path: str | None = None
    ) -> NodeArtifact:
        return NodeArtifact(
            artifact_id=f"{prefix}:{what}",
            type=kind,
            content=content,
            content_type=content_type,
            sha256=sha256_bytes(content),
            prov=prov(path),
        )

    body = node_result_body(node_id, attempt, argv, result, cap)
    stdout, stderr = result.stdout.encode(), result.stderr.encode()
    made = [
        artifact("result", "node-result", canonical_json(body).encode(), "application/json"),
        artifact("stdout", "stdout", stdout, "text/plain; charset=utf-8"),
        artifact("stderr", "stderr", stderr, "text/plain; charset=utf-8"),
    ]
    for i, out in enumerate(result.out_files, start=1):
        made.append(
            artifact(f"out-{i}", "out-file", out.content, "application/octet-stream", out.path)
        )
    chunks = [
        OutputChunk(chunk_id=f"{node_id}:a{attempt}:{stream}", text=text, sha256=sha256_bytes(raw))
        for stream, text, raw in (
            ("stdout", result.stdout, stdout),
            ("stderr", result.stderr, stderr),
        )
        if text.strip()
    ]
    return made, chunks


def failure_message(
    step_id: str, node_id: str, result: ExecResult, attempts: int, lines: int = 5
) -> str:
    """What a human reads when a node gives up: which node, how, and its stderr's end."""
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if result.fault == "timeout":
        how = "timed out"
    elif result.fault == "limit":
        how = f"hit a sandbox limit (exit {result.exit_code})"
    else:
        how = f"exited {result.exit_code}"
    last = [line for line in result.stderr.splitlines() if line.strip()][-lines:]
    detail = " | ".join(line.strip()[:200] for line in last) or "(no stderr)"
    return f"{step_id}: node {node_id} {how} {tries}: {detail}"

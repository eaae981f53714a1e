"""Build a run bundle's files from a snapshot of the run's persisted rows.

Everything here is a pure function of the snapshot, and every file is canonical JSON
(sorted keys, two-space indent, UTF-8, one trailing newline) except the artifacts' own
bytes under `artifacts/`, copied as stored; two exports of the same finished run are
byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from jejakekal.domain import memo as memos
from jejakekal.domain.artifact_bodies import (
    ChunkIndex,
    Citation,
    ClaimVerification,
    DocIR,
    Memo,
    Verdict,
)
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.snapshots import ArtifactMetaRow, ArtifactRow, RunSnapshot

BUNDLE_FORMAT = "jejakekal-bundle/1"
ROOT_TOKEN = "<run-bundle-root>"
MANIFEST = "manifest.json"
# Each artifact's stored bytes, verbatim, so an auditor can re-hash them and re-check
# every citation against the docir without the database.
BODIES_DIR = "artifacts/"
_BODY_EXTENSIONS = {
    "application/json": ".json",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


@dataclass(frozen=True)
class RunBundle:
    """A run's bundle in memory: what an export writes and a download zips."""

    run_id: str  # the run's own id, even when it was asked for by workflow id
    files: dict[str, bytes]


class ManifestFile(TypedDict):
    path: str
    sha256: str
    size: int


class Manifest(TypedDict):
    format: str
    root: str
    run_id: str
    workflow_id: str
    kind: str
    status: str
    dbos_status: str | None
    files: list[ManifestFile]


class ArtifactEntry(TypedDict):
    """An artifact as `artifacts.json` lists it."""

    id: str
    type: str
    status: str
    visibility: str
    sha256: str
    size: int
    content_type: str
    producer_step: str
    producer_function_id: int | None
    prov: JsonObject
    bytes_match: bool
    file: str  # the bundle path of its bytes


class CitationEntry(Citation):
    claim_id: str
    claim_status: Verdict | None


class BundleCitations(TypedDict):
    """`citations.json`: the memo's citations, re-verified now."""

    overall: Verdict | None
    recorded_overall: NotRequired[Verdict | None]  # what the memo said when it was built
    claims: list[ClaimVerification]
    citations: list[CitationEntry]


def json_file(value: Any) -> bytes:
    return (canonical_json(_plain(value), indent=2) + "\n").encode("utf-8")


def _plain(value: Any) -> Any:
    """Database values as JSON: timestamps in UTC ISO-8601, bytes as hex."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def build(snapshot: RunSnapshot) -> dict[str, bytes]:
    """File name -> bytes, manifest included."""
    artifacts = snapshot["artifacts"]
    files = {
        "timeline.json": json_file(snapshot["timeline"]),
        "tool-io.json": json_file(
            {
                "steps": snapshot["steps"],
                "decisions": snapshot["decisions"],
                "effects": snapshot["effects"],
                "gates": snapshot.get("gates", []),
                "audit": snapshot.get("audit", []),
            }
        ),
        "artifacts.json": json_file([artifact_entry(a) for a in artifacts]),
        "citations.json": json_file(citations(artifacts)),
        "workflow_status.json": json_file(snapshot["workflow_status"]),
        "operation_outputs.json": json_file(snapshot["operation_outputs"]),
        **bodies(artifacts),
    }
    run = snapshot["run"]
    manifest: Manifest = {
        "format": BUNDLE_FORMAT,
        "root": ROOT_TOKEN,
        "run_id": run["id"],
        "workflow_id": run["workflow_id"],
        "kind": run["kind"],
        "status": snapshot["status"],
        "dbos_status": snapshot["dbos_status"],
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(files.items())
        ],
    }
    return {MANIFEST: json_file(manifest), **files}


def artifact_entry(row: ArtifactRow) -> ArtifactEntry:
    return {
        "id": row["id"],
        "type": row["type"],
        "status": row["status"],
        "visibility": row["visibility"],
        "sha256": row["sha256"],
        "size": row["size"],
        "content_type": row["content_type"],
        "producer_step": row["producer_step"],
        "producer_function_id": row["producer_function_id"],
        "prov": row["prov"],
        # Re-hashed now: a bundle says whether the stored bytes still match their record.
        "bytes_match": hashlib.sha256(bytes(row["content"])).hexdigest() == row["sha256"],
        "file": body_path(row),
    }


def body_path(row: ArtifactMetaRow) -> str:
    """`artifacts/<id>.<ext>`, the id without its run id prefix (`memo`, `exec-1_stdout`);
    `:` becomes `_`, which every file system accepts."""
    media = row["content_type"].split(";", 1)[0].strip().lower()
    name = row["id"].removeprefix(f"{row['run_id']}:").replace(":", "_")
    return f"{BODIES_DIR}{name}{_BODY_EXTENSIONS.get(media, '.bin')}"


def bodies(artifacts: list[ArtifactRow]) -> dict[str, bytes]:
    """Bundle path -> an artifact's stored bytes, as stored (not re-serialised)."""
    files = {body_path(row): bytes(row["content"]) for row in artifacts}
    if len(files) != len(artifacts):
        raise ValueError("two artifacts of the run map to the same bundle path")
    return files


def citations(artifacts: list[ArtifactRow]) -> BundleCitations:
    """Every memo citation, re-verified against the stored docir and chunk index."""
    return citations_of({a["type"]: bytes(a["content"]) for a in artifacts})


def citations_of(by_type: Mapping[str, bytes]) -> BundleCitations:
    """`citations.json` from the artifacts' bytes by type: what `verify` re-derives
    from a bundle's own copies."""
    if not {"docir", "chunk-index", "memo"} <= by_type.keys():
        return {"overall": None, "claims": [], "citations": []}
    docir: DocIR = json.loads(by_type["docir"])
    index: ChunkIndex = json.loads(by_type["chunk-index"])
    memo: Memo = json.loads(by_type["memo"])
    verification = memos.verify_memo(memo, docir, index)
    status_of = {c["claim_id"]: c["status"] for c in verification["claims"]}
    flat: list[CitationEntry] = [
        {"claim_id": claim["claim_id"], "claim_status": status_of.get(claim["claim_id"]), **cite}
        for claim in memo["claims"]
        for cite in claim["citations"]
    ]
    return {
        "overall": verification["overall"],
        "recorded_overall": memo.get("verification", {}).get("overall"),
        "claims": verification["claims"],
        "citations": flat,
    }

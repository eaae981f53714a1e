"""A run's persisted rows as storage reads them back for its export bundle.

Storage builds these and `export/` turns them into files; the two may not import each
other, so the shapes live here.
"""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired, TypedDict

from jejakekal.domain.jsontypes import JsonObject

# A row as stored, every column: the bundle copies it whole and never reads into it.
StoredRow = dict[str, object]


class ArtifactMetaRow(TypedDict):
    """An `app.artifacts` row without its bytes."""

    id: str
    run_id: str
    type: str
    status: str
    visibility: str
    sha256: str
    size: int
    content_type: str
    created_at: datetime


class ArtifactRow(ArtifactMetaRow):
    """An `app.artifacts` row, every column."""

    content: bytes
    producer_step: str
    producer_function_id: int | None
    prov: JsonObject  # as stored, passed through (earlier releases wrote it too)


class SnapshotRun(TypedDict):
    """The run row's columns a bundle names."""

    id: str
    kind: str
    workflow_id: str
    status: str


class RunSnapshot(TypedDict):
    run: SnapshotRun
    status: str  # as a run view shows it
    dbos_status: str | None
    steps: list[StoredRow]
    timeline: list[StoredRow]
    decisions: list[StoredRow]
    effects: list[StoredRow]
    gates: NotRequired[list[StoredRow]]  # the gate ledger (absent from older snapshots)
    audit: NotRequired[list[StoredRow]]  # operator actions but exports (issue 25 on)
    artifacts: list[ArtifactRow]
    workflow_status: StoredRow | None
    operation_outputs: list[StoredRow]

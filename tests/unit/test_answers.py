"""The answers of starts, operator actions, exports, health and artifacts as values: their
JSON keeps the API's keys in the API's order, and reads back into the same value."""

from __future__ import annotations

import json

from jejakekal.domain.views import (
    ArtifactDetail,
    ArtifactDocument,
    BundledArtifact,
    Canceled,
    ExportedRun,
    Health,
    Resumed,
    Retried,
    SandboxPosture,
    StartedDocRun,
    StoredArtifact,
)
from jejakekal.web.views import artifact_view

DETAIL = ArtifactDetail(
    id="r1:memo",
    run_id="r1",
    type="memo",
    status="final",
    visibility="user",
    sha256="ab" * 32,
    size=12,
    content_type="application/json",
    created_at="2026-01-01T00:00:00.000Z",
    producer_step="side-effect",
    producer_function_id=3,
)


def test_operator_answers_keep_the_api_keys_in_order_and_read_back() -> None:
    answers: list[tuple[Retried | Resumed | Canceled | StartedDocRun, str]] = [
        (Retried(run_id="r1", from_step="ExecuteST"), '{"accepted": true, "newRunId": "r1"'),
        (Resumed(run_id="r1", status="running"), '{"run_id": "r1", "status": "running"}'),
        (Canceled(run_id="r1", status="canceled"), '{"accepted": true, "run_id": "r1", "status"'),
        (StartedDocRun(run_id="d1", status="running"), '{"run_id": "d1", "status": "running"}'),
    ]

    for answer, start in answers:
        text = json.dumps(answer.to_json())

        assert text.startswith(start)
        assert type(answer).from_json(json.loads(text)) == answer


def test_an_export_and_health_keep_the_api_keys_in_order() -> None:
    bundled = BundledArtifact(
        id="memo", artifact_id="r1:memo", sha256="ab", size=2, content_type="application/json"
    )
    exported = ExportedRun(
        run_id="r1", status="done", dbos_status="SUCCESS", artifacts=(bundled,), run_bundle_path="b"
    )
    sandbox = SandboxPosture.of("subprocess", allow_unisolated=False)
    health = Health(
        ok=True,
        role="full",
        app_version="v1",
        db="sqlite",
        workers=("w1", "w2"),
        queues=None,
        sandbox=sandbox,
    )

    assert list(exported.to_json()) == [
        "run_id", "status", "dbos_status", "artifacts", "run_bundle_path",
    ]  # fmt: skip
    assert list(bundled.to_json()) == ["id", "artifact_id", "sha256", "size", "content_type"]
    assert health.to_json() == {
        "ok": True, "role": "full", "app_version": "v1", "db": "sqlite",
        "workers_alive": 2, "workers": ["w1", "w2"], "queues": None,
        "sandbox": {
            "isolation": "subprocess", "allow_unisolated": False, "foreign_commands": "refused",
        },
        "ocr": None,
    }  # fmt: skip
    assert list(health.to_json())[4] == "workers_alive"


def test_foreign_commands_run_under_bubblewrap_or_by_the_operators_opt_in_only() -> None:
    isolated = SandboxPosture.of("bwrap", allow_unisolated=False)
    opted_in = SandboxPosture.of("subprocess", allow_unisolated=True)
    refused = SandboxPosture.of("subprocess", allow_unisolated=False)

    assert (isolated.foreign_commands, isolated.unisolated) == ("allowed", False)
    assert (opted_in.foreign_commands, opted_in.unisolated) == ("allowed", True)
    assert (refused.foreign_commands, refused.unisolated) == ("refused", False)


def test_an_artifact_document_parses_json_content_and_reads_back() -> None:
    stored = StoredArtifact(meta=DETAIL, content=b'{"text": "caf\xc3\xa9"}', prov={"step": "s"})

    document = stored.document()
    shown = document.to_json()

    assert document.content == {"text": "café"}
    assert list(shown) == ["meta", "content", "prov"]
    assert shown["meta"] == document.meta.to_json()
    assert list(document.meta.to_json())[-3:] == [
        "created_at", "producer_step", "producer_function_id",
    ]  # fmt: skip
    assert ArtifactDocument.from_json(json.loads(json.dumps(shown))) == document


def test_a_text_artifact_stays_text_and_shows_raw() -> None:
    meta = DETAIL.model_copy(update={"type": "raw", "content_type": "text/plain"})
    stored = StoredArtifact(meta=meta, content=b"{not json", prov={})

    shown = artifact_view(stored.document(), None)

    assert (shown.kind, shown.text, shown.pretty) == ("raw", "{not json", None)


def test_a_memo_shows_its_claims_with_verdicts_and_citations() -> None:
    memo = {
        "text": "Alpha is first.",
        "claims": [
            {
                "claim_id": "c1",
                "start": 0,
                "end": 15,
                "citations": [{"chunk_id": "k1", "start": 4, "end": 9}],
            },
            {"claim_id": "c2", "start": "0", "end": 5, "citations": []},
        ],
        "verification": {
            "overall": "partial",
            "claims": [{"claim_id": "c1", "status": "verified"}],
        },
    }
    document = ArtifactDocument(meta=DETAIL, content=memo, prov={})

    shown = artifact_view(document, "doc text")

    first, second = shown.claims
    assert (shown.kind, shown.overall, shown.doc_text) == ("memo", "partial", "doc text")
    assert (first.text, first.status, first.citations[0].chunk_id) == (
        "Alpha is first.",
        "verified",
        "k1",
    )
    assert (second.text, second.status, second.citations) == ("", None, [])


def test_a_chunk_index_previews_each_chunk_from_the_docir_text() -> None:
    meta = DETAIL.model_copy(update={"type": "chunk-index"})
    chunks = {"chunks": [{"chunk_id": "k1", "start": 2, "end": 5, "heading_path": ["Intro"]}]}

    shown = artifact_view(ArtifactDocument(meta=meta, content=chunks, prov={}), "0123456")

    (row,) = shown.chunks
    assert (row.chunk_id, row.preview, row.heading_path) == ("k1", "234", ["Intro"])
    assert '"chunk_id": "k1"' in (shown.pretty or "")

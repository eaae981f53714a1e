"""Step bodies of the document workflow: parsing, artifacts and their checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dbos import DBOS

from jejakekal.domain import documents as docs
from jejakekal.domain import lifecycle, names
from jejakekal.domain import memo as memos
from jejakekal.domain.contracts import DocIngestInput
from jejakekal.domain.records import StepPhase, StepRecord
from jejakekal.storage import documents as store
from jejakekal.storage import runs
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import call_idempotent_effect
from jejakekal.workflows.runtime import current

JSON_TYPE = "application/json"
RAW_TYPES = {"text": "text/plain; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}


def prepare_st(db: Tx, request: dict[str, Any]) -> dict[str, Any]:
    """Pin down what is ingested: the raw bytes' hash, size, format and content type."""
    inp = DocIngestInput.model_validate(request)
    started = runs.now()
    raw = inp.source.encode("utf-8")
    prepared = {
        "raw_sha256": docs.sha256_hex(raw),
        "size": len(raw),
        "format": inp.format,
        "content_type": RAW_TYPES[inp.format],
        "source_kind": inp.source_kind,
    }
    _done(db, inp.run_id, names.STEP_PREPARE, {"attempt": 1, **prepared}, started)
    return prepared


def side_effect_st(request: dict[str, Any], prepared: dict[str, Any]) -> dict[str, Any]:
    """Build the four artifacts (pure), then persist them once, with the chunks, in one
    transaction through the idempotent-effect primitive. A replay returns the record."""
    inp = DocIngestInput.model_validate(request)
    rt = current()
    status = DBOS.step_status
    attempt = (status.current_attempt or 0) + 1 if status else 1
    function_id = DBOS.step_id
    started = runs.now()
    built = build(inp, prepared, rt.parsers[inp.format])
    key = f"{inp.run_id}:{names.STEP_SIDE_EFFECT}"
    with rt.db.write() as conn:
        result: dict[str, Any] = call_idempotent_effect(
            conn,
            key,
            inp.run_id,
            names.STEP_SIDE_EFFECT,
            lambda db: _persist(db, inp.run_id, function_id, built),
        )
        output = {"attempt": attempt, **result}
        _done(conn, inp.run_id, names.STEP_SIDE_EFFECT, output, started)
    return result


def build(inp: DocIngestInput, prepared: dict[str, Any], parser: Any) -> dict[str, Any]:
    """The four artifacts' bytes and the chunk rows: pure, nothing is stored here."""
    run_id = inp.run_id
    raw = inp.source.encode("utf-8")
    raw_sha = prepared["raw_sha256"]
    docir = docs.build_docir(inp.source, parser, run_id=run_id, raw_sha256=raw_sha)
    docir_bytes = docs.canonical_bytes(docir)
    docir_sha = docs.sha256_hex(docir_bytes)
    index = docs.build_chunk_index(docir, run_id=run_id, docir_sha256=docir_sha)
    index_bytes = docs.canonical_bytes(index)
    index_sha = docs.sha256_hex(index_bytes)
    memo = memos.build_memo(
        docir, index, run_id=run_id, docir_sha256=docir_sha, chunk_index_sha256=index_sha
    )
    memo_bytes = docs.canonical_bytes(memo)
    chunk_rows = [
        {
            "chunk_id": c["chunk_id"],
            "ord": c["ord"],
            "text": docs.chunk_text(docir, c),
            "start": c["start"],
            "end": c["end"],
            "sha256": c["text_sha256"],
            "confidence": c["confidence"],
        }
        for c in index["chunks"]
    ]
    source = {"kind": prepared["source_kind"], "format": prepared["format"]}
    return {
        "artifacts": [
            ("raw", raw, prepared["content_type"], {"source": source, "inputs": []}),
            ("docir", docir_bytes, JSON_TYPE, _prov_of(docir)),
            ("chunk-index", index_bytes, JSON_TYPE, _prov_of(index)),
            ("memo", memo_bytes, JSON_TYPE, _prov_of(memo)),
        ],
        "chunks": chunk_rows,
        "ocr_required": docir["ocr_required"],
        "verification": memo["verification"]["overall"],
    }


def _prov_of(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": body["schema"],
        "producer": body["producer"],
        "params_sha256": body["params_sha256"],
        "inputs": body["inputs"],
    }


def _persist(db: Tx, run_id: str, function_id: int | None, built: dict[str, Any]) -> dict[str, Any]:
    rows = [
        {
            "type": artifact_type,
            "content": content,
            "content_type": content_type,
            "sha256": docs.sha256_hex(content),
            "producer_step": names.STEP_SIDE_EFFECT,
            "producer_function_id": function_id,
            "prov": {
                "step": names.STEP_SIDE_EFFECT,
                "producer_function_id": function_id,
                **prov,
            },
        }
        for artifact_type, content, content_type, prov in built["artifacts"]
    ]
    store.insert_artifacts(db, run_id, rows)
    store.insert_chunks(db, run_id, built["chunks"])
    return {
        "artifacts": {r["type"]: {"sha256": r["sha256"], "size": len(r["content"])} for r in rows},
        "chunks": len(built["chunks"]),
        "ocr_required": built["ocr_required"],
        "memo_verification": built["verification"],
    }


def finalize_st(db: Tx, run_id: str, side_effect: dict[str, Any]) -> dict[str, Any]:
    """Check the four artifacts exist and their bytes still hash to what was recorded."""
    started = runs.now()
    expected: dict[str, Any] = side_effect["artifacts"]
    stored = {a["type"]: a for a in store.run_artifacts(db, run_id)}
    problems = []
    for artifact_type in names.ARTIFACT_TYPES:
        row = stored.get(artifact_type)
        if row is None:
            problems.append(f"{artifact_type}: missing")
        elif (
            not row["sha256"]
            == docs.sha256_hex(row["content"])
            == expected[artifact_type]["sha256"]
        ):
            problems.append(f"{artifact_type}: sha256 does not match its bytes or its record")
    output = {"attempt": 1, "checked": list(names.ARTIFACT_TYPES), "problems": problems}
    if problems:
        error = "finalize: " + "; ".join(problems)
        _done(db, run_id, names.STEP_FINALIZE, output, started, error)
        return {"ok": False, "error": error}
    _done(db, run_id, names.STEP_FINALIZE, output, started, None, finishes_run=True)
    return {"ok": True}


def _done(
    tx: Tx,
    run_id: str,
    step_id: str,
    output: dict[str, Any],
    started: datetime,
    error: str | None = None,
    *,
    finishes_run: bool = False,
) -> None:
    """Record a step that finished (`failed` with an error, which ends the run too);
    it becomes the run's last step."""
    step = StepRecord(
        run_id=run_id,
        step_id=step_id,
        phase=StepPhase.FAILED if error else StepPhase.DONE,
        output=output,
        started_at=started,
        finished_at=runs.now(),
    )
    ends = finishes_run or error is not None
    change = (
        lifecycle.document_finished(step_id, error) if ends else lifecycle.step_finished(step_id)
    )
    runs.record_step(tx, step, change)

"""Step bodies of the document workflow: parsing, artifacts and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, TypedDict

from dbos import DBOS

from jejakekal.domain import documents as docs
from jejakekal.domain import memo as memos
from jejakekal.domain import names
from jejakekal.domain.artifact_bodies import ChunkIndex, DocIR, Memo, Origin, Verdict
from jejakekal.domain.contracts import DocIngestInput
from jejakekal.domain.extraction import OcrPage
from jejakekal.domain.formats import RAW_TYPES
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.ports import DocumentParser
from jejakekal.storage import documents as store
from jejakekal.storage import runs
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import call_idempotent_effect
from jejakekal.workflows import doc_files
from jejakekal.workflows.runtime import current

JSON_TYPE = "application/json"


# Step outputs are DBOS checkpoints and `app.run_steps` JSON, so they are TypedDicts:
# runs checkpointed by an earlier release replay into the same keys.
class Prepared(TypedDict):
    """The output of step `prepare`: what is ingested."""

    raw_sha256: str
    size: int
    format: str
    content_type: str
    source_kind: str


class PrepareRecord(Prepared):
    attempt: int


class ArtifactDigest(TypedDict):
    sha256: str
    size: int


class SideEffectResult(TypedDict):
    """The output of step `side-effect`, also the idempotent effect's recorded result."""

    artifacts: dict[str, ArtifactDigest]  # by artifact type
    chunks: int
    ocr_required: bool
    memo_verification: Verdict


class SideEffectRecord(SideEffectResult):
    attempt: int


class FinalizeRecord(TypedDict):
    attempt: int
    checked: list[str]
    problems: list[str]


class FinalizeVerdict(TypedDict):
    """The output of step `finalize`."""

    ok: bool
    error: NotRequired[str]


@dataclass(frozen=True)
class BuiltArtifact:
    type: str
    content: bytes
    content_type: str
    origin: Origin


@dataclass(frozen=True)
class Built:
    """The four artifacts and the chunk rows of one document, before anything is stored."""

    artifacts: tuple[BuiltArtifact, ...]  # raw, docir, chunk-index, memo
    chunks: list[store.ChunkRow]
    ocr_required: bool
    verification: Verdict


def prepare_st(db: Tx, request: JsonObject) -> Prepared:
    """Pin down what is ingested: the raw bytes' hash, size, format and content type."""
    inp = DocIngestInput.model_validate(request)
    started = runs.now()
    if inp.blob is not None:
        sha, size = inp.blob.sha256, inp.blob.size
    else:
        raw = inp.source.encode("utf-8")
        sha, size = docs.sha256_hex(raw), len(raw)
    prepared: Prepared = {
        "raw_sha256": sha,
        "size": size,
        "format": inp.format,
        "content_type": RAW_TYPES[inp.format],
        "source_kind": inp.source_kind,
    }
    record: PrepareRecord = {"attempt": 1, **prepared}
    doc_files.record_doc_step(db, inp.run_id, names.STEP_PREPARE, record, started)
    return prepared


def side_effect_st(
    request: JsonObject,
    prepared: Prepared,
    survey: doc_files.Survey | None = None,
    ocr: list[OcrPage] | None = None,
) -> SideEffectResult:
    """Build the four artifacts (pure), then persist them once, with the chunks, in one
    transaction through the idempotent-effect primitive. A replay returns the record.

    An uploaded PDF, HTML or DOCX file comes with its `survey` and its recognised pages.
    """
    inp = DocIngestInput.model_validate(request)
    rt = current()
    status = DBOS.step_status
    attempt = (status.current_attempt or 0) + 1 if status else 1
    function_id = DBOS.step_id
    started = runs.now()
    if survey is not None:
        built = build_file(inp, prepared, survey, {p["page"]: p for p in ocr or []})
    else:
        built = build(inp, prepared, rt.parsers[inp.format])
    key = f"{inp.run_id}:{names.STEP_SIDE_EFFECT}"
    with rt.db.write() as conn:
        result: SideEffectResult = call_idempotent_effect(
            conn,
            key,
            inp.run_id,
            names.STEP_SIDE_EFFECT,
            lambda db: _persist(db, inp.run_id, function_id, built),
        )
        output: SideEffectRecord = {"attempt": attempt, **result}
        doc_files.record_doc_step(conn, inp.run_id, names.STEP_SIDE_EFFECT, output, started)
    return result


def raw_bytes(inp: DocIngestInput) -> bytes:
    """The document's bytes: pasted text, or the uploaded file from the blob store."""
    if inp.blob is None:
        return inp.source.encode("utf-8")
    return doc_files.blob_path(inp).read_bytes()


def build(inp: DocIngestInput, prepared: Prepared, parser: DocumentParser) -> Built:
    """The four artifacts' bytes and the chunk rows of a text or Markdown document:
    pure, nothing is stored here."""
    raw = raw_bytes(inp)
    source = raw.decode("utf-8") if inp.blob is not None else inp.source
    docir = docs.build_docir(source, parser, run_id=inp.run_id, raw_sha256=prepared["raw_sha256"])
    return _built(inp, prepared, raw, docir)


def build_file(
    inp: DocIngestInput, prepared: Prepared, survey: doc_files.Survey, ocr: dict[int, OcrPage]
) -> Built:
    """The same for an uploaded PDF, HTML or DOCX file (a docir/2)."""
    raw = raw_bytes(inp)
    docir = doc_files.build_docir2(inp, survey, ocr, prepared["raw_sha256"])
    return _built(inp, prepared, raw, docir)


def _built(inp: DocIngestInput, prepared: Prepared, raw: bytes, docir: DocIR) -> Built:
    run_id = inp.run_id
    docir_bytes = docs.canonical_bytes(docir)
    docir_sha = docs.sha256_hex(docir_bytes)
    index = docs.build_chunk_index(docir, run_id=run_id, docir_sha256=docir_sha)
    index_bytes = docs.canonical_bytes(index)
    index_sha = docs.sha256_hex(index_bytes)
    memo = memos.build_memo(
        docir, index, run_id=run_id, docir_sha256=docir_sha, chunk_index_sha256=index_sha
    )
    memo_bytes = docs.canonical_bytes(memo)
    chunk_rows: list[store.ChunkRow] = [
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
    source: Origin = {
        "source": {"kind": prepared["source_kind"], "format": prepared["format"]},
        "inputs": [],
    }
    if inp.blob is not None:
        source["source"]["blob"] = {
            "sha256": inp.blob.sha256,
            "size": inp.blob.size,
            "content_type": inp.blob.contentType,
            "filename": inp.blob.filename,
        }
    return Built(
        artifacts=(
            BuiltArtifact("raw", raw, prepared["content_type"], source),
            BuiltArtifact("docir", docir_bytes, JSON_TYPE, _origin_of(docir)),
            BuiltArtifact("chunk-index", index_bytes, JSON_TYPE, _origin_of(index)),
            BuiltArtifact("memo", memo_bytes, JSON_TYPE, _origin_of(memo)),
        ),
        chunks=chunk_rows,
        ocr_required=docir["ocr_required"],
        verification=memo["verification"]["overall"],
    )


def _origin_of(body: DocIR | ChunkIndex | Memo) -> Origin:
    return {
        "schema": body["schema"],
        "producer": body["producer"],
        "params_sha256": body["params_sha256"],
        "inputs": body["inputs"],
    }


def _persist(db: Tx, run_id: str, function_id: int | None, built: Built) -> SideEffectResult:
    rows: list[store.NewArtifact] = [
        {
            "type": artifact.type,
            "content": artifact.content,
            "content_type": artifact.content_type,
            "sha256": docs.sha256_hex(artifact.content),
            "producer_step": names.STEP_SIDE_EFFECT,
            "producer_function_id": function_id,
            "prov": {
                "step": names.STEP_SIDE_EFFECT,
                "producer_function_id": function_id,
                **artifact.origin,
            },
        }
        for artifact in built.artifacts
    ]
    store.insert_artifacts(db, run_id, rows)
    store.insert_chunks(db, run_id, built.chunks)
    return {
        "artifacts": {r["type"]: {"sha256": r["sha256"], "size": len(r["content"])} for r in rows},
        "chunks": len(built.chunks),
        "ocr_required": built.ocr_required,
        "memo_verification": built.verification,
    }


def finalize_st(db: Tx, run_id: str, side_effect: SideEffectResult) -> FinalizeVerdict:
    """Check the four artifacts exist and their bytes still hash to what was recorded."""
    started = runs.now()
    expected = side_effect["artifacts"]
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
    output: FinalizeRecord = {
        "attempt": 1,
        "checked": list(names.ARTIFACT_TYPES),
        "problems": problems,
    }
    if problems:
        error = "finalize: " + "; ".join(problems)
        doc_files.record_doc_step(db, run_id, names.STEP_FINALIZE, output, started, error)
        return {"ok": False, "error": error}
    doc_files.record_doc_step(
        db, run_id, names.STEP_FINALIZE, output, started, None, finishes_run=True
    )
    return {"ok": True}

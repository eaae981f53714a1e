"""Step bodies for uploaded PDF, HTML and DOCX documents: survey, OCR, and the docir/2.

`survey` opens the file once: it refuses what cannot be read (the run ends `error` with
the reason) and, for a PDF, decides which pages need OCR. Each batch of those pages is
then one `ocr:<first>-<last>` step whose result is recorded through the idempotent
effect ledger before DBOS checkpoints it, so a crash after recognising a batch never
recognises it again, and a crash during one resumes at that batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import NotRequired, TypedDict

from jejakekal.adapters import ocr as ocr_adapter
from jejakekal.adapters.docx import DocxParser
from jejakekal.adapters.html import HtmlParser
from jejakekal.adapters.pdf import PdfParser
from jejakekal.domain import docir2 as d2
from jejakekal.domain import lifecycle
from jejakekal.domain.artifact_bodies import DocIR, Docir2Params
from jejakekal.domain.contracts import DocIngestInput
from jejakekal.domain.documents import OCR_THRESHOLD
from jejakekal.domain.extraction import FormatParser, Limits, OcrPage, UnreadableDocument
from jejakekal.domain.names import STEP_SURVEY
from jejakekal.domain.records import StepPhase, StepRecord
from jejakekal.storage import runs
from jejakekal.storage.blobs import BlobStore
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import record_effect, recorded_effect
from jejakekal.workflows.runtime import current

FILE_FORMATS = d2.FORMATS
OCR_BATCH_PAGES = 2
FILE_PARSERS: dict[str, FormatParser] = {
    "pdf": PdfParser(),
    "html": HtmlParser(),
    "docx": DocxParser(),
}


class Survey(TypedDict):
    """The output of step `survey`."""

    format: str
    pages: int
    ocr_mode: str  # JEJAKEKAL_OCR as this run saw it
    ocr_engine: str | None  # "tesseract 5.3.0", None when absent
    ocr_pages: list[int]  # the pages to recognise, in order
    # Pages that needed OCR and will not get it, by page number (as text: JSON keys).
    unrecognised: dict[str, str]
    error: NotRequired[str]  # why the file cannot be read: the run ends `error`


class OcrBatch(TypedDict):
    """The output of one `ocr:<first>-<last>` step."""

    pages: list[OcrPage]
    error: NotRequired[str]  # Tesseract failed: the run ends `error` with the reason


def blob_path(inp: DocIngestInput) -> Path:
    assert inp.blob is not None, "only an upload has a blob"
    return BlobStore(current().settings.blobs_dir).path(inp.blob.sha256)


def limits() -> Limits:
    return Limits(max_pages=current().settings.max_pages)


def survey_st(inp: DocIngestInput) -> Survey:
    """Open the file: refuse it with a reason (the run ends `error`), or list the pages
    that need OCR. The step's row is written here, so the timeline shows either."""
    started = runs.now()
    survey = _survey(inp)
    _record(inp.run_id, STEP_SURVEY, dict(survey), started, survey.get("error"))
    return survey


def _survey(inp: DocIngestInput) -> Survey:
    settings = current().settings
    engine = ocr_adapter.engine_name()
    survey: Survey = {
        "format": inp.format,
        "pages": 0,
        "ocr_mode": settings.ocr,
        "ocr_engine": engine,
        "ocr_pages": [],
        "unrecognised": {},
    }
    path = str(blob_path(inp))
    try:
        if inp.format != "pdf":
            # HTML and DOCX are read whole here so that a bad file fails before any
            # artifact is built; the side effect reads them again (they are small).
            FILE_PARSERS[inp.format].extract(path, limits(), skip_pages=frozenset())
            return survey
        pages = PdfParser().pages(path, limits())
    except UnreadableDocument as exc:
        return {**survey, "error": str(exc)}
    survey["pages"] = len(pages)
    need = [p.page for p in pages if settings.ocr == "force" or not p.has_text]
    if settings.ocr == "off":
        survey["unrecognised"] = {str(p): d2.PageSource.OCR_OFF for p in need}
    elif need and engine is None:
        survey["unrecognised"] = {str(p): d2.PageSource.OCR_UNAVAILABLE for p in need}
    else:
        survey["ocr_pages"] = need
    return survey


def ocr_batches(survey: Survey) -> list[list[int]]:
    pages = survey["ocr_pages"]
    return [pages[i : i + OCR_BATCH_PAGES] for i in range(0, len(pages), OCR_BATCH_PAGES)]


def ocr_step_id(batch: list[int]) -> str:
    return f"ocr:{batch[0]}-{batch[-1]}"


def ocr_st(inp: DocIngestInput, batch: list[int]) -> OcrBatch:
    """Recognise a batch of pages once: a run that finds the batch in the effect ledger
    (recognised, then crashed before DBOS's checkpoint) takes the recorded pages."""
    rt = current()
    step_id = ocr_step_id(batch)
    key = f"{inp.run_id}:{step_id}"
    started = runs.now()
    with rt.db.read() as tx:
        found, recorded = recorded_effect(tx, key)
    if found:
        result: OcrBatch = recorded
        return result
    try:
        pages = ocr_adapter.recognise(str(blob_path(inp)), batch)
    except (ocr_adapter.OcrUnavailable, UnreadableDocument) as exc:
        reason = f"OCR of pages {batch[0]}-{batch[-1]} failed: {exc}"
        _record(inp.run_id, step_id, {"pages": batch, "error": reason}, started, reason)
        return {"pages": [], "error": reason}
    low = sum(1 for p in pages for b in p["blocks"] if b["confidence"] < OCR_THRESHOLD)
    with rt.db.write() as tx:
        result = record_effect(tx, key, inp.run_id, step_id, {"pages": pages})
        output = {
            "pages": batch,
            "blocks": sum(len(p["blocks"]) for p in pages),
            "low_confidence_blocks": low,
        }
        record_doc_step(tx, inp.run_id, step_id, output, started)
    return result


def _record(
    run_id: str, step_id: str, output: dict[str, object], started: datetime, error: str | None
) -> None:
    with current().db.write() as tx:
        record_doc_step(tx, run_id, step_id, output, started, error)


def record_doc_step(
    tx: Tx,
    run_id: str,
    step_id: str,
    output: Mapping[str, object],
    started: datetime,
    error: str | None = None,
    *,
    finishes_run: bool = False,
) -> None:
    """Record a document run's step that finished (`failed` with an error, which ends the
    run `error` too); it becomes the run's last step. Its first record is final."""
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
    runs.record_step_once(tx, step, change)


def build_docir2(
    inp: DocIngestInput, survey: Survey, ocr: Mapping[int, OcrPage], raw_sha256: str
) -> DocIR:
    """The docir/2 of an uploaded file, recognised pages in their place."""
    parser = FILE_PARSERS[inp.format]
    skip = frozenset(ocr)
    extraction = parser.extract(str(blob_path(inp)), limits(), skip_pages=skip)
    unrecognised = {int(page): why for page, why in survey["unrecognised"].items()}
    if inp.format == "pdf":
        blocks, pages = d2.merge_pages(extraction, ocr, unrecognised)
    else:
        blocks, pages = extraction.blocks, []
    params: Docir2Params = {
        "format": inp.format,
        "ocr": survey["ocr_mode"],
        "ocr_engine": survey["ocr_engine"] if ocr else None,
        "ocr_threshold": OCR_THRESHOLD,
    }
    return d2.build_docir2(
        blocks,
        pages,
        params=params,
        producer=parser.name,
        version=parser.version,
        run_id=inp.run_id,
        raw_sha256=raw_sha256,
    )

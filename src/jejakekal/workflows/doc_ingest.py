"""Workflow `doc_ingest` (docs/runs.md, "Document runs"): control flow only (a test holds that)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, TypedDict

from dbos import DBOS, SetWorkflowID

from jejakekal.domain import forks, names
from jejakekal.domain.contracts import DocIngestInput
from jejakekal.domain.extraction import OcrPage
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.workflows import doc_files, doc_steps, tracing
from jejakekal.workflows.runtime import MIN_SLEEP_SEC, current, tx_step


class DocumentCheckFailed(Exception):
    """`finalize` found an artifact missing or not matching its recorded hash."""


class DocumentUnreadable(Exception):
    """The uploaded file cannot be read (corrupt, encrypted, empty, over a limit)."""


class DocIngestResult(TypedDict):
    """The workflow's output, as DBOS records it."""

    run_id: str
    status: str
    artifacts: list[str]  # the artifact types, sorted


@DBOS.workflow(name=names.WF_DOC_INGEST)
def doc_ingest(request: JsonObject) -> DocIngestResult:
    # A fork runs for its own run id; any other workflow's request is left as it is.
    request = forks.bind(request, DBOS.workflow_id or "")
    # The input crosses DBOS as portable JSON; the model gives it a typed shape.
    inp = DocIngestInput.model_validate(request)
    tracing.tag_run(inp.run_id)
    prepared = tx_step(names.STEP_PREPARE, doc_steps.prepare_st, request)
    DBOS.sleep(max(inp.sleep_ms / 1000, MIN_SLEEP_SEC))
    settings = current().settings
    survey: doc_files.Survey | None = None
    recognised: list[OcrPage] = []
    if inp.blob is not None and inp.format in doc_files.FILE_FORMATS:
        survey = tracing.run_step({"name": names.STEP_SURVEY}, doc_files.survey_st, inp)
        if "error" in survey:
            raise DocumentUnreadable(survey["error"])
        for batch in doc_files.ocr_batches(survey):
            done: doc_files.OcrBatch = tracing.run_step(
                {"name": doc_files.ocr_step_id(batch)}, doc_files.ocr_st, inp, batch
            )
            if "error" in done:
                raise DocumentUnreadable(done["error"])
            recognised.extend(done["pages"])
    side_effect = tracing.run_step(
        {
            "name": names.STEP_SIDE_EFFECT,
            "retries_allowed": True,
            "max_attempts": settings.step_max_attempts,
            "interval_seconds": settings.step_retry_interval_sec,
        },
        doc_steps.side_effect_st,
        request,
        prepared,
        *((survey, recognised) if survey is not None else ()),
    )
    verdict = tx_step(names.STEP_FINALIZE, doc_steps.finalize_st, inp.run_id, side_effect)
    if not verdict["ok"]:
        raise DocumentCheckFailed(verdict["error"])
    return {"run_id": inp.run_id, "status": "done", "artifacts": sorted(side_effect["artifacts"])}


def start_doc_ingest(workflow_id: str, request: JsonObject) -> Future[Any] | None:
    """Start a document run in this process now, without waiting for a queue poll.

    Returns the local execution's future when DBOS runs it here (a start that finds the
    workflow already recorded returns none): waiting on it costs no database polling.
    """
    with SetWorkflowID(workflow_id):
        handle = DBOS.start_workflow(doc_ingest, request)
    future: Future[Any] | None = getattr(handle, "future", None)
    return future

"""`bench ingest`: POST /runs (sleepMs=0) to a terminal `done`, over HTTP
(README, "Current figures").

The client learns the end by a long poll (`GET /runs/{id}?waitMs=`), as a UI or script
watching one run would, rather than by hammering the server it is timing.

Beside it, in one process and with no HTTP, the floor under that figure: a document
run started and watched in process, and bare DBOS running the same four operations on
the same document work (`bench_bare_doc`), alternating run by run. The gap between the
two is what keeping the document costs; the bare figure is what DBOS alone takes here.

Then, on the same server, uploaded files: the golden corpus's three-page PDF (its text
layer read) and a scanned copy of it (each page rendered to an image at 200 dpi, so only
OCR can read it), in pages per second, upload to `done`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from jejakekal.bench.client import BenchClient
from jejakekal.bench.results import IngestFloor, IngestResult, PagesResult
from jejakekal.bench.server import api_process, settle
from jejakekal.bench.stats import summary
from jejakekal.config import Settings
from jejakekal.domain.contracts import DocIngestInput, DocRunRequest
from jejakekal.storage.engine import db_kind

if TYPE_CHECKING:
    from jejakekal.bootstrap import Kernel

WARMUP = 5
PDF_RUNS = 10
OCR_RUNS = 2
FILES = Path(__file__).parent.parent / "golden" / "files"
DOCUMENT = (
    "# Ingest benchmark\n\nalpha beta gamma delta\n\n- one item [low]\n- two item\n\n"
    "A closing paragraph with a sentence. And another one.\n"
)


def ingest_once(client: BenchClient, n: int) -> tuple[str, float]:
    """One document run, POST to `done` as a client sees it: (run id, seconds)."""
    started = time.perf_counter()
    reply = client.post("/runs", json={"source": f"{DOCUMENT}run {n}\n", "sleepMs": 0})
    reply.raise_for_status()
    run_id = reply.json()["run_id"]
    # A long poll: the server answers as soon as the run is no longer running.
    status = client.get(f"/runs/{run_id}", params={"waitMs": 30_000}).json()["status"]
    if status != "done":
        raise RuntimeError(f"run {run_id} ended {status}, not done")
    return run_id, time.perf_counter() - started


def measure(
    database_url: str, home: Path, runs: int, progress: Callable[[], object] | None = None
) -> IngestResult:
    pdf = (FILES / "report.pdf").read_bytes()
    scan = scanned_copy(pdf)
    with api_process(database_url, home) as base, BenchClient(base) as client:
        pace = settle(base)
        for n in range(WARMUP):
            ingest_once(client, -n - 1)
        latencies = []
        for n in range(runs):
            latencies.append(ingest_once(client, n)[1])
            if progress:
                progress()
        upload_once(client, pdf)  # warm the PDF path once
        text_layer = pages_per_second(client, pdf, PDF_RUNS)
        ocr = pages_per_second(client, scan, OCR_RUNS)
    figures = summary(latencies)
    return {
        "db": db_kind(database_url),
        "runs": runs,
        "sleep_ms": 0,
        "queues": pace,
        "p50_ms": figures["p50_ms"],
        "p95_ms": figures["p95_ms"],
        "mean_ms": figures["mean_ms"],
        "pdf": text_layer,
        "ocr": ocr,
    }


def scanned_copy(pdf: bytes, dpi: int = 200) -> bytes:
    """The PDF with every page replaced by a picture of it: no text layer is left."""
    import io

    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        images = [page.render(scale=dpi / 72).to_pil().convert("L") for page in document]
    finally:
        document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=float(dpi), save_all=True, append_images=images[1:])
    return out.getvalue()


def upload_once(client: BenchClient, data: bytes) -> tuple[int, float]:
    """One PDF uploaded as raw bytes, to `done`: (pages, seconds)."""
    started = time.perf_counter()
    reply = client.post_bytes("/runs?filename=bench.pdf", data, "application/pdf")
    reply.raise_for_status()
    run_id = reply.json()["run_id"]
    view = client.get(f"/runs/{run_id}", params={"waitMs": 30_000}).json()
    while view["status"] == "running":  # OCR can take longer than one long poll
        view = client.get(f"/runs/{run_id}", params={"waitMs": 30_000}).json()
    if view["status"] != "done":
        raise RuntimeError(f"run {run_id} ended {view['status']}, not done")
    survey = next(s for s in view["steps"] if s["stepId"] == "survey")
    return int(survey["output"]["pages"]), time.perf_counter() - started


def pages_per_second(client: BenchClient, data: bytes, runs: int) -> PagesResult:
    done = [upload_once(client, data) for _ in range(runs)]
    pages = sum(p for p, _ in done)
    seconds = sum(t for _, t in done)
    return {
        "runs": runs,
        "pages": pages,
        "pages_per_sec": round(pages / seconds, 2),
        "ms_per_page": round(1000 * seconds / pages, 1),
        "p50_run_ms": summary([t for _, t in done])["p50_ms"],
    }


def measure_floor(settings: Settings, runs: int) -> IngestFloor:
    """Ours and bare DBOS in this process, interleaved; call it in a fresh process
    (DBOS is a process-wide singleton)."""
    from jejakekal.bootstrap import build_kernel

    kernel = build_kernel(settings, "full")
    # As over HTTP: time the steady state, once the queues left the pace of a start.
    deadline = time.monotonic() + 20
    while kernel.queue_pace == "busy" and time.monotonic() < deadline:
        time.sleep(0.25)
    pace = kernel.queue_pace
    try:
        for n in range(WARMUP):
            _ours_once(kernel, -n - 1)
            _bare_once(-n - 1)
        ours: list[float] = []
        bare: list[float] = []
        for n in range(runs):
            ours.append(_ours_once(kernel, n))
            bare.append(_bare_once(n))
    finally:
        kernel.close()
    in_process, bare_dbos = summary(ours), summary(bare)
    ratio = in_process["p50_ms"] / bare_dbos["p50_ms"]
    return {
        "in_process": in_process,
        "bare_dbos": bare_dbos,
        "p50_ratio": round(ratio, 3),
        "queues": pace,
    }


def _ours_once(kernel: Kernel, n: int) -> float:
    """One document run started and watched in process: seconds to `done`."""
    started = time.perf_counter()
    run = kernel.control.start_doc_run(DocRunRequest(source=f"{DOCUMENT}run {n}\n"))
    status = kernel.control.wait_run_view(run.run_id, 30).status
    if status != "done":
        raise RuntimeError(f"run {run.run_id} ended {status}, not done")
    return time.perf_counter() - started


def _bare_once(n: int) -> float:
    """The same document work as plain DBOS (`bench_bare_doc`): seconds to its result."""
    from dbos import DBOS, SetWorkflowID

    from jejakekal.workflows.bench import bench_bare_doc

    body = DocRunRequest(source=f"{DOCUMENT}run {n}\n")
    workflow_id = f"bare-doc-{uuid.uuid4().hex}"  # unique: a bench may rerun on one database
    request = DocIngestInput(
        run_id=workflow_id,
        source=body.document(),
        format=body.format,
        sleep_ms=0,
        source_kind="source",
    ).model_dump()
    started = time.perf_counter()
    with SetWorkflowID(workflow_id):
        DBOS.start_workflow(bench_bare_doc, request).get_result()
    return time.perf_counter() - started

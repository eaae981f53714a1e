"""Documents in the web UI: a file uploaded from the conversation plane starts a
document run, a search links each match to its run's chunk, a PDF's page images come
through the UI, and a memo's PDF citations carry their box on the page. The UI runs
over the in-process client and, in split mode, in front of a real API server; SQL is
the oracle, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jinja2
import pytest
from test_web import HX, Ui, one, select, serve_ui

import corpus_pdf
from conftest import Api, make_settings
from jejakekal import web
from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.web import HttpClient, InProcessClient
from jejakekal.web.csrf import HEADER
from jejakekal.web.doc_facts import doc_facts, page_box

UPLOAD_CAP_MB = 1


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # A small cap, so a 413 needs no large file.
    return make_settings(
        database_url, tmp_path / "home", JEJAKEKAL_MAX_UPLOAD_MB=str(UPLOAD_CAP_MB)
    )


@pytest.fixture(params=["embedded", "split"])
def doc_ui(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Ui]:
    """The UI on each backend, over the kernel or over the API."""
    if request.param == "embedded":
        kernel: Kernel = request.getfixturevalue("kernel")
        client: InProcessClient | HttpClient = InProcessClient(kernel.control)
    else:
        api: Api = request.getfixturevalue("api")
        client = HttpClient(api.base_url)
    server, thread, port = serve_ui(settings, client)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60) as http:
        try:
            yield Ui(base, http, settings)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def upload(
    ui: Ui, name: str, content: bytes, content_type: str, *, token: str | None = "page"
) -> httpx.Response:
    """Post a file as the upload form does under htmx (the token in its header)."""
    headers = dict(HX)
    if token == "page":
        headers[HEADER] = ui.token()
    files = {"file": (name, content, content_type)}
    return ui.http.post("/uploads", files=files, data={"sleepMs": "0"}, headers=headers)


def counts(ui: Ui) -> tuple[int, int]:
    runs = ui.sql_count("SELECT COUNT(*) FROM app.runs")
    artifacts = ui.sql_count("SELECT COUNT(*) FROM app.artifacts")
    return runs, artifacts


def blobs(ui: Ui) -> list[Path]:
    root = ui.settings.blobs_dir / "sha256"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def uploaded_pdf(ui: Ui, tmp_path: Path) -> str:
    """A text-layer PDF uploaded through the UI, its run done; its run id."""
    pdf = corpus_pdf.one_column(tmp_path)
    reply = upload(ui, "harbour.pdf", pdf.path.read_bytes(), "application/pdf")
    assert reply.status_code == 200, reply.text
    run_id = one(reply.text, "div", id="exec")["data-run-id"]
    ui.wait_detail(run_id, "done", "error", timeout=120)
    return run_id


def test_the_home_page_has_an_upload_form_and_a_search_box(doc_ui: Ui) -> None:
    page = doc_ui.http.get("/").text

    form = one(page, "form", id="upload-form")
    assert (form["hx-post"], form["hx-encoding"]) == ("/uploads", "multipart/form-data")
    assert form["enctype"] == "multipart/form-data"
    picker = one(page, "input", id="upload-file", type="file", name="file")
    assert ".pdf" in picker["accept"] and ".docx" in picker["accept"]
    one(page, "label", **{"for": "upload-file"})
    one(page, "progress", id="upload-progress")
    assert one(page, "form", id="search-form")["hx-get"] == "/search"
    one(page, "label", **{"for": "search-q"})


def test_an_uploaded_pdf_starts_one_document_run_shown_like_a_doc_run(
    doc_ui: Ui, tmp_path: Path
) -> None:
    pdf = corpus_pdf.one_column(tmp_path)

    reply = upload(doc_ui, "harbour.pdf", pdf.path.read_bytes(), "application/pdf")

    assert reply.status_code == 200, reply.text
    run_id = one(reply.text, "div", id="exec")["data-run-id"]
    assert reply.headers["HX-Push-Url"] == f"/runs/{run_id}"
    one(reply.text, "ul", id="run-list")  # the run list comes back out of band
    assert (
        doc_ui.sql_count(f"SELECT COUNT(*) FROM app.runs WHERE id = '{run_id}' AND kind = 'doc'")
        == 1
    )
    assert doc_ui.sql_count("SELECT COUNT(*) FROM app.runs") == 1
    done = doc_ui.wait_detail(run_id, "done", "error", timeout=120)
    assert one(done, "a", cls="run-link")["data-status"] == "done"
    assert len(blobs(doc_ui)) == 1


def test_a_plain_form_upload_redirects_to_the_run_page(doc_ui: Ui) -> None:
    token = doc_ui.token()
    files = {"file": ("notes.md", b"# Notes\n\nThe harbour crane.\n", "text/markdown")}

    reply = doc_ui.http.post("/uploads", files=files, data={"csrf_token": token})

    assert reply.status_code == 303, reply.text
    assert reply.headers["location"].startswith("/runs/")
    assert doc_ui.sql_count("SELECT COUNT(*) FROM app.runs") == 1


@pytest.mark.parametrize(
    ("name", "content", "content_type", "status", "code"),
    [
        ("old.doc", b"\xd0\xcf\x11\xe0 not a docx", "application/msword", 415, "unsupported"),
        ("fake.pdf", b"just some text, not a PDF", "application/pdf", 400, "format_mismatch"),
        ("empty.txt", b"", "text/plain", 400, "invalid_run_request"),
        ("big.txt", b"a" * (UPLOAD_CAP_MB * 1024 * 1024 + 10), "text/plain", 413, "too_large"),
    ],
)
def test_a_bad_upload_writes_nothing_and_shows_a_one_line_notice(
    doc_ui: Ui, name: str, content: bytes, content_type: str, status: int, code: str
) -> None:
    reply = upload(doc_ui, name, content, content_type)

    assert reply.status_code == status, reply.text
    assert reply.headers["HX-Retarget"] == "#notice"
    notice = one(reply.text, "p", cls="notice")
    assert "notice-error" in notice["class"]
    text = reply.text.strip()
    assert text.count("\n") == 0 and code in text, text
    assert counts(doc_ui) == (0, 0)
    assert blobs(doc_ui) == []


@pytest.mark.parametrize("case", ["no token", "wrong header", "wrong field"])
def test_an_upload_without_the_csrf_token_is_refused_and_writes_nothing(
    doc_ui: Ui, case: str
) -> None:
    token = doc_ui.token()
    files = {"file": ("notes.txt", b"alpha beta", "text/plain")}
    headers: dict[str, str] = dict(HX)
    data: dict[str, str] = {}
    if case == "wrong header":
        headers[HEADER] = "x" * 43
    elif case == "wrong field":
        data["csrf_token"] = token[::-1]

    reply = doc_ui.http.post("/uploads", files=files, data=data, headers=headers)

    assert reply.status_code == 403, reply.text
    assert "csrf_rejected" in reply.text
    assert counts(doc_ui) == (0, 0)
    assert blobs(doc_ui) == []


def test_search_results_mark_the_words_and_link_to_the_runs_chunk(
    doc_ui: Ui, tmp_path: Path
) -> None:
    run_id = uploaded_pdf(doc_ui, tmp_path)

    reply = doc_ui.http.get("/search", params={"q": "crane"}, headers=HX)

    assert reply.status_code == 200, reply.text
    hits = select(reply.text, "li", cls="search-hit")
    assert hits and all(h["data-run-id"] == run_id for h in hits)
    chunk_id = hits[0]["data-chunk-id"]
    link = select(reply.text, "a", cls="search-link")[0]
    assert link["href"].startswith(f"/artifacts/{run_id}:chunk-index?chunk={chunk_id}#chunk-")
    assert "<mark>crane</mark>" in reply.text.lower()
    page = doc_ui.http.get(link["href"].partition("#")[0])
    assert page.status_code == 200, page.text
    focused = one(page.text, "li", cls="chunk-focused")
    assert (focused["data-chunk-id"], focused["aria-current"]) == (chunk_id, "true")
    one(page.text, "div", id="exec", data_run_id=run_id)  # the run's page, not just the list


def test_a_search_without_words_lists_nothing_and_a_full_load_gets_the_page(
    doc_ui: Ui,
) -> None:
    empty = doc_ui.http.get("/search", params={"q": "  "}, headers=HX)
    full = doc_ui.http.get("/search", params={"q": "nothing-matches-this"})

    assert empty.status_code == 200 and select(empty.text, "li", cls="search-hit") == []
    assert full.status_code == 200
    one(full.text, "input", id="search-q", value="nothing-matches-this")
    assert "0 matches" in full.text


def test_the_page_image_route_serves_a_png_and_refuses_a_missing_page(
    doc_ui: Ui, tmp_path: Path
) -> None:
    run_id = uploaded_pdf(doc_ui, tmp_path)

    png = doc_ui.http.get(f"/runs/{run_id}/pages/1.png")
    missing = doc_ui.http.get(f"/runs/{run_id}/pages/99.png")
    bad = doc_ui.http.get(f"/runs/{run_id}/pages/0.png")

    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert missing.status_code == 404 and "page_not_found" in missing.text
    assert bad.status_code == 400


def test_a_pdf_memo_places_each_citation_on_its_page(doc_ui: Ui, tmp_path: Path) -> None:
    run_id = uploaded_pdf(doc_ui, tmp_path)

    viewer = doc_ui.http.get(f"/artifacts/{run_id}:memo", headers=HX).text

    citations = select(viewer, "a", cls="citation")
    assert citations, viewer
    for cite in citations:
        assert cite["data-src"] == f"/runs/{run_id}/pages/{cite['data-page']}.png"
        left, top = float(cite["data-left"]), float(cite["data-top"])
        width, height = float(cite["data-width"]), float(cite["data-height"])
        assert left >= 0 and left + width <= 100.01 and width > 0
        assert top >= 0 and top + height <= 100.01 and height > 0
    one(viewer, "figure", id="page-view")
    one(viewer, "img", id="page-image")
    one(viewer, "div", id="cite-box")


def test_the_header_says_whether_ocr_can_read_scanned_pages(doc_ui: Ui) -> None:
    page = doc_ui.http.get("/").text
    health = doc_ui.http.get("/healthz").json()

    status = one(page, "span", id="ocr-status")
    assert health["ocr"]["engine"].startswith("tesseract")  # installed on the test host
    assert status["data-engine"] == health["ocr"]["engine"]


def scanned_docir() -> dict[str, object]:
    """A docir/2 of two scanned pages: one read with a doubtful block, one not read."""
    text = "Harbour crane\n\nsmudged words"
    block = {"kind": "paragraph", "start": 0, "end": 13, "locator": {"page": 1}}
    return {
        "schema": "docir/2",
        "text": text,
        "blocks": [
            {**block, "block_id": "b-good", "confidence": 0.93},
            {**block, "block_id": "b-low", "start": 15, "end": 28, "confidence": 0.31},
        ],
        "low_confidence_blocks": ["b-low"],
        "pages": [
            {"page": 1, "width": 612, "height": 792, "text_from": "ocr"},
            {"page": 2, "width": 612, "height": 792, "text_from": "ocr_unavailable"},
        ],
    }


def test_a_scanned_docir_flags_its_doubtful_blocks_and_the_pages_not_read() -> None:
    facts = doc_facts("doc-1", scanned_docir())

    assert facts.unread == ("Tesseract is not installed: page 2 was not read",)
    assert [(b.block_id, b.page, b.confidence, b.preview) for b in facts.flagged] == [
        ("b-low", 1, 0.31, "smudged words")
    ]
    box = page_box(facts, {"page": 1, "bbox": [61.2, 79.2, 306.0, 158.4]})
    assert box is not None
    assert (box.left, box.top, box.width, box.height) == (10.0, 10.0, 40.0, 10.0)
    assert box.image_url == "/runs/doc-1/pages/1.png"
    assert page_box(facts, {"path": "/html/body/p[1]"}) is None
    assert page_box(facts, {"page": 3, "bbox": [0, 0, 1, 1]}) is None


def test_the_viewer_shows_the_notes_of_a_scanned_document() -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(web.__file__).parent / "templates"), autoescape=True
    )
    doc = doc_facts("doc-1", scanned_docir())

    html = environment.get_template("_doc_notes.html").render(doc=doc)

    note = one(html, "p", cls="unread-page")
    assert "notice-error" in note["class"]
    assert "Tesseract is not installed: page 2 was not read" in html
    flagged = one(html, "li", cls="low-confidence-block")
    assert (flagged["data-block-id"], flagged["data-confidence"]) == ("b-low", "0.31")
    assert "smudged words" in html


def test_with_a_token_pages_search_and_uploads_need_a_sign_in(
    settings: Settings, kernel: Kernel, tmp_path: Path
) -> None:
    guarded = settings.with_overrides(api_token="t" * 32)
    server, thread, port = serve_ui(guarded, InProcessClient(kernel.control))
    pdf = corpus_pdf.one_column(tmp_path).path.read_bytes()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            image = http.get("/runs/doc-1/pages/1.png", headers=HX)
            found = http.get("/search", params={"q": "crane"}, headers=HX)
            files = {"file": ("a.pdf", pdf, "application/pdf")}
            sent = http.post("/uploads", files=files, headers=HX)
            bearer = {"authorization": "Bearer " + "t" * 32}
            scripted = http.post("/uploads", files=files, headers={**HX, **bearer})
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    assert (image.status_code, found.status_code, sent.status_code) == (401, 401, 401)
    assert scripted.status_code == 200, scripted.text  # a script's token needs no CSRF
    assert kernel.control.list_runs(status=None, kind=None, limit=5, offset=0)[0].kind == "doc"

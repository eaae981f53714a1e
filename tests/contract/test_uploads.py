"""Contract tests of document uploads (issue 24): `POST /runs` with a multipart form or a
raw body, the blob store, the cap, format detection and idempotency.

Each test runs on SQLite and on PostgreSQL against a real server with a worker. SQL row
counts and the blob store's files are the oracles for "nothing written".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Api, make_settings, served_api
from corpus_office import write_article_page, write_report_docx
from corpus_pdf import one_column

MARKDOWN = b"# Notes\n\nThe first claim is here. More follows.\n\n- an item of a list\n"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def counts(api: Api) -> dict[str, int]:
    rows = api.sql(
        "SELECT (SELECT COUNT(*) FROM app.runs) AS runs,"
        " (SELECT COUNT(*) FROM dbos.workflow_status) AS workflows,"
        " (SELECT COUNT(*) FROM app.artifacts) AS artifacts,"
        " (SELECT COUNT(*) FROM app.chunks) AS chunks"
    )
    return {k: int(v) for k, v in rows[0].items()}


def stored_blobs(api: Api) -> list[Path]:
    """Every file under the blob store, temporary uploads included."""
    root = api.settings.blobs_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def artifact(api: Api, run_id: str, kind: str) -> dict[str, Any]:
    reply = api.client.get(f"/artifacts/{run_id}:{kind}")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def upload(api: Api, data: bytes, content_type: str, **params: str) -> httpx.Response:
    return api.client.post(
        "/runs", content=data, params=params, headers={"Content-Type": content_type}
    )


def test_a_raw_markdown_body_becomes_a_document_run_with_its_blob(api: Api) -> None:
    reply = upload(api, MARKDOWN, "text/markdown", filename="notes.md")

    assert reply.status_code == 202, reply.text
    run_id = reply.json()["run_id"]
    view = api.wait_status(run_id, "done", "error")
    assert view["status"] == "done", view
    sha = hashlib.sha256(MARKDOWN).hexdigest()
    assert api.settings.blobs_dir.joinpath("sha256", sha[:2], sha).read_bytes() == MARKDOWN
    raw = api.client.get(f"/artifacts/{run_id}:raw/download")
    assert raw.content == MARKDOWN
    meta = artifact(api, run_id, "raw")
    assert meta["prov"]["source"]["blob"] == {
        "sha256": sha,
        "size": len(MARKDOWN),
        "content_type": "text/markdown; charset=utf-8",
        "filename": "notes.md",
    }
    docir = artifact(api, run_id, "docir")["content"]
    assert (docir["schema"], docir["format"]) == ("docir/1", "markdown")


def test_a_multipart_pdf_upload_gives_pages_and_boxes_down_to_the_memo(
    api: Api, tmp_path: Path
) -> None:
    made = one_column(tmp_path)
    data = Path(made.path).read_bytes()

    reply = api.client.post(
        "/runs",
        files={"file": ("report.pdf", data, "application/pdf")},
        data={"sleepMs": "0"},
    )

    assert reply.status_code == 202, reply.text
    run_id = reply.json()["run_id"]
    view = api.wait_status(run_id, "done", "error")
    assert view["status"] == "done", view
    docir = artifact(api, run_id, "docir")["content"]
    assert (docir["schema"], docir["format"]) == ("docir/2", "pdf")
    assert [p["page"] for p in docir["pages"]] == [1, 2, 3]
    assert {b["locator"]["page"] for b in docir["blocks"]} == {1, 2, 3}
    for block in docir["blocks"]:
        x0, y0, x1, y1 = block["locator"]["bbox"]
        page = docir["pages"][block["locator"]["page"] - 1]
        assert 0 <= x0 <= x1 <= page["width"] and 0 <= y0 <= y1 <= page["height"], block
    index = artifact(api, run_id, "chunk-index")["content"]
    assert index["schema"] == "chunk-index/2"
    assert all(chunk["pages"] for chunk in index["chunks"])
    memo = artifact(api, run_id, "memo")["content"]
    assert memo["schema"] == "memo/2"
    assert memo["verification"]["overall"] == "verified"
    citations = [c for claim in memo["claims"] for c in claim["citations"]]
    assert citations and all(set(c["locator"]) == {"page", "bbox"} for c in citations)
    survey = next(s for s in view["steps"] if s["stepId"] == "survey")
    assert survey["output"]["pages"] == 3 and survey["output"]["ocr_pages"] == []


def test_html_and_docx_uploads_carry_their_locators(api: Api, tmp_path: Path) -> None:
    html = write_article_page(tmp_path)
    docx = write_report_docx(tmp_path)

    html_run = upload(api, Path(html.path).read_bytes(), "text/html", filename="a.html")
    docx_run = upload(api, Path(docx.path).read_bytes(), DOCX_TYPE, filename="r.docx")

    for reply, fmt, key in ((html_run, "html", "path"), (docx_run, "docx", None)):
        assert reply.status_code == 202, reply.text
        run_id = reply.json()["run_id"]
        assert api.wait_status(run_id, "done", "error")["status"] == "done"
        docir = artifact(api, run_id, "docir")["content"]
        assert (docir["schema"], docir["format"], docir["pages"]) == ("docir/2", fmt, [])
        for block in docir["blocks"]:
            keys = set(block["locator"])
            assert keys == {key} if key else keys in ({"paragraph"}, {"table"}), block
        assert any(b["kind"] == "table" for b in docir["blocks"])
        assert any(b["kind"] == "heading" for b in docir["blocks"])


def test_the_same_workflow_id_and_bytes_is_the_same_run_other_bytes_409(api: Api) -> None:
    first = upload(api, MARKDOWN, "text/markdown", workflowId="doc-upload-1")
    again = upload(api, MARKDOWN, "text/markdown", workflowId="doc-upload-1", filename="x.md")
    api.wait_status("doc-upload-1", "done")
    before, blobs = counts(api), stored_blobs(api)
    other = upload(api, MARKDOWN + b"\nmore\n", "text/markdown", workflowId="doc-upload-1")

    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert first.json()["run_id"] == again.json()["run_id"] == "doc-upload-1"
    assert other.status_code == 409, other.text
    assert other.json()["code"] == "workflow_id_payload_mismatch"
    assert counts(api) == before
    assert stored_blobs(api) == blobs  # the other bytes were not stored
    assert api.count("SELECT COUNT(*) FROM app.runs WHERE id = 'doc-upload-1'") == 1


@pytest.mark.parametrize(
    ("data", "content_type", "params", "code"),
    [
        (b"%PDF-1.7\n...", "text/html", {}, "format_mismatch"),
        (b"PK\x03\x04rest", "application/pdf", {}, "format_mismatch"),
        (b"<html><body>x</body></html>", "application/pdf", {}, "format_mismatch"),
        (b"\x00\x01\x02binary", "text/plain", {}, "format_mismatch"),
        (b"caf\xe9 latin-1", "text/markdown", {}, "format_mismatch"),
        (b"plain words", "application/octet-stream", {"format": "pdf"}, "format_mismatch"),
        (b"", "text/plain", {}, "invalid_run_request"),
        (b"text", "text/plain", {"sleepMs": "-1"}, "invalid_run_request"),
        (b"text", "text/plain", {"workflowId": "../x"}, "invalid_run_request"),
        (b"text", "text/plain", {"color": "red"}, "invalid_run_request"),
        (b"text", "image/png", {}, "unsupported_media_type"),
        (b"a=b", "application/x-www-form-urlencoded", {}, "unsupported_media_type"),
    ],
)
def test_an_upload_its_bytes_contradict_or_malformed_is_a_typed_4xx_writing_nothing(
    api: Api, data: bytes, content_type: str, params: dict[str, str], code: str
) -> None:
    before = counts(api)

    reply = upload(api, data, content_type, **params)

    assert 400 <= reply.status_code < 500, reply.text
    assert reply.json()["code"] == code, reply.text
    assert counts(api) == before
    assert stored_blobs(api) == []


@pytest.fixture
def small_cap_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, JEJAKEKAL_MAX_UPLOAD_MB="1")
    with served_api(settings) as served:
        yield served


def test_an_upload_over_the_cap_is_413_while_streaming_and_stores_nothing(
    small_cap_api: Api,
) -> None:
    api = small_cap_api
    before = counts(api)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the server can only find out by counting what arrives.
        for _ in range(64):
            sent.append(1)
            yield b"x" * 65536

    declared = upload(api, b"y" * (3 * 1024 * 1024), "text/plain")
    streamed = api.client.post("/runs", content=chunks(), headers={"Content-Type": "text/plain"})
    form = api.client.post(
        "/runs", files={"file": ("big.txt", b"z" * (1024 * 1024 + 1), "text/plain")}
    )

    for reply in (declared, streamed, form):
        assert reply.status_code == 413, reply.text
        assert reply.json()["code"] == "payload_too_large"
    assert counts(api) == before
    assert stored_blobs(api) == []


def test_a_cross_site_page_may_not_upload(api: Api) -> None:
    before = counts(api)

    reply = api.client.post(
        "/runs",
        content=b"a document",
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )
    same = api.client.post(
        "/runs",
        content=b"a document",
        headers={"Content-Type": "text/plain", "Origin": api.base_url},
    )

    assert reply.status_code == 415, reply.text
    assert same.status_code == 202, same.text
    assert counts(api)["runs"] == before["runs"] + 1


def test_a_form_with_no_file_or_an_unknown_field_is_400(api: Api) -> None:
    before = counts(api)

    no_file = api.client.post("/runs", data={"sleepMs": "0"}, files={"other": ("a", b"b")})
    two = api.client.post(
        "/runs",
        files=[
            ("file", ("a.txt", b"one", "text/plain")),
            ("file", ("b.txt", b"two", "text/plain")),
        ],
    )

    for reply in (no_file, two):
        assert reply.status_code == 400, reply.text
        assert reply.json()["code"] == "invalid_run_request"
    assert counts(api) == before
    assert stored_blobs(api) == []


def test_json_source_still_works_beside_uploads(api: Api) -> None:
    reply = api.client.post(
        "/runs",
        content=json.dumps({"source": "alpha\nbeta"}),
        headers={"Content-Type": "application/json"},
    )

    assert reply.status_code == 202, reply.text
    assert api.wait_status(reply.json()["run_id"], "done")["status"] == "done"

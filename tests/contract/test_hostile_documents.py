"""Hostile files uploaded as documents (issue 24): each ends its run `error` with the
reason, or is a typed 4xx at the door; never a 5xx, never a half-written artifact set.

Both backends. SQL counts the artifacts and chunks each run left: none for a refused
file. A page nested 10,000 deep is no error: it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest

import corpus_office as office
import corpus_pdf as pdfs
from conftest import Api


class Hostile(Protocol):
    """What the corpora's hostile writers return: the file, and the reason expected."""

    path: Path
    message: str


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_PAGES = 2000  # the default JEJAKEKAL_MAX_PAGES


def _upload(api: Api, path: Path, content_type: str) -> str:
    reply = api.client.post(
        "/runs",
        content=path.read_bytes(),
        params={"filename": path.name},
        headers={"Content-Type": content_type},
    )
    assert reply.status_code == 202, reply.text
    return str(reply.json()["run_id"])


def _written(api: Api, run_id: str) -> tuple[int, int]:
    artifacts = api.count(f"SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{run_id}'")
    chunks = api.count(f"SELECT COUNT(*) FROM app.chunks WHERE run_id = '{run_id}'")
    return artifacts, chunks


HOSTILE: list[tuple[str, Callable[[Path], Hostile], str]] = [
    ("truncated pdf", pdfs.truncated, "pdf"),
    ("encrypted pdf", pdfs.encrypted, "pdf"),
    ("pdf declaring 100,000 pages", lambda d: pdfs.page_bomb(d, MAX_PAGES), "pdf"),
    ("pdf with no pages", pdfs.no_pages, "pdf"),
    ("docx zip bomb", office.write_zip_bomb, "docx"),
    ("zip that is no docx", office.write_plain_zip, "docx"),
    ("truncated docx", office.write_truncated_docx, "docx"),
    ("docx without text", office.write_textless_docx, "docx"),
    ("html without text", office.write_textless_page, "html"),
]
TYPES = {"pdf": "application/pdf", "docx": DOCX, "html": "text/html"}


@pytest.mark.parametrize(("name", "make", "fmt"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_file_ends_its_run_error_with_the_reason_and_writes_no_artifact(
    api: Api, tmp_path: Path, name: str, make: Callable[[Path], Hostile], fmt: str
) -> None:
    hostile = make(tmp_path)
    path, reason = hostile.path, hostile.message

    run_id = _upload(api, path, TYPES[fmt])
    view = api.wait_status(run_id, "done", "error", timeout=60)

    assert view["status"] == "error", (name, view)
    assert reason in view["error"], (name, view["error"])
    assert _written(api, run_id) == (0, 0)
    survey = next(s for s in view["steps"] if s["stepId"] == "survey")
    assert survey["phase"] == "failed"


def test_a_page_nested_ten_thousand_deep_is_read(api: Api, tmp_path: Path) -> None:
    deep = office.write_deep_page(tmp_path)

    run_id = _upload(api, deep.path, "text/html")
    view = api.wait_status(run_id, "done", "error", timeout=60)

    assert view["status"] == "done", view
    docir = api.client.get(f"/artifacts/{run_id}:docir").json()["content"]
    assert [b.text for b in deep.blocks] == [
        docir["text"][b["start"] : b["end"]] for b in docir["blocks"]
    ]


def test_a_text_file_named_docx_is_refused_at_the_door(api: Api, tmp_path: Path) -> None:
    hostile = office.write_text_as_docx(tmp_path)
    before = api.count("SELECT COUNT(*) FROM app.runs")

    reply = api.client.post(
        "/runs", content=hostile.path.read_bytes(), headers={"Content-Type": DOCX}
    )

    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "format_mismatch"
    assert api.count("SELECT COUNT(*) FROM app.runs") == before

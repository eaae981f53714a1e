"""A run's bundle over HTTP (issue 25): `GET /runs/{id}/bundle.zip` is the export folder's
files as one zip, byte-identical across downloads of a finished run, and the UI's run
page offers it in embedded and split mode. Each test runs on SQLite and PostgreSQL
against a real server with a DBOS worker; the export folder on disk is the oracle for
the zip's members."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from test_web import HX, Ui, one, serve_ui

from conftest import Api
from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.export.verify import verify_bundle
from jejakekal.web import HttpClient, InProcessClient

SOURCE = "Alpha holds the first claim. More\n\nBeta [low] adds a second.\n\ngamma"


def run_doc(api: Api) -> str:
    reply = api.client.post("/runs", json={"source": SOURCE, "sleepMs": 0})
    assert reply.status_code == 202, reply.text
    run_id = str(reply.json()["run_id"])
    assert api.wait_status(run_id, "done", "error", timeout=60)["status"] == "done"
    return run_id


def run_intent(api: Api) -> str:
    run_id = str(api.start(api.create_intent("demo chain"))["runId"])
    api.wait_status(run_id, "succeeded", timeout=60)
    return run_id


def download(api: Api, run_id: str) -> httpx.Response:
    reply = api.client.get(f"/runs/{run_id}/bundle.zip")
    assert reply.status_code == 200, reply.text
    return reply


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def export_folder(api: Api, run_id: str) -> dict[str, bytes]:
    reply = api.client.get(f"/runs/{run_id}/export")
    assert reply.status_code == 200, reply.text
    root = Path(reply.json()["run_bundle_path"])
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("start", [run_doc, run_intent], ids=["doc", "intent"])
def test_two_downloads_of_a_finished_run_are_byte_identical_zips_of_the_export(
    api: Api, start: Callable[[Api], str]
) -> None:
    run_id = start(api)

    first, second = download(api, run_id), download(api, run_id)

    assert hashlib.sha256(first.content).digest() == hashlib.sha256(second.content).digest()
    assert first.headers["content-type"] == "application/zip"
    assert first.headers["content-disposition"] == f'attachment; filename="{run_id}-bundle.zip"'
    assert members(first.content) == export_folder(api, run_id)
    assert verify_bundle(members(first.content)).mismatches == ()


def test_the_zip_fixes_every_member_field_a_platform_or_clock_could_change(api: Api) -> None:
    run_id = run_doc(api)

    with zipfile.ZipFile(io.BytesIO(download(api, run_id).content)) as archive:
        infos = archive.infolist()

    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {"manifest.json", "artifacts/docir.json", "artifacts/memo.json"} <= {
        i.filename for i in infos
    }
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info
        assert (info.external_attr >> 16, info.create_system) == (0o100644, 3), info
        assert (info.extra, info.comment) == (b"", b""), info


def test_a_download_by_workflow_id_names_the_run(api: Api) -> None:
    intent_id = api.create_intent("demo chain")
    run_id = str(api.start(intent_id)["runId"])
    api.wait_status(run_id, "succeeded", timeout=60)

    by_workflow = download(api, intent_id)

    assert by_workflow.content == download(api, run_id).content
    assert f'filename="{run_id}-bundle.zip"' in by_workflow.headers["content-disposition"]


def test_an_unknown_run_is_the_typed_404_and_a_bad_id_the_typed_400(api: Api) -> None:
    missing = api.client.get("/runs/doc-does-not-exist/bundle.zip")
    bad = api.client.get("/runs/-bad/bundle.zip")

    assert missing.status_code == 404, missing.text
    assert missing.json()["code"] == "run_not_found"
    assert bad.status_code == 400, bad.text
    assert bad.json()["code"] == "invalid_run_id"
    assert not (api.settings.bundles_dir / "doc-does-not-exist").exists()


# -- the UI's export button ------------------------------------------------------------


@pytest.fixture(params=["embedded", "split"])
def ui_and_api(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[Ui, Api]]:
    """The UI over the kernel or over the API, beside an API on the same database."""
    api: Api = request.getfixturevalue("api")
    if request.param == "embedded":
        kernel: Kernel = request.getfixturevalue("kernel")
        client: InProcessClient | HttpClient = InProcessClient(kernel.control)
    else:
        client = HttpClient(api.base_url)
    server, thread, port = serve_ui(settings, client)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        try:
            yield Ui(f"http://127.0.0.1:{port}", http, settings), api
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def test_the_run_page_links_the_bundle_zip_and_the_ui_serves_the_apis_bytes(
    ui_and_api: tuple[Ui, Api],
) -> None:
    ui, api = ui_and_api
    run_id = run_doc(api)

    page = ui.http.get(f"/runs/{run_id}", headers=HX).text
    link = one(page, "a", id="export-bundle")
    saved = ui.http.get(link["href"])

    assert link["href"] == f"/runs/{run_id}/bundle.zip"
    assert "download" in link
    assert saved.status_code == 200, saved.text
    assert saved.headers["content-type"] == "application/zip"
    assert saved.headers["content-disposition"] == f'attachment; filename="{run_id}-bundle.zip"'
    assert saved.content == download(api, run_id).content
    assert ui.http.get("/runs/doc-does-not-exist/bundle.zip").status_code == 404

"""`jejakekal verify` (issue 25): a real run's bundle, as a folder and as a zip, verifies;
then each kind of file is tampered with and verify names the mismatch and exits non-zero.

The bundles come from real runs on SQLite: a text document (docir/1) and the golden
corpus's PDF (docir/2, whose citations carry locators). Verify reads no database, so one
backend is enough here; the zip's equality with the export folder is proven on both in
tests/contract/test_bundle_zip.py. A tamper that also recomputes every hash (artifacts.json
and the manifest, as a careful forger would) must still be caught by the content checks.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import make_settings, run_cli
from jejakekal.bootstrap import build_kernel
from jejakekal.cli.main import app
from jejakekal.domain.contracts import BlobRef, DocRunRequest, UploadedDocRun
from jejakekal.export.archive import zip_bundle
from jejakekal.export.bundle import MANIFEST, json_file
from jejakekal.export.verify import verify_bundle
from jejakekal.export.writer import write_bundle
from jejakekal.golden.snapshots import FILES
from jejakekal.storage.blobs import BlobStore

SOURCE = "Alpha holds the first claim. More\n\nBeta [low] adds a second.\n\ngamma"
Files = dict[str, bytes]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Files]:
    """The bundle files of a finished text run and a finished PDF run."""
    home = tmp_path_factory.mktemp("verify-home")
    kernel = build_kernel(make_settings(f"sqlite:///{home / 'db.sqlite'}", home), "full")
    try:
        text = kernel.control.start_doc_run(
            DocRunRequest.model_validate({"source": SOURCE, "sleepMs": 0})
        ).run_id
        pdf = (FILES / "report.pdf").read_bytes()
        blob = BlobStore(kernel.settings.blobs_dir).put(pdf)
        ref = BlobRef(
            sha256=blob.sha256, size=blob.size, contentType="application/pdf", filename="r.pdf"
        )
        upload = UploadedDocRun(blob=ref, format="pdf")
        paged = kernel.control.start_doc_upload(upload, None).run_id
        for run_id in (text, paged):
            wait_done(kernel.control.run_view, run_id)
        return {
            "text": kernel.control.run_bundle(text).files,
            "pdf": kernel.control.run_bundle(paged).files,
        }
    finally:
        kernel.close()


def wait_done(view: Callable[[str], Any], run_id: str) -> None:
    deadline = time.monotonic() + 60
    while (status := view(run_id).status) not in ("done", "error"):
        assert time.monotonic() < deadline, f"{run_id} still {status}"
        time.sleep(0.02)
    assert status == "done", run_id


@pytest.fixture(params=["folder", "zip"])
def save(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Files], Path]:
    """Write a bundle as `jejakekal export` does (a folder) or as a download (a zip)."""

    def saved(files: Files) -> Path:
        if request.param == "folder":
            return write_bundle(tmp_path / "bundles", "run-1", files)
        path = tmp_path / "run-1-bundle.zip"
        path.write_bytes(zip_bundle(files))
        return path

    return saved


def verify(path: Path, *flags: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(app, ["verify", str(path), *flags])
    return result.exit_code, result.stdout.splitlines(), result.stderr


# -- tampering helpers: each returns a changed copy ------------------------------------


def load(files: Files, name: str) -> Any:
    return json.loads(files[name])


def rehash(files: Files) -> Files:
    """Recompute artifacts.json's hashes of the bodies and the manifest, as a forger would."""
    files = dict(files)
    entries = load(files, "artifacts.json")
    for entry in entries:
        body = files[entry["file"]]
        entry["sha256"], entry["size"] = hashlib.sha256(body).hexdigest(), len(body)
    files["artifacts.json"] = json_file(entries)
    manifest = load(files, MANIFEST)
    manifest["files"] = [
        {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in sorted(files.items())
        if name != MANIFEST
    ]
    files[MANIFEST] = json_file(manifest)
    return files


def with_json(
    files: Files, name: str, change: Callable[[Any], None], *, compact: bool = False
) -> Files:
    value = load(files, name)
    change(value)
    data = json.dumps(value, ensure_ascii=False).encode() if compact else json_file(value)
    return {**files, name: data}


def first_citation(memo: dict[str, Any]) -> dict[str, Any]:
    citation: dict[str, Any] = memo["claims"][0]["citations"][0]
    return citation


# -- a whole bundle verifies -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "pdf"])
def test_a_real_bundle_verifies_as_a_folder_and_as_a_zip(
    bundles: dict[str, Files], save: Callable[[Files], Path], kind: str
) -> None:
    path = save(bundles[kind])

    code, lines, _ = verify(path)

    assert code == 0, lines
    assert lines == [f"verified {len(bundles[kind])} files in {path}"]


def test_json_output_says_ok_and_counts_the_files(
    bundles: dict[str, Files], save: Callable[[Files], Path]
) -> None:
    code, lines, _ = verify(save(bundles["text"]), "--json")

    assert code == 0
    assert json.loads("\n".join(lines)) == {
        "ok": True,
        "files": len(bundles["text"]),
        "mismatches": [],
    }


# -- each file kind, tampered ----------------------------------------------------------


def _manifest_hash(files: Files) -> Files:
    def change(manifest: dict[str, Any]) -> None:
        manifest["files"][0]["sha256"] = "0" * 64

    return with_json(files, MANIFEST, change)


def _non_canonical(files: Files) -> Files:
    return with_json(files, "timeline.json", lambda _: None, compact=True)


def _artifact_bytes(files: Files) -> Files:
    return {**files, "artifacts/raw.txt": files["artifacts/raw.txt"].replace(b"Alpha", b"Omegas")}


def _citation_offset(files: Files) -> Files:
    def change(listed: dict[str, Any]) -> None:
        listed["citations"][0]["start"] += 1

    return rehash(with_json(files, "citations.json", change))


def _memo_quote(files: Files) -> Files:
    def change(memo: dict[str, Any]) -> None:
        first_citation(memo)["quote"] = "Alpha holds no claim."

    return rehash(with_json(files, "artifacts/memo.json", change, compact=True))


def _docir_text(files: Files) -> Files:
    def change(docir: dict[str, Any]) -> None:
        docir["text"] = docir["text"].replace("Alpha", "Omega")

    return rehash(with_json(files, "artifacts/docir.json", change, compact=True))


def _added_file(files: Files) -> Files:
    return {**files, "notes.txt": b"added later\n"}


def _removed_file(files: Files) -> Files:
    return {name: data for name, data in files.items() if name != "tool-io.json"}


def _removed_body(files: Files) -> Files:
    return {name: data for name, data in files.items() if name != "artifacts/chunk-index.json"}


TAMPERS: dict[str, tuple[Callable[[Files], Files], list[str]]] = {
    # tamper -> what verify must say (each a prefix of one of its lines)
    "manifest-hash": (_manifest_hash, ["artifacts.json: sha256 is "]),
    "non-canonical-json": (
        _non_canonical,
        ["timeline.json: is not canonical JSON", "timeline.json: sha256 is "],
    ),
    "artifact-bytes": (
        _artifact_bytes,
        ["artifacts/raw.txt: sha256 is ", "artifacts/raw.txt: size is "],
    ),
    "citation-offset": (
        _citation_offset,
        [
            "citations.json: citation 0: citation at ",
            "citations.json: differs from the citations re-derived",
        ],
    ),
    "memo-quote": (
        _memo_quote,
        ["artifacts/memo.json: claim k-1: citation at ", "citations.json: differs from"],
    ),
    "docir-text": (
        _docir_text,
        [
            "artifacts/docir.json: the docir breaks an invariant",
            "artifacts/memo.json: was made from a docir of sha256",
            "artifacts/memo.json: claim k-1: citation at ",
        ],
    ),
    "added-file": (_added_file, ["notes.txt: present in the bundle but not listed"]),
    "removed-file": (_removed_file, ["tool-io.json: listed in the manifest but missing"]),
    "removed-artifact-bytes": (
        _removed_body,
        [
            "artifacts/chunk-index.json: listed in the manifest but missing",
            "artifacts/chunk-index.json: the bytes of artifact ",
        ],
    ),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_verify_names_each_tampered_file_and_exits_non_zero(
    bundles: dict[str, Files], save: Callable[[Files], Path], tamper: str
) -> None:
    change, expected = TAMPERS[tamper]
    path = save(change(bundles["text"]))

    code, lines, err = verify(path)

    assert code == 1, lines
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)
    assert "verified" not in "\n".join(lines)
    assert err.startswith(f"error: {len(lines)} mismatch(es) in {path}"), err


def test_a_pdf_citation_whose_locator_moves_is_caught_even_with_every_hash_redone(
    bundles: dict[str, Files], save: Callable[[Files], Path]
) -> None:
    def change(memo: dict[str, Any]) -> None:
        locator = first_citation(memo)["locator"]
        locator["page"] = int(locator["page"]) + 1

    path = save(rehash(with_json(bundles["pdf"], "artifacts/memo.json", change, compact=True)))

    code, lines, _ = verify(path)

    assert code == 1
    assert any(
        line.startswith("artifacts/memo.json: claim k-1: citation at ")
        and line.endswith("locator_mismatch")
        for line in lines
    ), lines


def test_the_json_output_lists_each_mismatch_by_file(
    bundles: dict[str, Files], save: Callable[[Files], Path]
) -> None:
    code, lines, _ = verify(save(_added_file(bundles["text"])), "--json")

    assert code == 1
    assert json.loads("\n".join(lines)) == {
        "ok": False,
        "files": len(bundles["text"]) + 1,
        "mismatches": [
            {"file": "notes.txt", "detail": "present in the bundle but not listed in the manifest"}
        ],
    }


def test_the_installed_command_verifies_and_refuses_a_path_that_is_no_bundle(
    bundles: dict[str, Files], tmp_path: Path
) -> None:
    good = tmp_path / "good.zip"
    good.write_bytes(zip_bundle(bundles["text"]))
    (tmp_path / "not-a-bundle.txt").write_text("hello\n")

    passed = run_cli(tmp_path, "verify", str(good))
    refused = run_cli(tmp_path, "verify", "not-a-bundle.txt")
    absent = run_cli(tmp_path, "verify", "nowhere")

    count = len(bundles["text"])
    assert (passed.returncode, passed.stdout) == (0, f"verified {count} files in {good}\n")
    assert refused.returncode == 1
    assert refused.stderr == "error: not-a-bundle.txt is neither a bundle folder nor a zip file\n"
    assert (absent.returncode, absent.stderr) == (1, "error: nowhere does not exist\n")


def test_verify_bundle_needs_no_database_and_finds_nothing_in_a_whole_bundle(
    bundles: dict[str, Files],
) -> None:
    assert verify_bundle(bundles["pdf"]).ok


def test_the_verifier_loads_no_database_or_workflow_library() -> None:
    probe = (
        "import sys, jejakekal.export.verify;"
        "print(sorted(m for m in ('dbos', 'sqlalchemy', 'psycopg') if m in sys.modules))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert loaded.stdout == "[]\n"

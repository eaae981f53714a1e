"""The bundle zip and folder: the same files give the same bytes, and artifact bodies sit
in a subfolder of both."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from jejakekal.export.archive import unzip_bundle, zip_bundle, zip_name
from jejakekal.export.writer import write_bundle

FILES = {"manifest.json": b"{}\n", "artifacts/raw.txt": b"alpha\n", "b.json": b"[]\n"}


def test_the_zip_of_the_same_files_is_the_same_bytes_whatever_their_order() -> None:
    shuffled = dict(reversed(list(FILES.items())))

    assert zip_bundle(FILES) == zip_bundle(shuffled)
    assert unzip_bundle(zip_bundle(FILES)) == FILES


def test_zip_members_are_sorted_deflated_and_dated_1980() -> None:
    with zipfile.ZipFile(io.BytesIO(zip_bundle(FILES))) as archive:
        infos = archive.infolist()

    assert [i.filename for i in infos] == sorted(FILES)
    assert {(i.date_time, i.compress_type) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_DEFLATED)
    }


def test_a_zip_name_keeps_the_run_id_readable_on_every_file_system() -> None:
    assert zip_name("doc-1") == "doc-1-bundle.zip"
    assert zip_name("team:run.7") == "team_run.7-bundle.zip"


def test_write_bundle_writes_bodies_into_their_folder_and_leaves_a_same_bundle_alone(
    tmp_path: Path,
) -> None:
    target = write_bundle(tmp_path, "run-1", FILES)
    before = (target / "artifacts" / "raw.txt").stat().st_mtime_ns

    again = write_bundle(tmp_path, "run-1", FILES)

    assert again == target
    assert (target / "artifacts" / "raw.txt").read_bytes() == b"alpha\n"
    assert (target / "artifacts" / "raw.txt").stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1"]

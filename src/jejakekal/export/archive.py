"""A bundle as one zip file, the same bytes every time for the same files.

Everything a zip writer would take from the clock, the file system or the platform is
fixed here: each member's time is 1980-01-01 00:00 (the format's earliest), its mode is
0644 from a Unix host, members come in sorted path order, and no extra fields are
written. So two downloads of a finished run are byte-identical, and a hash of the zip
is a hash of the bundle.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

ZIP_TYPE = "application/zip"
EPOCH = (1980, 1, 1, 0, 0, 0)
UNIX_HOST = 3  # `create_system`: otherwise Python writes 0 on Windows, 3 elsewhere
FILE_MODE = 0o100644  # a regular file, rw-r--r--
COMPRESS_LEVEL = 9


def zip_name(run_id: str) -> str:
    """`<run id>-bundle.zip`; a `:` (allowed in ids) becomes `_` for every file system."""
    return f"{run_id.replace(':', '_')}-bundle.zip"


def zip_bundle(files: Mapping[str, bytes]) -> bytes:
    """The files as a deflated zip, each under its bundle path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            archive.writestr(_member(name), files[name], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.create_system = UNIX_HOST
    info.external_attr = FILE_MODE << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def unzip_bundle(data: bytes) -> dict[str, bytes]:
    """Member path -> bytes, read in memory (nothing is extracted to disk)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()
        }

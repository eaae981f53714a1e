"""A file the UI received, for a document run in this process: copied piece by piece
into the blob store and checked as `POST /runs` checks an upload (its type, name and
first bytes agree; text is UTF-8), so nothing is stored for a file that is refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jejakekal.domain import errors
from jejakekal.domain.contracts import DocUpload, UploadedDocRun, parse_request
from jejakekal.domain.formats import format_of_type
from jejakekal.storage.blobs import BlobStore, checked_upload

PIECE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileUpload:
    """A file from the UI's upload form, spooled by Starlette (memory, then disk)."""

    file: BinaryIO
    content_type: str  # as the browser sent it; may be generic
    filename: str
    sleep_ms: int = 0


def store_upload(blobs_dir: Path, cap_bytes: int, upload: FileUpload) -> UploadedDocRun:
    """The upload in the blob store, as the request of a document run (blocking I/O)."""
    fields = parse_request(
        DocUpload,
        {"sleepMs": upload.sleep_ms, "filename": upload.filename},
        errors.InvalidRunRequest,
    )
    format_of_type(upload.content_type)  # an unknown type is refused before the copy
    with BlobStore(blobs_dir).writer(cap_bytes) as writer:
        while piece := upload.file.read(PIECE_BYTES):
            writer.write(piece)
        run = checked_upload(writer, fields, upload.content_type)
        writer.commit()
    return run

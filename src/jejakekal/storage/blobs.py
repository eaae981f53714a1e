"""The blob store: uploaded documents as files named by their sha256, under the home.

`<home>/blobs/sha256/ab/abcdef...` holds the exact bytes of each document ever uploaded;
the same bytes uploaded twice are one file. An upload streams into a temporary file in
the same folder tree (so the final rename is atomic), hashed and counted as it arrives;
over the cap it stops at once and the temporary file is removed, so a refused upload
leaves nothing behind. A file is only ever renamed into place whole, after an fsync.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from jejakekal.domain import errors
from jejakekal.domain.contracts import BlobRef, DocUpload, UploadedDocRun
from jejakekal.domain.errors import PayloadTooLarge
from jejakekal.domain.formats import RAW_TYPES, SNIFF_BYTES, TEXT_FORMATS, resolve_format

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not set(sha256) <= _HEX:
            raise ValueError(f"not a sha256: {sha256[:80]!r}")
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self, cap_bytes: int) -> BlobWriter:
        """A writer for one upload of at most `cap_bytes` (use it as a context manager)."""
        return BlobWriter(self, cap_bytes)

    def put(self, data: bytes) -> Blob:
        """Store bytes already in memory (a test's, a pasted document's)."""
        with self.writer(len(data)) as writer:
            writer.write(data)
            return writer.commit()


class BlobWriter:
    """Receives an upload piece by piece; `commit` moves it into the store."""

    def __init__(self, store: BlobStore, cap_bytes: int) -> None:
        self.store = store
        self.cap_bytes = cap_bytes
        self.size = 0
        self.head = b""  # the first SNIFF_BYTES, for format detection
        self._hash = hashlib.sha256()
        tmp_dir = store.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self._file = os.fdopen(fd, "wb")
        self.temp_path = Path(name)
        self._done = False

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.cap_bytes:
            raise PayloadTooLarge(
                f"the document is larger than {self.cap_bytes // (1024 * 1024)} MiB "
                "(JEJAKEKAL_MAX_UPLOAD_MB)",
                limit_bytes=self.cap_bytes,
            )
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self._hash.update(data)
        self._file.write(data)
        self.size += len(data)

    def sha256(self) -> str:
        """The hash of what was written so far."""
        return self._hash.hexdigest()

    def require_utf8(self) -> None:
        """`FormatMismatch` unless every byte written so far is UTF-8 text."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        self._file.flush()
        try:
            with self.temp_path.open("rb") as f:
                while piece := f.read(1024 * 1024):
                    decoder.decode(piece)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise errors.FormatMismatch(
                "a text or Markdown document must be UTF-8", detected="binary"
            ) from None

    def commit(self) -> Blob:
        """Put the bytes in place under their hash (already there: the same bytes)."""
        sha = self.sha256()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self.store.path(sha)
        if final.exists():
            self.temp_path.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.temp_path, final)
        self._done = True
        return Blob(sha256=sha, size=self.size)

    def discard(self) -> None:
        if not self._done:
            self._file.close()
            self.temp_path.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.discard()


def checked_upload(writer: BlobWriter, fields: DocUpload, content_type: str) -> UploadedDocRun:
    """An upload, whole in its temporary file, as a document run's request: refused
    (nothing is stored yet) when it is empty or its bytes contradict its declared type
    (`domain.formats`), or, as text, is not UTF-8. The API and the UI both check this way."""
    if writer.size == 0:
        raise errors.InvalidRunRequest("the document is empty", field="file")
    fmt = resolve_format(
        writer.head, declared=fields.format, content_type=content_type, filename=fields.filename
    )
    if fmt in TEXT_FORMATS:
        writer.require_utf8()
    blob = BlobRef(
        sha256=writer.sha256(),
        size=writer.size,
        contentType=RAW_TYPES[fmt],
        filename=fields.filename,
    )
    return UploadedDocRun(blob=blob, format=fmt, sleepMs=fields.sleepMs)

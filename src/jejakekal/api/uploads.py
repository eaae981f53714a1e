"""Document uploads: a multipart form or a raw body, streamed into the blob store.

Neither way holds the document in memory: each piece that arrives is hashed and
written to a temporary file at once, and the cap is checked piece by piece, so an
upload over it stops with a 413 before the rest is read. Nothing is stored until the
whole upload is in and its bytes agree with its declared type (`domain.formats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from jejakekal.domain import errors
from jejakekal.domain.contracts import DocUpload, UploadedDocRun, parse_request
from jejakekal.domain.formats import format_of_type, media_type
from jejakekal.storage.blobs import BlobStore, BlobWriter, checked_upload

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FIELDS = ("sleepMs", "workflowId", "format")
MAX_FIELD_BYTES = 1024
# What a multipart body adds around the file: part headers, boundaries, small fields.
FORM_OVERHEAD_BYTES = 64 * 1024


@dataclass
class Received:
    """An upload in its temporary file, with what was sent beside it."""

    writer: BlobWriter
    content_type: str  # of the file part, or of the body
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def check_same_origin(request: Request) -> None:
    """Refuse a browser's cross-site upload: a form or `text/plain` body needs no CORS
    preflight, so its Origin is the only sign it came from another site's page."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise errors.UnsupportedMediaType(
            "a cross-site page may not upload documents; send the request from this host"
        )


async def receive(request: Request, store: BlobStore, cap_bytes: int) -> Received:
    """The upload's bytes in a temporary file (discarded if anything goes wrong)."""
    check_same_origin(request)
    declared = request.headers.get("content-type", "")
    if media_type(declared) != "multipart/form-data":
        format_of_type(declared)  # an unknown type is refused before the body is read
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap_bytes + FORM_OVERHEAD_BYTES:
        raise errors.PayloadTooLarge(
            f"the document is larger than {cap_bytes // (1024 * 1024)} MiB "
            "(JEJAKEKAL_MAX_UPLOAD_MB)",
            limit_bytes=cap_bytes,
        )
    writer = store.writer(cap_bytes)
    try:
        if media_type(declared) == "multipart/form-data":
            received = await _multipart(request, writer, declared)
        else:
            received = Received(writer=writer, content_type=declared)
            async for piece in request.stream():
                writer.write(piece)
    except ClientDisconnect:
        writer.discard()
        raise errors.ClientDisconnected() from None
    except BaseException:
        writer.discard()
        raise
    return received


async def _multipart(request: Request, writer: BlobWriter, declared: str) -> Received:
    _, options = parse_options_header(declared)
    boundary = options.get(b"boundary")
    if not boundary:
        raise errors.InvalidRunRequest("the multipart body has no boundary", field="file")
    form = _Form(writer)
    parser = MultipartParser(boundary, form.callbacks())
    async for piece in request.stream():
        parser.write(piece)
    parser.finalize()
    if not form.saw_file:
        raise errors.InvalidRunRequest("the form has no `file` part", field="file")
    return Received(
        writer=writer,
        content_type=form.file_type,
        filename=form.filename,
        fields=form.fields,
    )


class _Form:
    """The multipart parser's callbacks: the `file` part goes to the writer, the small
    fields into memory (each capped), anything else is refused."""

    def __init__(self, writer: BlobWriter) -> None:
        self.writer = writer
        self.fields: dict[str, str] = {}
        self.saw_file = False
        self.filename: str | None = None
        self.file_type = ""
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_piece,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._value = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_piece(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            if self.saw_file:
                raise errors.InvalidRunRequest("send one `file` part", field="file")
            self.saw_file = True
            raw_name = options.get(b"filename")
            self.filename = raw_name.decode("utf-8", "replace") if raw_name else None
            self.file_type = self._headers.get(b"content-type", b"").decode("latin-1")
        elif self._name not in FIELDS:
            raise errors.InvalidRunRequest(
                f"unknown form field {self._name[:64]!r}; expected file, {', '.join(FIELDS)}",
                field=self._name[:64],
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file":
            self.writer.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise errors.InvalidRunRequest(f"{self._name} is too long", field=self._name)

    def _part_end(self) -> None:
        if self._name != "file":
            try:
                self.fields[self._name] = self._value.decode("utf-8")
            except UnicodeDecodeError:
                raise errors.InvalidRunRequest(
                    f"{self._name} is not UTF-8", field=self._name
                ) from None


def check(received: Received, query: dict[str, str]) -> tuple[UploadedDocRun, str | None]:
    """The upload as a document run's request, and the `workflowId` it asked for."""
    values: dict[str, str] = {**query, **received.fields}
    if received.filename and "filename" not in values:
        values["filename"] = received.filename
    fields = parse_request(DocUpload, values, errors.InvalidRunRequest)
    return checked_upload(received.writer, fields, received.content_type), fields.workflowId

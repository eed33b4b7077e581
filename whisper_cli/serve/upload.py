"""A multipart/form-data body, streamed: the file part into a private temp folder, text fields in memory.

Limits are enforced while the body arrives, not after: a Content-Length over the limit is refused before
a byte is read, and a body that grows past it (chunked, or lying about its length) is cut off there.
A stalled upload times out. Nothing the client names (its file name) reaches the filesystem.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Optional

from .errors import BadRequest, Cancelled, PayloadTooLarge, RequestTimeout

FILE_FIELD = "file"
MAX_FIELD_BYTES = 64 * 1024  # a prompt or hotwords; far more than Whisper's 224-token prompt holds
MAX_PARTS = 100
FIELDS_ALLOWANCE_BYTES = MAX_PARTS * 1024  # room for the text fields and part headers beside the file


class ClientGone(Cancelled):
    """The client closed the connection before its upload was complete."""


@dataclass
class Upload:
    path: Path  # the audio, in the server's private temp folder; the caller deletes it
    filename: str  # as the client named it, for messages only
    size: int
    fields: dict[str, list[str]] = field(default_factory=dict)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    deadline: float  # time.monotonic() by which the whole body must have arrived

    @property
    def max_body_bytes(self) -> int:
        return self.max_file_bytes + FIELDS_ALLOWANCE_BYTES


async def read_upload(headers, chunks: AsyncIterator[bytes], folder: Path, limits: Limits) -> Upload:
    """Parse the body from `chunks` (Starlette's request.stream()); raises an ApiError or ClientGone."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    content_type, params = parse_options_header(headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadRequest("file: the request body must be multipart/form-data with the audio in a `file` field", param="file")
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_large(limits)
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")  # mode 0600, in a 0700 folder
    form = _Form(os.fdopen(fd, "wb"), Path(name), limits)
    try:
        await form.feed(params[b"boundary"], chunks)
    except FormParserError as error:
        form.abandon()
        raise BadRequest(f"file: malformed multipart body ({error})", param="file") from None
    except BaseException:
        form.abandon()
        raise
    return form.result()


def _too_large(limits: Limits) -> PayloadTooLarge:
    mb = limits.max_file_bytes / (1024 * 1024)
    return PayloadTooLarge(f"file: larger than this server's limit of {mb:g} MB (--max-upload-mb)", param="file")


class _Form:
    """python-multipart's callbacks: the file part to disk, other parts to memory, limits checked as it goes."""

    def __init__(self, sink, path: Path, limits: Limits):
        self.sink, self.path, self.limits = sink, path, limits
        self.fields: dict[str, list[str]] = {}
        self.filename: Optional[str] = None
        self.file_bytes = 0
        self.parts = 0
        self._header_name = self._header_value = b""
        self._disposition = b""
        self._name: Optional[str] = None
        self._is_file = False
        self._value = bytearray()

    async def feed(self, boundary: bytes, chunks: AsyncIterator[bytes]) -> None:
        from python_multipart.multipart import MultipartParser

        parser = MultipartParser(boundary, self._callbacks(), max_size=self.limits.max_body_bytes)
        received = 0
        iterator = chunks.__aiter__()
        while True:
            chunk = await self._next(iterator)
            if chunk is None:
                break
            received += len(chunk)
            if received > self.limits.max_body_bytes:
                raise _too_large(self.limits)
            # Small writes to a local file: cheaper inline than a trip through a thread.
            parser.write(chunk)
        parser.finalize()

    async def _next(self, iterator) -> Optional[bytes]:
        from starlette.requests import ClientDisconnect

        remaining = self.limits.deadline - time.monotonic()
        try:
            return await asyncio.wait_for(iterator.__anext__(), timeout=max(remaining, 0.001))
        except StopAsyncIteration:
            return None
        except asyncio.TimeoutError:
            raise RequestTimeout("file: the upload did not arrive in time (--request-timeout-s)", param="file") from None
        except ClientDisconnect:
            raise ClientGone("client disconnected during the upload") from None

    def result(self) -> Upload:
        self.sink.close()
        if self.filename is None:
            self.abandon()
            raise BadRequest("file: missing; send the audio as a multipart file field named `file`", param="file")
        if not self.file_bytes:
            self.abandon()
            raise BadRequest("file: empty (0 bytes)", param="file")
        return Upload(self.path, self.filename, self.file_bytes, self.fields)

    def abandon(self) -> None:
        self.sink.close()
        self.path.unlink(missing_ok=True)

    def _callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": lambda data, start, end: self._add_header(name=data[start:end]),
            "on_header_value": lambda data, start, end: self._add_header(value=data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"more than {MAX_PARTS} form fields", param=None)
        self._disposition, self._name, self._is_file, self._value = b"", None, False, bytearray()

    def _add_header(self, name: bytes = b"", value: bytes = b"") -> None:
        self._header_name += name
        self._header_value += value

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise BadRequest("a form part has no name (Content-Disposition)", param=None)
        self._name = options[b"name"].decode("utf-8", "replace")
        self._is_file = self._name == FILE_FIELD
        if self._is_file:
            if self.filename is not None:
                raise BadRequest("file: given more than once", param="file")
            self.filename = options.get(b"filename", b"upload").decode("utf-8", "replace") or "upload"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._is_file:
            self.file_bytes += len(piece)
            if self.file_bytes > self.limits.max_file_bytes:
                raise _too_large(self.limits)
            self.sink.write(piece)
            return
        if len(self._value) + len(piece) > MAX_FIELD_BYTES:
            raise BadRequest(f"{self._name}: longer than {MAX_FIELD_BYTES // 1024} KB", param=self._name)
        self._value.extend(piece)

    def _part_end(self) -> None:
        if not self._is_file and self._name is not None:
            value = self._value.decode("utf-8", "replace")
            self.fields.setdefault(self._name, []).append(value)

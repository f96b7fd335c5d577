"""Read one file field of a ``multipart/form-data`` request while it streams in, up to a limit.

Starlette's form parser spools a whole upload to disk before a route receives it. Reading the
stream here lets the service respond with 413 as soon as the limit is passed, without receiving or
storing the rest of the body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, BinaryIO

from fastapi import Request
from python_multipart.exceptions import FormParserError, ParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from app.services.errors import (
    BadInputError,
    InvalidParameterError,
    UnsupportedMediaError,
    UploadTooLargeError,
)

logger = logging.getLogger(__name__)

# Bytes a multipart body may hold beyond the file itself: boundaries, part headers and small
# text fields. Generous, because browsers add a few headers per part.
MULTIPART_OVERHEAD_BYTES = 16_384


@dataclass(frozen=True)
class Upload:
    """Metadata of a received file; its bytes went to the sink given to ``receive_file``."""

    filename: str | None
    content_type: str | None
    size: int


def format_bytes(n_bytes: int) -> str:
    """Format a byte count with thousands separators, for error messages."""
    return f"{n_bytes:,} bytes"


def multipart_request_body(field: str, description: str) -> dict[str, Any]:
    """Build the OpenAPI ``requestBody`` of a route that reads ``field`` with ``receive_file``."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [field],
                        "properties": {
                            field: {
                                "type": "string",
                                "format": "binary",
                                "description": description,
                            }
                        },
                    }
                }
            },
        }
    }


class _FieldCollector:
    """Parser callbacks that copy the data of one named part into a sink and count bytes."""

    def __init__(self, field: str, sink: BinaryIO, max_bytes: int) -> None:
        self.field = field.encode()
        self.sink = sink
        self.max_bytes = max_bytes

        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.in_field = False

        self.found = False
        self.duplicate = False
        self.too_large = False
        self.size = 0
        self.filename: str | None = None
        self.content_type: str | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.headers = {}
        self.in_field = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition"))
        if options.get(b"name") != self.field:
            return
        if self.found:
            self.duplicate = True
            return

        self.found = True
        self.in_field = True
        filename = options.get(b"filename")
        self.filename = filename.decode("utf-8", "replace") if filename is not None else None
        content_type = self.headers.get(b"content-type")
        self.content_type = content_type.decode("latin-1") if content_type else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_field or self.too_large:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            self.too_large = True
            return
        self.sink.write(data[start:end])

    def on_part_end(self) -> None:
        self.in_field = False


async def receive_file(request: Request, *, field: str, max_bytes: int, sink: BinaryIO) -> Upload:
    """Stream the file in multipart field ``field`` of ``request`` into ``sink``.

    Raises ``UploadTooLargeError`` as soon as the declared ``Content-Length`` or the bytes
    received so far pass ``max_bytes`` (plus ``MULTIPART_OVERHEAD_BYTES`` for the whole body),
    so the rest of the body is never read. Raises ``UnsupportedMediaError`` for a body that is not
    ``multipart/form-data``, and ``BadInputError`` for a malformed body or an empty file, and
    ``InvalidParameterError`` for a missing or repeated field. On error, ``sink`` may hold a
    prefix of the file.
    """
    mime_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if mime_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaError(
            f"Expected a multipart/form-data body with the file in the field {field!r}, "
            f"got Content-Type {request.headers.get('content-type', '(none)')!r}."
        )

    max_body_bytes = max_bytes + MULTIPART_OVERHEAD_BYTES
    too_large_message = f"Upload too large: the limit is {format_bytes(max_bytes)}."
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise UploadTooLargeError(
            f"{too_large_message} The request declares {format_bytes(int(declared))}."
        )

    collector = _FieldCollector(field, sink, max_bytes)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
    except (ValueError, FormParserError) as exc:
        raise BadInputError(f"Malformed multipart boundary: {exc}") from exc

    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body_bytes:
                raise UploadTooLargeError(too_large_message)
            parser.write(chunk)
            if collector.too_large:
                raise UploadTooLargeError(too_large_message)
        parser.finalize()
    except ParseError as exc:
        raise BadInputError(f"Malformed multipart body: {exc}") from exc
    except ClientDisconnect as exc:
        raise BadInputError("The client disconnected before the upload finished.") from exc

    if not collector.found:
        raise InvalidParameterError(
            f"Missing multipart field {field!r}: send the file in that field."
        )
    if collector.duplicate:
        raise InvalidParameterError(f"Send exactly one file in the multipart field {field!r}.")
    if collector.size == 0:
        raise BadInputError(f"The uploaded file in field {field!r} is empty.")

    return Upload(
        filename=collector.filename, content_type=collector.content_type, size=collector.size
    )

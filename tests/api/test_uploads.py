"""Streaming upload reader: the body is read only up to the limit."""

from __future__ import annotations

import asyncio
import io
import select
import socket
import time

import pytest
from starlette.requests import Request

from app.services.errors import BadInputError, TooLargeError
from app.services.uploads import MULTIPART_OVERHEAD_BYTES, receive_file
from tests.api.conftest import LiveServer

BOUNDARY = "XyZboundary"
CHUNK = 65_536


def part_header(field: str = "file") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()


def make_request(body_chunks, headers: dict[str, str], consumed: list[int]) -> Request:
    """A Request whose body comes from ``body_chunks``; ``consumed`` counts the bytes read."""
    iterator = iter(body_chunks)

    async def receive():
        chunk = next(iterator, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def endless_body(total: int):
    yield part_header()
    sent = 0
    while sent < total:
        yield b"\x00" * CHUNK
        sent += CHUNK


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_stream_stops_at_limit() -> None:
    limit = 1_000_000
    consumed = [0]
    request = make_request(endless_body(100 * limit), MULTIPART, consumed)

    with pytest.raises(TooLargeError, match="the limit is 1,000,000 bytes"):
        asyncio.run(receive_file(request, field="file", max_bytes=limit, sink=io.BytesIO()))

    assert consumed[0] <= limit + MULTIPART_OVERHEAD_BYTES + CHUNK


def test_declared_length_rejected_unread() -> None:
    consumed = [0]
    headers = {**MULTIPART, "Content-Length": str(50_000_000)}
    request = make_request(endless_body(50_000_000), headers, consumed)

    with pytest.raises(TooLargeError, match="declares 50,000,000 bytes"):
        asyncio.run(receive_file(request, field="file", max_bytes=1_000, sink=io.BytesIO()))

    assert consumed[0] == 0


def test_file_within_limit_read() -> None:
    payload = bytes(range(256)) * 40
    body = part_header() + payload + f"\r\n--{BOUNDARY}--\r\n".encode()
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    sink = io.BytesIO()

    upload = asyncio.run(
        receive_file(
            make_request(chunks, MULTIPART, [0]), field="file", max_bytes=len(payload), sink=sink
        )
    )

    assert sink.getvalue() == payload
    assert upload.size == len(payload)
    assert upload.filename == "a.png"
    assert upload.content_type == "image/png"


def test_malformed_multipart_400() -> None:
    body = [b"this is not multipart at all\r\n" * 10]

    with pytest.raises(BadInputError):
        asyncio.run(
            receive_file(
                make_request(body, MULTIPART, [0]),
                field="file",
                max_bytes=10_000,
                sink=io.BytesIO(),
            )
        )


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_live_chunked_upload_cut_short(live_server: LiveServer) -> None:
    """A chunked upload with no Content-Length gets 413 long before the client finishes."""
    limit = 10_000_000  # the default max_upload_bytes of the live server
    total = 10 * limit
    port = int(live_server.base_url.rsplit(":", 1)[1])
    head = (
        f"POST /api/models/{live_server.model_id}/predict HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()

    def http_chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    sent = 0
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + http_chunk(part_header()))
        # Stop sending as soon as the response arrives, as a browser does.
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(http_chunk(b"\x00" * CHUNK))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        status = read_status(sock)

    assert status == 413
    # The server stops reading at the limit; what the client sent beyond it sat in socket
    # buffers.
    assert sent < 2 * limit
    assert time.perf_counter() - started < 10

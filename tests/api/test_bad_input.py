"""Bad uploads get a clear 4xx, the server keeps serving, and nothing is stored."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.main import create_app
from app.services.models import ModelStore
from cnn_core.serialization import Model
from tests.api.conftest import encode_png


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def bomb_png(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width x height`` gray pixels of a zero stream."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def noise_png(size: tuple[int, int], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_png(rng.integers(0, 256, size=size, dtype=np.uint8))


def corrupt_idat(data: bytes) -> bytes:
    """Flip bytes inside the first IDAT chunk's data while keeping the file length."""
    start = data.index(b"IDAT") + 4
    damaged = bytearray(data)
    for offset in range(start + 2, start + 40):
        damaged[offset] ^= 0xA5
    return bytes(damaged)


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def post_file(
    client: TestClient, path: str, data: bytes, filename="image.png", content_type="image/png"
):
    return client.post(path, files={"file": (filename, data, content_type)})


def stored_files(settings: Settings) -> list[Path]:
    # SQLite's write-ahead log files come and go with connections, so they are not compared.
    return sorted(
        path
        for path in settings.data_dir.rglob("*")
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    )


@pytest.fixture
def small_limits(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"max_upload_bytes": 50_000, "max_image_pixels": 10_000})


@pytest.fixture
def limited_client(small_limits: Settings, small_model: Model):
    model_id = ModelStore(small_limits).add(small_model, name="small", dataset="fashion-mnist")
    with TestClient(create_app(small_limits)) as client:
        client.model_id = model_id
        yield client


BAD_UPLOADS = {
    "empty": (b"", 400, "The uploaded file in field 'file' is empty."),
    "text": (b"hello, this is not an image\n" * 10, 415, "Invalid image upload: the data is not"),
    "html": (b"<!doctype html><html><body>hi</body></html>", 415, "Invalid image upload: the data"),
    "random": (np.random.default_rng(1).bytes(3000), 415, "Invalid image upload: the data is not"),
    "zip": (b"PK\x03\x04" + b"\x00" * 100, 415, "Invalid image upload: the data is not"),
    "png-truncated": (noise_png((28, 28))[:300], 400, "Invalid image upload: the image is trunc"),
    "png-corrupt": (corrupt_idat(noise_png((28, 28))), 400, "Invalid image upload:"),
    "png-header-only": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, 400, "Invalid image upload:"),
    "jpeg-truncated": (jpeg_bytes()[:200], 400, "Invalid image upload:"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
@pytest.mark.parametrize("endpoint", ["predict", "inspect"])
def test_bad_upload_status(client: TestClient, model_id: str, case: str, endpoint: str) -> None:
    data, status, detail_start = BAD_UPLOADS[case]

    response = post_file(client, f"/api/models/{model_id}/{endpoint}", data)

    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail_start)


@pytest.mark.parametrize("filename, content_type", [
    ("photo.png", "image/png"), ("photo.jpg", "image/jpeg"), ("x", "application/octet-stream"),
])  # fmt: skip
def test_non_image_415_any_label(
    client: TestClient, model_id: str, filename: str, content_type: str
) -> None:
    response = post_file(
        client, f"/api/models/{model_id}/predict", b"GIF? no.", filename, content_type
    )

    assert response.status_code == 415


def test_over_size_413(limited_client: TestClient) -> None:
    data = noise_png((300, 300))  # about 90 kB, over the 50 kB limit
    assert len(data) > 50_000

    response = post_file(limited_client, f"/api/models/{limited_client.model_id}/predict", data)

    assert response.status_code == 413
    assert response.json()["detail"].startswith("Upload too large: the limit is 50,000 bytes.")


def test_over_size_without_length_413(limited_client: TestClient) -> None:
    data = noise_png((300, 300))
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunks():
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = limited_client.post(
        f"/api/models/{limited_client.model_id}/predict",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "Upload too large: the limit is 50,000 bytes."}


def test_over_pixel_limit_413(limited_client: TestClient) -> None:
    data = encode_png(np.zeros((101, 100), np.uint8))  # 10,100 pixels, limit 10,000

    response = post_file(limited_client, f"/api/models/{limited_client.model_id}/predict", data)

    assert response.status_code == 413
    assert "10100 pixels" in response.json()["detail"]


def test_decompression_bomb_fast(client: TestClient, model_id: str) -> None:
    data = bomb_png(60_000, 60_000)  # 3.6 gigapixels declared in a few hundred bytes
    assert len(data) < 2_000

    started = time.perf_counter()
    response = post_file(client, f"/api/models/{model_id}/predict", data)
    elapsed = time.perf_counter() - started

    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert elapsed < 1.0


def test_not_multipart_415(client: TestClient, model_id: str) -> None:
    response = client.post(
        f"/api/models/{model_id}/predict",
        content=noise_png((28, 28)),
        headers={"Content-Type": "image/png"},
    )

    assert response.status_code == 415
    assert response.json()["detail"].startswith("Expected a multipart/form-data body")


def test_missing_field_422(client: TestClient, model_id: str) -> None:
    response = client.post(
        f"/api/models/{model_id}/predict", files={"image": ("a.png", noise_png((28, 28)))}
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": "Missing multipart field 'file': send the file in that field."
    }


def test_two_files_422(client: TestClient, model_id: str) -> None:
    data = noise_png((28, 28))

    response = client.post(
        f"/api/models/{model_id}/predict",
        files=[("file", ("a.png", data)), ("file", ("b.png", data))],
    )

    assert response.status_code == 422
    assert "exactly one file" in response.json()["detail"]


def test_bad_input_keeps_serving(limited_client: TestClient, small_limits: Settings) -> None:
    model_id = limited_client.model_id
    before = stored_files(small_limits)
    uploads = [data for data, _, _ in BAD_UPLOADS.values()]
    uploads += [noise_png((300, 300)), bomb_png(60_000, 60_000)]

    for data in uploads:
        response = post_file(limited_client, f"/api/models/{model_id}/predict", data)
        assert 400 <= response.status_code < 500

    assert limited_client.get("/api/health").status_code == 200
    good = post_file(limited_client, f"/api/models/{model_id}/predict", noise_png((28, 28)))
    assert good.status_code == 200
    assert stored_files(small_limits) == before

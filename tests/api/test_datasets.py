"""Dataset uploads: zips of class folders become datasets that training can load."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.main import create_app
from app.services.datasets import get_dataset_info, load_training_dataset

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


def png(value: int, size=(12, 10), mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value if mode == "L" else (value, 0, 255 - value)).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pets_zip(per_class: int = 5, **png_options) -> bytes:
    members = {}
    for label, base in (("cat", 10), ("dog", 200)):
        for i in range(per_class):
            members[f"pets/{label}/{i}.png"] = png(base + i, **png_options)
    members["pets/cat/readme.txt"] = b"not an image"
    members["__MACOSX/pets/cat/._0.png"] = b"resource fork"
    return make_zip(members)


def upload(client: TestClient, data: bytes, params=None, headers=None, filename="pets.zip"):
    return client.post(
        "/api/datasets",
        params=params,
        headers=headers,
        files={"file": (filename, data, "application/zip")},
    )


def stored(settings: Settings) -> list[Path]:
    folder = settings.datasets_dir
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_upload_creates_dataset(client: TestClient, api_settings: Settings) -> None:
    response = upload(client, pets_zip())

    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["name"]) == 32
    assert body["label"] == "pets"
    assert body["kind"] == "uploaded"
    assert body["available"] is True
    assert body["input_shape"] == [10, 12, 1]
    assert body["classes"] == ["cat", "dog"]
    assert body["n_train"] + body["n_test"] == 10
    assert body["n_test"] == 2
    listed = [d["name"] for d in client.get("/api/datasets").json()]
    assert body["name"] in listed
    assert [path.name for path in stored(api_settings)] == [f"{body['name']}.zip"]


def test_upload_loads_for_training(client: TestClient, api_settings: Settings) -> None:
    dataset_id = upload(client, pets_zip(per_class=10)).json()["name"]

    data = load_training_dataset(api_settings, dataset_id)
    info = get_dataset_info(api_settings, dataset_id)

    assert data.X_train.shape == (16, 10, 12, 1)
    assert data.X_test.shape == (4, 10, 12, 1)
    assert data.X_train.dtype == np.uint8
    assert data.classes == ["cat", "dog"]
    assert sorted(data.y_test.tolist()) == [0, 0, 1, 1]
    assert info.n_train == 16
    assert info.input_shape == (10, 12, 1)
    # Cats are dark and dogs light, so the labels follow the pixels.
    assert np.all(data.X_train[data.y_train == 0] < 100)
    assert np.all(data.X_train[data.y_train == 1] > 100)


def test_upload_shape_options(client: TestClient) -> None:
    response = upload(
        client, pets_zip(), params={"image_size": 16, "channels": 3, "name": "My pets"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["input_shape"] == [16, 16, 3]
    assert response.json()["label"] == "My pets"


def test_upload_large_images_scaled(client: TestClient) -> None:
    response = upload(client, pets_zip(size=(200, 100), mode="RGB"))

    assert response.status_code == 201, response.text
    assert response.json()["input_shape"] == [32, 64, 3]


@pytest.mark.parametrize("case, data, status, detail_start", [
    ("not-zip", b"plain text, not a zip", 415, "The upload is not a zip archive"),
    ("png", png(3), 415, "The upload is not a zip archive"),
    ("no-images", make_zip({"a/x.txt": b"t", "b/y.txt": b"u"}), 400, "The zip contains no image"),
    ("one-class", make_zip({"a/1.png": png(1), "a/2.png": png(2)}), 400,
     "The zip is not a usable dataset: 'pets.zip' contains only the class folder 'a'"),
    ("corrupt-image", make_zip({"a/1.png": png(1), "b/2.png": png(2)[:40]}), 400,
     "The zip is not a usable dataset"),
    ("unsafe-path", make_zip({"../a/1.png": png(1), "b/2.png": png(2)}), 400,
     "The zip is not a usable dataset"),
    ("empty", b"", 400, "The uploaded file in field 'file' is empty."),
])  # fmt: skip
def test_bad_zip_rejected(
    client: TestClient, api_settings: Settings, case, data, status, detail_start
) -> None:
    response = upload(client, data)

    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail_start)
    assert ".part" not in response.json()["detail"]
    assert stored(api_settings) == []
    assert [d for d in client.get("/api/datasets").json() if d["kind"] == "uploaded"] == []


def test_upload_over_limit_413(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"max_dataset_bytes": 2_000})
    rng = np.random.default_rng(0)
    noisy = {f"{c}/{i}.png": png(0) + rng.bytes(500) for c in "ab" for i in range(3)}

    with TestClient(create_app(settings)) as client:
        response = upload(client, make_zip(noisy))

    assert response.status_code == 413
    assert response.json()["detail"].startswith("Upload too large: the limit is 2,000 bytes.")
    assert stored(settings) == []


def test_upload_needs_token(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"api_token": "s3cret"})
    with TestClient(create_app(settings)) as client:
        missing = upload(client, pets_zip())
        right = upload(client, pets_zip(), headers={"Authorization": "Bearer s3cret"})
        dataset_id = right.json()["name"]
        delete_missing = client.delete(f"/api/datasets/{dataset_id}")
        delete_right = client.delete(
            f"/api/datasets/{dataset_id}", headers={"Authorization": "Bearer s3cret"}
        )
        listing = client.get("/api/datasets")

    assert missing.status_code == 401
    assert right.status_code == 201
    assert delete_missing.status_code == 401
    assert delete_right.status_code == 204
    assert listing.status_code == 200


def test_delete_dataset(client: TestClient, api_settings: Settings) -> None:
    dataset_id = upload(client, pets_zip()).json()["name"]

    assert client.delete(f"/api/datasets/{dataset_id}").status_code == 204
    assert stored(api_settings) == []
    assert client.delete(f"/api/datasets/{dataset_id}").status_code == 404
    assert client.delete(f"/api/datasets/{UNKNOWN_ID}").json() == {
        "detail": f"Dataset '{UNKNOWN_ID}' not found; use a built-in name "
        "(fashion-mnist, mnist, cifar10) or an uploaded id."
    }
    assert client.delete("/api/datasets/fashion-mnist").status_code == 422


def test_restart_keeps_datasets(api_settings: Settings) -> None:
    with TestClient(create_app(api_settings)) as client:
        dataset_id = upload(client, pets_zip()).json()["name"]

    with TestClient(create_app(api_settings)) as client:
        names = [d["name"] for d in client.get("/api/datasets").json()]

    assert dataset_id in names

"""Model records: list, read, delete, weights download, API token and restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core import db
from app.core.config import Settings
from app.main import create_app
from app.services import models as models_service
from app.services.models import ModelStore
from cnn_core.serialization import Model, load_model, save_model, shipped_model_path
from tests.api.conftest import encode_png

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
MALFORMED_IDS = ["ABCDEF", "0123456789abcdef0123456789abcdeg", "default2", "..", "%2e%2e%2fetc"]
MODEL_FIELDS = {
    "id",
    "name",
    "dataset",
    "preset",
    "input_shape",
    "classes",
    "layers",
    "metrics",
    "n_params",
    "builtin",
    "created_at",
}


def test_list_contains_stored(client: TestClient, model_id: str, small_model: Model) -> None:
    response = client.get("/api/models")

    assert response.status_code == 200
    records = {record["id"]: record for record in response.json()}
    record = records[model_id]
    assert set(record) == MODEL_FIELDS
    assert record["name"] == "small"
    assert record["dataset"] == "fashion-mnist"
    assert record["input_shape"] == [28, 28, 1]
    assert record["classes"] == small_model.classes
    assert record["metrics"]["test_accuracy"] == small_model.metadata["test_accuracy"]
    assert record["n_params"] == small_model.network.n_params
    assert record["builtin"] is False
    assert [layer["name"] for layer in record["layers"]] == [
        spec["name"] for spec in small_model.network.spec
    ]
    assert record["layers"][0]["output_shape"] == [28, 28, 4]


@pytest.fixture
def shipped(monkeypatch, tmp_path, small_model: Model) -> Path:
    """Make a copy of ``small_model`` the shipped default model for this test."""
    path = tmp_path / "pretrained" / "default.npz"
    path.parent.mkdir()
    shipped_model = Model(
        small_model.network,
        small_model.classes,
        small_model.normalization,
        {"name": "Shipped", "dataset": "fashion-mnist", "test_accuracy": 0.5},
    )
    save_model(path, shipped_model)
    monkeypatch.setattr(models_service, "shipped_model_path", lambda: path)
    monkeypatch.setattr(models_service, "load_shipped_model", lambda: load_model(path))
    return path


def test_default_listed_first(api_settings: Settings, shipped: Path, small_model: Model) -> None:
    model_id = ModelStore(api_settings).add(small_model, name="mine", dataset="fashion-mnist")

    with TestClient(create_app(api_settings)) as client:
        records = client.get("/api/models").json()
        weights = client.get("/api/models/default/weights")

    assert [record["id"] for record in records] == ["default", model_id]
    assert records[0]["builtin"] is True
    assert records[0]["name"] == "Shipped"
    assert records[0]["metrics"] == {"test_accuracy": 0.5}
    assert weights.content == shipped.read_bytes()


def test_created_at_always_utc_z(api_settings: Settings, shipped: Path, small_model: Model) -> None:
    # The command line writes "+00:00" into a model's metadata; the API gives every time with "Z".
    shipped_model = load_model(shipped)
    shipped_model.metadata["created_at"] = "2026-12-04T21:41:00+01:00"
    save_model(shipped, shipped_model)
    ModelStore(api_settings).add(small_model, name="mine", dataset="fashion-mnist")

    with TestClient(create_app(api_settings)) as client:
        records = client.get("/api/models").json()

    assert records[0]["created_at"] == "2026-12-04T20:41:00Z"
    for record in records:
        assert record["created_at"].endswith("Z"), record


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04T20:41:00+00:00", "2026-12-04T20:41:00Z"),
        ("2026-12-04T20:41:00Z", "2026-12-04T20:41:00Z"),
        ("2026-12-04T20:41:00", "2026-12-04T20:41:00Z"),
        ("2026-12-04T15:41:00-05:00", "2026-12-04T20:41:00Z"),
        ("yesterday", "yesterday"),
    ],
)
def test_to_utc_text(text: str, expected: str) -> None:
    assert db.to_utc_text(text) == expected


def test_default_not_deletable(api_settings: Settings, shipped: Path) -> None:
    with TestClient(create_app(api_settings)) as client:
        response = client.delete("/api/models/default")
        after = client.get("/api/models/default")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Model 'default' is the shipped default model and cannot be deleted."
    }
    assert after.status_code == 200
    assert shipped.is_file()


def test_default_predicts(api_settings: Settings, shipped: Path, fashion_mnist_test) -> None:
    images, _ = fashion_mnist_test
    with TestClient(create_app(api_settings)) as client:
        response = client.post(
            "/api/models/default/predict", files={"file": ("x.png", encode_png(images[0]))}
        )

    assert response.status_code == 200
    assert response.json()["model_id"] == "default"


def test_default_missing_unlisted(api_settings: Settings, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(models_service, "shipped_model_path", lambda: tmp_path / "none.npz")

    with TestClient(create_app(api_settings)) as client:
        records = client.get("/api/models").json()
        response = client.get("/api/models/default")

    assert records == []
    assert response.status_code == 404


@pytest.mark.skipif(not shipped_model_path().is_file(), reason="the package has no default.npz")
def test_real_default_listed(client: TestClient) -> None:
    record = client.get("/api/models/default").json()

    assert record["builtin"] is True
    assert record["input_shape"] == [28, 28, 1]


def test_builtin_not_deletable(api_settings: Settings, small_model: Model) -> None:
    # Marks a stored model as built in, which is what the shipped default model is, so this
    # runs even before the default model file exists.
    store = ModelStore(api_settings)
    model_id = store.add(small_model, name="pinned", dataset="fashion-mnist")
    db.execute(api_settings.db_path, "UPDATE models SET builtin = 1 WHERE id = ?", (model_id,))
    with TestClient(create_app(api_settings)) as client:
        response = client.delete(f"/api/models/{model_id}")

    assert response.status_code == 409
    assert "cannot be deleted" in response.json()["detail"]
    assert store.weights_path(model_id).is_file()


def test_get_one(client: TestClient, model_id: str) -> None:
    response = client.get(f"/api/models/{model_id}")

    assert response.status_code == 200
    assert response.json()["id"] == model_id


@pytest.mark.parametrize("method, suffix", [
    ("GET", ""), ("DELETE", ""), ("GET", "/weights"), ("POST", "/predict"), ("POST", "/inspect"),
])  # fmt: skip
def test_unknown_id_404(client: TestClient, method: str, suffix: str) -> None:
    response = client.request(method, f"/api/models/{UNKNOWN_ID}{suffix}")

    assert response.status_code == 404
    assert response.json() == {"detail": f"Model '{UNKNOWN_ID}' not found."}


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize("method, suffix", [
    ("GET", ""), ("DELETE", ""), ("GET", "/weights"), ("POST", "/predict"), ("POST", "/inspect"),
])  # fmt: skip
def test_malformed_id_rejected(client: TestClient, bad_id: str, method: str, suffix: str) -> None:
    response = client.request(method, f"/api/models/{bad_id}{suffix}")

    assert response.status_code in (404, 422)
    assert isinstance(response.json()["detail"], str)


def test_delete_removes_file(client: TestClient, model_id: str, api_settings: Settings) -> None:
    path = ModelStore(api_settings).weights_path(model_id)

    response = client.delete(f"/api/models/{model_id}")

    assert response.status_code == 204
    assert not path.exists()
    assert client.get(f"/api/models/{model_id}").status_code == 404
    assert model_id not in [record["id"] for record in client.get("/api/models").json()]


def test_weights_download_loads(
    client: TestClient, model_id: str, small_model: Model, tmp_path
) -> None:
    response = client.get(f"/api/models/{model_id}/weights")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert f'filename="{model_id}.npz"' in response.headers["content-disposition"]
    path = tmp_path / "downloaded.npz"
    path.write_bytes(response.content)
    loaded = load_model(path)
    assert loaded.classes == small_model.classes
    assert loaded.normalization == small_model.normalization
    for key, value in small_model.network.parameters().items():
        np.testing.assert_array_equal(loaded.network.parameters()[key], value)


def test_token_required_for_delete(api_settings: Settings, small_model: Model) -> None:
    settings = api_settings.model_copy(update={"api_token": "s3cret"})
    model_id = ModelStore(settings).add(small_model, name="small", dataset="fashion-mnist")

    with TestClient(create_app(settings)) as client:
        missing = client.delete(f"/api/models/{model_id}")
        wrong = client.delete(f"/api/models/{model_id}", headers={"Authorization": "Bearer nope"})
        reading = client.get(f"/api/models/{model_id}")
        right = client.delete(f"/api/models/{model_id}", headers={"Authorization": "Bearer s3cret"})

    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("Missing API token")
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid API token."}
    assert reading.status_code == 200
    assert right.status_code == 204


def test_restart_keeps_models(api_settings: Settings, small_model: Model) -> None:
    with TestClient(create_app(api_settings)) as client:
        kept_id = ModelStore(api_settings).add(small_model, name="kept", dataset="fashion-mnist")
        deleted_id = ModelStore(api_settings).add(small_model, name="gone", dataset="fashion-mnist")
        assert client.delete(f"/api/models/{deleted_id}").status_code == 204

    with TestClient(create_app(api_settings)) as client:
        ids = [record["id"] for record in client.get("/api/models").json()]
        record = client.get(f"/api/models/{kept_id}").json()

    assert kept_id in ids
    assert deleted_id not in ids
    assert record["name"] == "kept"


def test_store_add_is_atomic(api_settings: Settings, small_model: Model, monkeypatch) -> None:
    store = ModelStore(api_settings)

    def failing_insert(connection, row):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ModelStore, "_insert", staticmethod(failing_insert))
    with pytest.raises(RuntimeError):
        store.add(small_model, name="broken", dataset="fashion-mnist")

    assert list(api_settings.models_dir.glob("*")) == []
    assert store.list() == []


@pytest.mark.parametrize("action", ["predict", "inspect"])
def test_deleted_model_not_found(client: TestClient, model_id: str, action: str) -> None:
    # The first request loads the model into the memory cache; deleting it must clear that.
    png = encode_png(np.zeros((28, 28), dtype=np.uint8))
    url = f"/api/models/{model_id}/{action}"

    first = client.post(url, files={"file": ("x.png", png, "image/png")})
    deleted = client.delete(f"/api/models/{model_id}")
    second = client.post(url, files={"file": ("x.png", png, "image/png")})

    assert first.status_code == 200
    assert deleted.status_code == 204
    assert second.status_code == 404
    assert second.json() == {"detail": f"Model {model_id!r} not found."}

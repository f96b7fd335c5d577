"""Health, presets, dataset listing, OpenAPI docs, CORS and error format."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.core.config import VERSION, Settings
from app.main import create_app
from cnn_core.presets import PRESETS


def test_health_ok(client: TestClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": VERSION}


def test_presets_list(client: TestClient) -> None:
    response = client.get("/api/presets")

    assert response.status_code == 200
    presets = {preset["name"]: preset for preset in response.json()}
    assert set(presets) == set(PRESETS)
    tiny = presets["tiny"]
    assert tiny["input_shape"] == [28, 28, 1]
    assert tiny["layers"][-1] == {"type": "softmax"}
    assert tiny["layers"][-2] == {"type": "dense", "units": 10}
    assert tiny["epochs"] == PRESETS["tiny"].epochs


def test_datasets_list_builtin(client: TestClient) -> None:
    response = client.get("/api/datasets")

    assert response.status_code == 200
    datasets = {dataset["name"]: dataset for dataset in response.json()}
    fashion = datasets["fashion-mnist"]
    assert fashion["kind"] == "builtin"
    assert fashion["available"] is True
    assert fashion["input_shape"] == [28, 28, 1]
    assert fashion["classes"][0] == "T-shirt/top"
    assert fashion["n_train"] == 60000
    assert fashion["n_test"] == 10000


def test_datasets_list_unavailable(api_settings: Settings, tmp_path) -> None:
    settings = api_settings.model_copy(update={"fashion_mnist_dir": tmp_path / "missing"})
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/datasets")

    fashion = next(d for d in response.json() if d["name"] == "fashion-mnist")
    assert fashion["available"] is False
    assert "missing" in fashion["problem"]


def test_openapi_documents_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]

    for path in (
        "/api/health",
        "/api/presets",
        "/api/datasets",
        "/api/models",
        "/api/models/{model_id}",
        "/api/models/{model_id}/weights",
        "/api/models/{model_id}/predict",
        "/api/models/{model_id}/inspect",
    ):
        assert path in paths, path
    predict = paths["/api/models/{model_id}/predict"]["post"]
    assert predict["summary"] == "Classify an image"
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert {"400", "404", "413", "415", "422"} <= set(predict["responses"])
    assert client.get("/docs").status_code == 200


def test_unknown_route_json_detail(client: TestClient) -> None:
    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_validation_error_is_string(client: TestClient) -> None:
    response = client.get("/api/models/NOT-AN-ID")

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "model_id" in detail


def test_cors_off_by_default(client: TestClient) -> None:
    response = client.get("/api/health", headers={"Origin": "http://example.test"})

    assert "access-control-allow-origin" not in response.headers


def test_cors_on_when_configured(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"cors_origins": ["http://example.test"]})
    with TestClient(create_app(settings)) as client:
        allowed = client.get("/api/health", headers={"Origin": "http://example.test"})
        other = client.get("/api/health", headers={"Origin": "http://other.test"})

    assert allowed.headers["access-control-allow-origin"] == "http://example.test"
    assert "access-control-allow-origin" not in other.headers


def test_settings_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CNN_PLAYGROUND_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CNN_PLAYGROUND_CORS_ORIGINS", "http://a.test, http://b.test")
    monkeypatch.setenv("CNN_PLAYGROUND_API_TOKEN", "")
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_UPLOAD_BYTES", "1234")

    settings = Settings()

    assert settings.data_dir == tmp_path
    assert settings.cors_origins == ["http://a.test", "http://b.test"]
    assert settings.api_token is None
    assert settings.max_upload_bytes == 1234
    assert settings.db_path == tmp_path / "playground.db"


def test_settings_fields_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name

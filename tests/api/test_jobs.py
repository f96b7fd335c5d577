"""Training jobs over HTTP with TestClient: create, validate, follow, cancel, queue, recover.

Jobs train the `tiny` preset on small Fashion-MNIST subsets in real worker processes.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core import db
from app.core.config import Settings
from app.main import create_app
from app.services.jobs import RESTARTED_ERROR
from app.services.models import ModelStore
from cnn_core.network import Network
from cnn_core.presets import PRESETS
from cnn_core.serialization import Model, load_model
from tests.api.conftest import FASHION_MNIST_DIR, encode_png

# Two epochs of the tiny preset on 1,000 images, evaluated on 500: a few seconds per job.
TINY_JOB = {
    "name": "tiny test",
    "dataset": "fashion-mnist",
    "preset": "tiny",
    "epochs": 2,
    "batch_size": 50,
    "train_limit": 1000,
    "test_limit": 500,
    "seed": 3,
}
# Enough work to still be running a few seconds after it starts.
LONG_JOB = {**TINY_JOB, "name": "long", "epochs": 20, "train_limit": 5000}


def make_settings(tmp_path: Path, **overrides) -> Settings:
    """Settings with a fresh data directory under `tmp_path`."""
    return Settings(data_dir=tmp_path / "data", fashion_mnist_dir=FASHION_MNIST_DIR, **overrides)


@contextmanager
def running_app(settings: Settings) -> Iterator[TestClient]:
    """Yield a client of an app whose lifespan (and job manager) runs for the block."""
    with TestClient(create_app(settings)) as client:
        yield client


def submit(client: TestClient, body: dict, **kwargs) -> dict:
    response = client.post("/api/jobs", json=body, **kwargs)
    assert response.status_code == 202, response.text
    return response.json()


def wait_for_status(client, job_id: str, statuses: set[str], timeout: float = 90.0) -> dict:
    """Poll the job until its status is one of `statuses`; return the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']!r} after {timeout} s"
        time.sleep(0.1)


def wait_until_training(client, job_id: str, timeout: float = 90.0) -> None:
    """Poll the job until its worker has finished at least one batch."""
    deadline = time.monotonic() + timeout
    while client.get(f"/api/jobs/{job_id}").json()["progress"] == 0:
        assert time.monotonic() < deadline, f"job made no progress in {timeout} s"
        time.sleep(0.1)


def read_events(client, job_id: str) -> list[tuple[str, dict]]:
    """Read the job's event stream to its end; return `(event name, decoded data)` pairs."""
    events = []
    name = None
    with client.stream("GET", f"/api/jobs/{job_id}/events", timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
    return events


def assert_finite_numbers(value: object) -> None:
    """Fail on any NaN or infinite float anywhere inside a decoded JSON value."""
    if isinstance(value, float):
        assert math.isfinite(value), value
    elif isinstance(value, dict):
        for item in value.values():
            assert_finite_numbers(item)
    elif isinstance(value, list):
        for item in value:
            assert_finite_numbers(item)


# Training end to end.


@pytest.mark.slow
def test_job_trains_streams_and_predicts(client: TestClient, fashion_mnist_test) -> None:
    created = submit(client, TINY_JOB)
    assert created["status"] == "queued"
    assert created["epochs"] == 2
    assert created["params"]["optimizer"] == "adam"  # the tiny preset's default

    events = read_events(client, created["id"])

    names = [name for name, _ in events]
    assert names[0] == "status"
    assert names[-1] == "status"
    assert events[-1][1]["status"] == "succeeded"
    epochs = [data for name, data in events if name == "epoch"]
    assert [entry["epoch"] for entry in epochs] == [1, 2]
    for entry in epochs:
        assert 0.0 <= entry["val_accuracy"] <= 1.0
        assert entry["train_loss"] > 0
    fractions = [data["progress"] for name, data in events if name == "progress"]
    assert fractions, "no progress event was sent"
    assert fractions == sorted(fractions)
    assert all(0.0 <= value <= 1.0 for value in fractions)

    job = client.get(f"/api/jobs/{created['id']}").json()
    assert job["status"] == "succeeded"
    assert job["progress"] == 1.0
    assert job["epoch"] == 2
    assert len(job["history"]) == 2
    assert job["error"] is None
    assert job["started_at"] is not None and job["finished_at"] is not None
    assert_finite_numbers(job)

    model = client.get(f"/api/models/{job['model_id']}").json()
    assert model["name"] == "tiny test"
    assert model["dataset"] == "fashion-mnist"
    # 1,000 images for two epochs is far from converged but well above the 0.1 of chance.
    assert model["metrics"]["test_accuracy"] > 0.4

    # The served model must classify real test images about as well as its recorded accuracy.
    images, labels = fashion_mnist_test
    hits = 0
    for index in range(20):
        png = encode_png(images[index])
        response = client.post(
            f"/api/models/{job['model_id']}/predict", files={"file": ("item.png", png, "image/png")}
        )
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert len(predictions) == 10
        assert sum(p["probability"] for p in predictions) == pytest.approx(1.0, abs=1e-4)
        hits += predictions[0]["class_index"] == labels[index]
    assert hits >= 8


@pytest.mark.slow
def test_late_subscriber_gets_current_state(client: TestClient) -> None:
    job = submit(client, {**TINY_JOB, "epochs": 1, "train_limit": 300})
    wait_for_status(client, job["id"], {"succeeded"})

    events = read_events(client, job["id"])

    assert len(events) == 1
    name, data = events[0]
    assert name == "status"
    assert data["status"] == "succeeded"
    assert len(data["history"]) == 1


@pytest.mark.slow
def test_jobs_queue_in_order(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_concurrent_jobs=1)
    with running_app(settings) as client:
        first = submit(client, {**TINY_JOB, "name": "first", "epochs": 1, "train_limit": 500})
        second = submit(client, {**TINY_JOB, "name": "second", "epochs": 1, "train_limit": 500})

        wait_for_status(client, first["id"], {"running"})
        assert client.get(f"/api/jobs/{second['id']}").json()["status"] == "queued"

        first_done = wait_for_status(client, first["id"], {"succeeded"})
        second_done = wait_for_status(client, second["id"], {"succeeded"})

    assert second_done["started_at"] >= first_done["finished_at"]


@pytest.mark.slow
def test_cancel_queued_and_running(client: TestClient) -> None:
    running = submit(client, LONG_JOB)
    queued = submit(client, {**LONG_JOB, "name": "queued"})
    wait_for_status(client, running["id"], {"running"})
    wait_until_training(client, running["id"])

    response = client.delete(f"/api/jobs/{queued['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = client.delete(f"/api/jobs/{queued['id']}")
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"

    started = time.monotonic()
    response = client.delete(f"/api/jobs/{running['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["model_id"] is None
    # A cooperative stop takes about one batch, and a forced one would take 7 seconds.
    assert time.monotonic() - started < 5.0

    listing = {job["id"]: job["status"] for job in client.get("/api/jobs").json()}
    assert listing == {running["id"]: "cancelled", queued["id"]: "cancelled"}
    # The worker exits right after it reports, and the dispatcher then drops its process.
    deadline = time.monotonic() + 5.0
    while client.app.state.jobs.worker_pid(running["id"]) is not None:
        assert time.monotonic() < deadline, "the cancelled worker process did not exit"
        time.sleep(0.05)


@pytest.mark.slow
def test_cancel_finished_job_conflicts(client: TestClient) -> None:
    job = submit(client, {**TINY_JOB, "epochs": 1, "train_limit": 200})
    wait_for_status(client, job["id"], {"succeeded"})

    response = client.delete(f"/api/jobs/{job['id']}")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Job {job['id']!r} already finished with status 'succeeded', "
        "so there is nothing to cancel."
    )


@pytest.mark.slow
def test_huge_learning_rate_diverges(client: TestClient) -> None:
    body = {**TINY_JOB, "optimizer": "sgd", "learning_rate": 1e5, "epochs": 1}
    job = submit(client, body)

    events = read_events(client, job["id"])
    final = wait_for_status(client, job["id"], {"diverged", "failed", "succeeded"})

    assert final["status"] == "diverged"
    assert "diverged" in final["error"]
    assert "learning rate" in final["error"].lower()
    assert final["model_id"] is None
    assert events[-1][1]["status"] == "diverged"
    raw = client.get(f"/api/jobs/{job['id']}").text
    assert "NaN" not in raw
    assert "Infinity" not in raw
    assert_finite_numbers(json.loads(raw))


@pytest.mark.slow
def test_killed_worker_fails_job_and_keeps_models(client: TestClient) -> None:
    done = submit(client, {**TINY_JOB, "epochs": 1, "train_limit": 300})
    first_model = wait_for_status(client, done["id"], {"succeeded"})["model_id"]
    victim = submit(client, LONG_JOB)
    wait_for_status(client, victim["id"], {"running"})
    pid = client.app.state.jobs.worker_pid(victim["id"])
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    final = wait_for_status(client, victim["id"], {"failed", "cancelled", "succeeded"})

    assert final["status"] == "failed"
    assert final["error"] == "The worker process stopped unexpectedly with exit code -9."
    store = ModelStore(client.app.state.settings)
    trained = [record for record in store.list() if not record["builtin"]]
    assert [record["id"] for record in trained] == [first_model]
    for record in store.list():
        load_model(record["path"])


@pytest.mark.slow
def test_worker_error_fails_job_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.services.jobs")
    # The dataset folder is a copy made of links, so its files can vanish after validation.
    dataset_dir = tmp_path / "fashion"
    dataset_dir.mkdir()
    for source in FASHION_MNIST_DIR.iterdir():
        (dataset_dir / source.name).symlink_to(source)
    settings = Settings(
        data_dir=tmp_path / "data", fashion_mnist_dir=dataset_dir, max_concurrent_jobs=1
    )

    with running_app(settings) as client:
        blocker = submit(client, LONG_JOB)
        doomed = submit(client, {**TINY_JOB, "name": "doomed"})
        for link in dataset_dir.iterdir():
            link.unlink()
        # The blocker may already have failed on the missing files too, and then gets 409.
        client.delete(f"/api/jobs/{blocker['id']}")
        final = wait_for_status(client, doomed["id"], {"failed", "succeeded"})

    assert final["status"] == "failed"
    assert final["error"].startswith("DatasetError: the train split of fashion-mnist was not found")
    assert "\n" not in final["error"]
    assert "Traceback" not in final["error"]
    failures = [
        record
        for record in caplog.records
        if record.levelname == "ERROR" and doomed["id"] in record.getMessage()
    ]
    assert len(failures) == 1
    assert "Traceback (most recent call last)" in failures[0].getMessage()
    started = [r for r in caplog.records if f"Job {doomed['id']} started" in r.getMessage()]
    assert len(started) == 1


def _save_models_forever(data_dir: str, ready) -> None:
    """Store the same model again and again through ModelStore; runs in a spawned process."""
    network = Network(
        [
            {"type": "flatten"},
            {"type": "dense", "units": 2048},
            {"type": "dense", "units": 10},
            {"type": "softmax"},
        ],
        (28, 28, 1),
    )
    store = ModelStore(Settings(data_dir=Path(data_dir)))
    model = Model(network, [str(i) for i in range(10)])
    ready.set()
    while True:
        store.add(model, name="loop", dataset="fashion-mnist")


@pytest.mark.slow
def test_kill_during_save_keeps_models_loadable(api_settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    saver = context.Process(target=_save_models_forever, args=(str(api_settings.data_dir), ready))
    saver.start()
    try:
        assert ready.wait(60), "the saving process did not start"
        # Each save writes 6.5 MB and takes most of the loop, so the kill most likely lands
        # in the middle of one.
        time.sleep(1.0)
    finally:
        saver.kill()
        saver.join()

    store = ModelStore(api_settings)
    records = [record for record in store.list() if not record["builtin"]]
    assert records, "no model was saved before the kill"
    for record in records:
        loaded = load_model(record["path"])
        assert loaded.network.n_params == 784 * 2048 + 2048 + 2048 * 10 + 10
    stored_files = {path.name for path in api_settings.models_dir.glob("*.npz")}
    assert stored_files >= {f"{record['id']}.npz" for record in records}


# Validation before queueing.


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 51}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"seed": -1}, "seed"),
        ({"train_limit": 0}, "train_limit"),
        ({"train_limit": 60_001}, "train_limit"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
        ({"preset": "huge"}, "preset"),
        ({"dataset": "no-such-data"}, "dataset"),
        ({"dataset": ""}, "dataset"),
        ({"colour": "red"}, "colour"),
        ({"name": ""}, "name"),
    ],
)
def test_create_job_rejects_invalid_field(client: TestClient, change: dict, field: str) -> None:
    response = client.post("/api/jobs", json={**TINY_JOB, **change})

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert f"{field}:" in detail
    assert client.get("/api/jobs").json() == []


def test_create_job_rejects_nan_learning_rate(client: TestClient) -> None:
    body = json.dumps({**TINY_JOB, "learning_rate": float("nan")})
    assert "NaN" in body

    response = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert "learning_rate:" in response.json()["detail"]


def test_create_job_names_the_bad_layer(client: TestClient) -> None:
    layers = [
        {"type": "conv", "filters": 4, "f": 3},
        {"type": "maxpool", "f": 2, "name": "pool"},
        {"type": "conv", "filters": 4, "f": 20},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
        {"type": "softmax"},
    ]
    body = {key: value for key, value in TINY_JOB.items() if key != "preset"}

    response = client.post("/api/jobs", json={**body, "layers": layers})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("Invalid request: layers: layer 2, 'conv2', type 'conv'")
    assert "input shape (13, 13, 4)" in detail
    assert "window" in detail


def test_create_job_checks_logit_count(client: TestClient) -> None:
    layers = [{"type": "flatten"}, {"type": "dense", "units": 3}, {"type": "softmax"}]
    body = {key: value for key, value in TINY_JOB.items() if key != "preset"}

    response = client.post("/api/jobs", json={**body, "layers": layers})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid request: layers: layer 1 'dense1' gives 3 logits, but fashion-mnist has 10 "
        "classes; set its units to 10."
    )


def test_create_job_rejects_preset_and_layers(client: TestClient) -> None:
    layers = [{"type": "flatten"}, {"type": "dense", "units": 10}, {"type": "softmax"}]

    response = client.post("/api/jobs", json={**TINY_JOB, "layers": layers})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid request: layers: give either preset or layers, not both."
    )


@pytest.mark.parametrize(
    ("layers", "detail"),
    [
        (
            [
                {"type": "conv", "filters": 9, "f": 3},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
                {"type": "softmax"},
            ],
            "layers[0].filters: 9 is over the server limit of 8.",
        ),
        (
            [
                {"type": "flatten"},
                {"type": "dense", "units": 17},
                {"type": "relu"},
                {"type": "dense", "units": 10},
                {"type": "softmax"},
            ],
            "layers[1].units: 17 is over the server limit of 16.",
        ),
        (
            [{"type": "flatten"}]
            + [{"type": "relu"}] * 4
            + [{"type": "dense", "units": 10}, {"type": "softmax"}],
            "layers: 7 layers is over the server limit of 6.",
        ),
    ],
)
def test_create_job_applies_layer_limits(tmp_path: Path, layers: list, detail: str) -> None:
    settings = make_settings(tmp_path, max_filters=8, max_units=16, max_layers=6)
    body = {key: value for key, value in TINY_JOB.items() if key != "preset"}

    with running_app(settings) as client:
        response = client.post("/api/jobs", json={**body, "layers": layers})

    assert response.status_code == 422
    assert response.json()["detail"] == f"Invalid request: {detail}"


def test_create_job_applies_limits_to_presets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_filters=8)

    with running_app(settings) as client:
        response = client.post("/api/jobs", json=TINY_JOB)

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid request: preset[0].filters: 16 is over the server limit of 8."
    )


def test_create_job_rejects_oversized_network(client: TestClient) -> None:
    layers = [
        {"type": "conv", "filters": 128, "f": 3, "pad": 1},
        {"type": "flatten"},
        {"type": "dense", "units": 4096},
        {"type": "dense", "units": 10},
        {"type": "softmax"},
    ]
    body = {key: value for key, value in TINY_JOB.items() if key != "preset"}

    response = client.post("/api/jobs", json={**body, "layers": layers})

    assert response.status_code == 422
    assert "parameters, over the limit" in response.json()["detail"]


def test_preset_defaults_fill_missing_values(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_concurrent_jobs=1, max_train_examples=5000)
    with running_app(settings) as client:
        # Occupies the only slot, so the second job stays queued and is only inspected.
        blocker = submit(client, LONG_JOB)
        job = submit(client, {"dataset": "fashion-mnist", "preset": "small"})
        client.delete(f"/api/jobs/{job['id']}")
        client.delete(f"/api/jobs/{blocker['id']}")

    params = job["params"]
    preset = PRESETS["small"]
    assert job["name"] == "small on fashion-mnist"
    assert params["epochs"] == preset.epochs
    assert params["batch_size"] == preset.batch_size
    assert params["optimizer"] == preset.optimizer
    assert params["learning_rate"] == preset.learning_rate
    assert params["train_limit"] == 5000
    assert params["layers"][-2]["units"] == 10
    assert params["input_shape"] == [28, 28, 1]


# Access and ids.


def test_token_required_to_create_and_cancel(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_token="s3cret")
    with running_app(settings) as client:
        missing = client.post("/api/jobs", json=TINY_JOB)
        wrong = client.post("/api/jobs", json=TINY_JOB, headers={"Authorization": "Bearer nope"})
        listing = client.get("/api/jobs")
        job = submit(client, TINY_JOB, headers={"Authorization": "Bearer s3cret"})
        cancel_without = client.delete(f"/api/jobs/{job['id']}")
        cancel_with = client.delete(
            f"/api/jobs/{job['id']}", headers={"Authorization": "Bearer s3cret"}
        )

    assert missing.status_code == 401
    assert "API token" in missing.json()["detail"]
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Invalid API token."
    assert listing.status_code == 200
    assert cancel_without.status_code == 401
    assert cancel_with.status_code == 200
    assert cancel_with.json()["status"] == "cancelled"


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job", "A" * 32, "0" * 33])
@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", ""), ("GET", "/events")])
def test_unknown_job_is_not_found(
    client: TestClient, job_id: str, method: str, suffix: str
) -> None:
    response = client.request(method, f"/api/jobs/{job_id}{suffix}")

    assert response.status_code == 404
    assert response.json()["detail"] == f"Job {job_id!r} not found."


# Restart.


def test_restart_fails_interrupted_jobs_and_keeps_the_rest(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db.init_db(settings.db_path)
    network = Network(
        [{"type": "flatten"}, {"type": "dense", "units": 10}, {"type": "softmax"}], (28, 28, 1)
    )
    model_id = ModelStore(settings).add(
        Model(network, [str(i) for i in range(10)]), name="kept", dataset="fashion-mnist"
    )
    history = [
        {
            "epoch": 1,
            "train_loss": 0.5,
            "train_accuracy": 0.8,
            "val_loss": 0.6,
            "val_accuracy": 0.7,
            "seconds": 1.0,
        }
    ]
    rows = [
        ("a" * 32, "done", "succeeded", 1.0, 1, history, model_id, None),
        ("b" * 32, "was running", "running", 0.4, 1, history, None, None),
        ("c" * 32, "was queued", "queued", 0.0, 0, [], None, None),
    ]
    for job_id, name, status, progress, epoch, entries, model, error in rows:
        db.execute(
            settings.db_path,
            "INSERT INTO jobs (id, name, status, params, progress, epoch, history, model_id, "
            "error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                name,
                status,
                db.to_json({"epochs": 2}),
                progress,
                epoch,
                db.to_json(entries),
                model,
                error,
                db.utc_now(),
            ),
        )

    with running_app(settings) as client:
        jobs = {job["id"]: job for job in client.get("/api/jobs").json()}
        model = client.get(f"/api/models/{model_id}")

    assert jobs["a" * 32]["status"] == "succeeded"
    assert jobs["a" * 32]["model_id"] == model_id
    assert jobs["a" * 32]["history"] == history
    for job_id in ("b" * 32, "c" * 32):
        assert jobs[job_id]["status"] == "failed"
        assert jobs[job_id]["error"] == RESTARTED_ERROR
        assert jobs[job_id]["finished_at"] is not None
    assert jobs["b" * 32]["progress"] == 0.4
    assert model.status_code == 200
    assert model.json()["name"] == "kept"

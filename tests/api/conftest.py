"""Fixtures of the HTTP API tests: settings on a temporary data directory, a TestClient, a
small trained model, and a real server started on a free loopback port.
"""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.main import create_app
from app.services.models import DEFAULT_MODEL_ID, ModelStore
from cnn_core.datasets import load_dataset, to_model_input
from cnn_core.datasets.normalization import compute_normalization
from cnn_core.network import Network
from cnn_core.serialization import Model, shipped_model_path
from cnn_core.training import evaluate, train

FASHION_MNIST_DIR = Path(
    os.environ.get("CNN_PLAYGROUND_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
)

# A network small enough to train in about a second on a few thousand images.
SMALL_SPEC = [
    {"type": "conv", "filters": 4, "f": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "f": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 10},
    {"type": "softmax"},
]
SMALL_TRAIN_EXAMPLES = 2000

SERVER_START_TIMEOUT_S = 30.0


@dataclass
class LiveServer:
    """A ``cnn-playground`` server process listening on ``base_url``."""

    base_url: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    model_id: str | None = None  # a model stored before the server started, if any

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` on this server."""
        return self.base_url + path

    def log(self) -> str:
        """Return what the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(port: int, data_dir: Path) -> list[str]:
    """Return the command that starts the server: the CLI when it exists, else uvicorn."""
    script = Path(sys.executable).parent / "cnn-playground"
    if script.is_file() and importlib.util.find_spec("app.cli.serve") is not None:
        return [
            str(script), "serve",
            "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "app.main:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def start_live_server(data_dir: Path, env: dict[str, str] | None = None) -> LiveServer:
    """Start a server on a free loopback port and wait until ``/api/health`` responds."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server_env = {
        **os.environ,
        "CNN_PLAYGROUND_DATA_DIR": str(data_dir),
        "CNN_PLAYGROUND_HOST": "127.0.0.1",
        "CNN_PLAYGROUND_PORT": str(port),
        **(env or {}),
    }
    log_path = data_dir.parent / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(port, data_dir),
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, process, log_path)

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url("/api/health"), timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)

    stop_live_server(server)
    raise RuntimeError(f"server did not answer within {SERVER_START_TIMEOUT_S} s:\n{server.log()}")


def stop_live_server(server: LiveServer) -> None:
    """Stop the server with SIGTERM, then SIGKILL if it does not exit in time."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def encode_png(image: np.ndarray) -> bytes:
    """Encode a uint8 array ``(n_H, n_W)`` or ``(n_H, n_W, n_C)`` as PNG bytes."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def fashion_mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The Fashion-MNIST test split: uint8 images ``(10000, 28, 28, 1)`` and labels ``(10000,)``."""
    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR}")
    test = load_dataset("fashion-mnist", "test", directory=FASHION_MNIST_DIR)
    return test.images, test.labels


@pytest.fixture(scope="session")
def small_model() -> Model:
    """A small CNN trained for about a second on the first Fashion-MNIST training images."""
    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR}")
    data = load_dataset("fashion-mnist", "train", directory=FASHION_MNIST_DIR)
    X, y = data.images[:SMALL_TRAIN_EXAMPLES], data.labels[:SMALL_TRAIN_EXAMPLES]

    normalization = compute_normalization(X)
    network = Network(SMALL_SPEC, input_shape=(28, 28, 1), seed=0)
    train(
        network,
        to_model_input(X, normalization),
        y,
        epochs=1,
        batch_size=32,
        optimizer="adam",
        learning_rate=0.003,
        seed=0,
    )
    accuracy = evaluate(network, to_model_input(X[:500], normalization), y[:500]).accuracy
    return Model(network, data.classes, normalization, {"test_accuracy": accuracy})


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    """Settings on an empty data directory under ``tmp_path``, with the default limits."""
    return Settings(data_dir=tmp_path / "data", fashion_mnist_dir=FASHION_MNIST_DIR)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """A TestClient of an app built on ``api_settings``, with startup and shutdown run."""
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def model_id(api_settings: Settings, small_model: Model, client: TestClient) -> str:
    """Id of ``small_model`` stored in the data directory of ``client``."""
    return ModelStore(api_settings).add(
        small_model, name="small", dataset="fashion-mnist", preset=None
    )


@pytest.fixture(scope="session")
def accuracy_model_id() -> str | None:
    """``"default"`` when the shipped model exists, else None (tests then use ``small_model``)."""
    return DEFAULT_MODEL_ID if shipped_model_path().is_file() else None


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, small_model: Model
) -> Iterator[LiveServer]:
    """A real server on a free loopback port whose data directory contains ``small_model``.

    The model id is in ``live_server.model_id``.
    """
    data_dir = tmp_path_factory.mktemp("live") / "data"
    settings = Settings(data_dir=data_dir)
    model_id = ModelStore(settings).add(small_model, name="small", dataset="fashion-mnist")

    server = start_live_server(data_dir)
    server.model_id = model_id
    try:
        yield server
    finally:
        stop_live_server(server)

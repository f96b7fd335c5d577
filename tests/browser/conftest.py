"""Fixtures of the browser tests: a real uvicorn server on a free loopback port, a temporary data
directory with a model to classify with, and a headless Chromium driven by Playwright."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 60
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class LiveServer:
    """A running server: its base URL, data directory and the id of a model it can use."""

    url: str
    data_dir: Path
    model_id: str
    log_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@dataclass
class BrowserPage:
    """A Playwright page plus every console error and uncaught exception it reported."""

    page: object
    errors: list[str] = field(default_factory=list)

    def unexpected_errors(self, allowed: tuple[str, ...] = ()) -> list[str]:
        """Return the errors that contain none of the `allowed` substrings."""
        return [error for error in self.errors if not any(part in error for part in allowed)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train_tiny_model(settings) -> str:
    """Train the `tiny` preset for one short epoch on Fashion-MNIST and store it; return its id.

    Used when the shipped default model is missing, so the pages have a model to show.
    """
    from app.services.models import ModelStore
    from cnn_core.datasets import load_dataset
    from cnn_core.datasets.normalization import compute_normalization, to_model_input
    from cnn_core.network import Network
    from cnn_core.presets import preset_layers
    from cnn_core.serialization import Model
    from cnn_core.training import evaluate, train

    train_split = load_dataset("fashion-mnist", "train", directory=FASHION_MNIST_DIR)
    test_split = load_dataset("fashion-mnist", "test", directory=FASHION_MNIST_DIR)
    images, labels = train_split.images[:3000], train_split.labels[:3000]
    normalization = compute_normalization(images)

    network = Network(preset_layers("tiny", 10), (28, 28, 1), seed=0)
    train(network, to_model_input(images, normalization), labels, epochs=1, batch_size=64,
          optimizer="adam", learning_rate=0.002, seed=0)
    result = evaluate(network, to_model_input(test_split.images[:1000], normalization),
                      test_split.labels[:1000])

    model = Model(network, train_split.classes, normalization=normalization,
                  metadata={"name": "Tiny browser-test model", "dataset": "fashion-mnist"})
    return ModelStore(settings).add(
        model, name="Tiny browser-test model", dataset="fashion-mnist", preset="tiny",
        metrics={"test_accuracy": float(result.accuracy)},
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Start `uvicorn app.main:app` on a free 127.0.0.1 port with a fresh data directory."""
    from app.core.config import Settings
    from cnn_core.serialization import shipped_model_path

    data_dir = tmp_path_factory.mktemp("browser-data")
    settings = Settings(data_dir=data_dir, fashion_mnist_dir=FASHION_MNIST_DIR)
    model_id = "default" if shipped_model_path().is_file() else _train_tiny_model(settings)

    port = _free_port()
    env = {
        **os.environ,
        "CNN_PLAYGROUND_DATA_DIR": str(data_dir),
        "CNN_PLAYGROUND_FASHION_MNIST_DIR": str(FASHION_MNIST_DIR),
    }
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within {SERVER_START_TIMEOUT_S} s:\n"
                            f"{log_path.read_text()}")
            time.sleep(0.2)
        yield LiveServer(url, data_dir, model_id, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Launch the system Chromium headless through Playwright."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install the Debian package chromium"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _open_page(browser, live_server: LiveServer, viewport: dict) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    wrapped = BrowserPage(page)
    page.on("console", lambda message: wrapped.errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: wrapped.errors.append(f"uncaught: {error}"))
    yield wrapped
    context.close()


@pytest.fixture
def desktop(browser, live_server: LiveServer) -> Iterator[BrowserPage]:
    """A fresh 1280×800 browser tab."""
    yield from _open_page(browser, live_server, DESKTOP)


@pytest.fixture
def phone(browser, live_server: LiveServer) -> Iterator[BrowserPage]:
    """A fresh 390×844 browser tab, the width of a common phone."""
    yield from _open_page(browser, live_server, PHONE)


@pytest.fixture(scope="session")
def fashion_test_images() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The Fashion-MNIST test split: uint8 images (m, 28, 28, 1), labels (m,) and class names."""
    from cnn_core.datasets import load_dataset

    split = load_dataset("fashion-mnist", "test", directory=FASHION_MNIST_DIR)
    return split.images, split.labels, split.classes


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image (n_H, n_W, 1) as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0]).save(buffer, format="PNG")
    return buffer.getvalue()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

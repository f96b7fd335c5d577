"""Fixtures of the command-line tests: the installed ``cnn-playground`` script run in a subprocess,
PNG files of real Fashion-MNIST test images, and small model files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_core.datasets import compute_normalization, load_dataset
from cnn_core.network import Network
from cnn_core.presets import preset_layers
from cnn_core.serialization import Model, save_model

CLI = Path(sys.executable).parent / "cnn-playground"
FASHION_MNIST_DIR = Path(
    os.environ.get("CNN_PLAYGROUND_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
)
CLI_TIMEOUT_S = 300
N_TEST_IMAGES = 3


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run ``cnn-playground ARGS...`` and return the ``CompletedProcess`` with text output."""
    assert CLI.is_file(), f"{CLI} is missing; install the package with `pip install -e .`"
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def run_json(*args: str) -> dict | list:
    """Run a command that prints JSON, check that it succeeded and return the parsed output."""
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def test_images(tmp_path_factory) -> list[tuple[Path, str]]:
    """The first Fashion-MNIST test images saved as PNG files, with their class names."""
    dataset = load_dataset("fashion-mnist", "test", directory=FASHION_MNIST_DIR)
    folder = tmp_path_factory.mktemp("images")
    images = []
    for index in range(N_TEST_IMAGES):
        path = folder / f"test{index}.png"
        Image.fromarray(dataset.images[index, :, :, 0]).save(path)
        images.append((path, dataset.classes[dataset.labels[index]]))
    return images


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """A freshly initialized ``tiny`` model file with Fashion-MNIST classes and normalization."""
    dataset = load_dataset("fashion-mnist", "test", directory=FASHION_MNIST_DIR)
    network = Network(preset_layers("tiny", 10), (28, 28, 1), seed=3)
    model = Model(
        network,
        list(dataset.classes),
        normalization=compute_normalization(dataset.images),
        metadata={"dataset": "fashion-mnist"},
    )
    return save_model(tmp_path_factory.mktemp("untrained") / "untrained.npz", model)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> tuple[Path, object]:
    """A ``tiny`` model trained by the CLI for one epoch on 2,000 images, with the run's result."""
    path = tmp_path_factory.mktemp("trained") / "subset.npz"
    result = run_cli(
        "train", "--dataset", "fashion-mnist", "--preset", "tiny", "--epochs", "1",
        "--train-limit", "2000", "--seed", "1", "--output", str(path),
        "--data-dir", str(FASHION_MNIST_DIR),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return path, result


@pytest.fixture(scope="session")
def trained_report(trained_model) -> dict:
    """The ``evaluate --json`` report of ``trained_model`` on the Fashion-MNIST test split."""
    path, _ = trained_model
    return run_json("evaluate", str(path), "--dataset", "fashion-mnist", "--json")


def probabilities_in_process(model_path: Path, image_path: Path) -> np.ndarray:
    """Compute the class probabilities ``(n_classes,)`` of one image without the CLI."""
    from cnn_core.datasets import decode_image, preprocess
    from cnn_core.serialization import load_model

    model = load_model(model_path)
    X = preprocess(decode_image(image_path.read_bytes()), model.input_shape, model.normalization)
    return model.network.predict_proba(X)[:, 0]

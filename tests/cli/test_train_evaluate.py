"""``train`` on a small subset, and ``evaluate`` of that model and of the shipped default."""

from __future__ import annotations

import shlex

import numpy as np
import pytest
from PIL import Image

from cnn_core.serialization import load_model, shipped_model_path

from .conftest import run_cli, run_json

CHANCE = 0.1  # ten balanced classes


@pytest.mark.slow
def test_train_subset_beats_chance(trained_model, trained_report):
    path, result = trained_model
    report = trained_report

    assert report["accuracy"] > CHANCE + 0.4
    assert report["n_examples"] == 10_000
    assert "test accuracy" in result.stdout
    assert path.with_name("subset.best.npz").is_file()


@pytest.mark.slow
def test_train_records_metadata(trained_model, trained_report):
    path, _ = trained_model
    metadata = load_model(path).metadata
    report = trained_report

    argv = shlex.split(metadata["command"])
    assert argv[:2] == ["cnn-playground", "train"]
    assert argv[argv.index("--train-limit") + 1] == "2000"
    assert metadata["seed"] == 1
    assert metadata["preset"] == "tiny"
    assert metadata["created_at"][:2] == "20"
    assert (metadata["epochs"], metadata["batch_size"]) == (1, 64)
    assert metadata["optimizer"] == "adam"
    assert metadata["learning_rate"] > 0
    assert metadata["train_size"] == 2000
    assert metadata["training_seconds"] > 0
    assert len(metadata["history"]) == 1
    assert metadata["test_accuracy"] == pytest.approx(report["accuracy"], abs=1e-12)


@pytest.mark.slow
def test_evaluate_text_tables(trained_model):
    path, _ = trained_model
    result = run_cli("evaluate", str(path))

    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout
    assert "Ankle boot" in result.stdout
    assert "confusion matrix" in result.stdout


@pytest.mark.slow
def test_evaluate_json_fields(trained_report):
    report = trained_report

    confusion = report["confusion_matrix"]
    assert len(confusion) == 10
    assert sum(map(sum, confusion)) == report["n_examples"]
    assert sum(confusion[i][i] for i in range(10)) / report["n_examples"] == pytest.approx(
        report["accuracy"]
    )
    assert list(report["per_class_accuracy"]) == report["classes"]
    assert report["loss"] > 0


@pytest.mark.slow
def test_evaluate_shipped_default():
    assert shipped_model_path("default").is_file(), "the shipped default model is missing"
    report = run_json("evaluate", "default", "--dataset", "fashion-mnist", "--json")

    assert report["n_examples"] == 10_000
    assert report["accuracy"] >= 0.90


def test_train_image_folder(tmp_path):
    # Two classes that differ in brightness, 12 images each, in one subfolder per class.
    rng = np.random.default_rng(0)
    for name, low in (("dark", 0), ("light", 160)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(12):
            pixels = rng.integers(low, low + 96, size=(20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{index}.png")
    output = tmp_path / "folder.npz"

    result = run_cli(
        "train", "--dataset", str(tmp_path / "photos"), "--epochs", "2", "--batch-size", "4",
        "--quiet", "--output", str(output),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    model = load_model(output)
    assert model.classes == ["dark", "light"]
    assert model.input_shape == (28, 28, 1)
    assert model.metadata["validation_source"] == "0.2 of the training images"
    assert (model.metadata["train_size"], model.metadata["validation_size"]) == (20, 4)
    assert "test_accuracy" not in model.metadata
    assert "test accuracy" not in result.stdout

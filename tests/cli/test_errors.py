"""Every error path exits non-zero with one line on stderr and no traceback."""

from __future__ import annotations

import pytest

from .conftest import run_cli


def check_one_line_error(result, fragment: str, returncode: int | None = None) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    if returncode is not None:
        assert result.returncode == returncode
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    (folder / "empty_dataset").mkdir()
    (folder / "a_file").write_text("x")
    return {
        name: folder / name
        for name in ("text.png", "empty.png", "garbage.npz", "empty_dataset", "a_file")
    } | {"folder": folder}


def test_missing_model_file(test_images):
    image, _ = test_images[0]
    result = run_cli("predict", "no/such/model.npz", str(image))
    check_one_line_error(result, "not found", returncode=1)


def test_unknown_shipped_model(test_images):
    image, _ = test_images[0]
    result = run_cli("predict", "no-such-shipped-model", str(image))
    check_one_line_error(result, "shipped model 'no-such-shipped-model' not found")


def test_bad_model_file(bad_files, test_images):
    image, _ = test_images[0]
    result = run_cli("predict", str(bad_files["garbage.npz"]), str(image))
    check_one_line_error(result, "could not be read")


def test_missing_image(untrained_model):
    result = run_cli("predict", str(untrained_model), "no_such_image.png")
    check_one_line_error(result, "image file no_such_image.png not found")


@pytest.mark.parametrize("name", ["text.png", "empty.png"])
def test_bad_image(untrained_model, bad_files, name):
    result = run_cli(
        "inspect",
        str(untrained_model),
        str(bad_files[name]),
        "--out",
        str(bad_files["folder"] / "maps"),
    )
    check_one_line_error(result, f"image file {bad_files[name]} is invalid")


def test_inspect_out_is_file(untrained_model, bad_files, test_images):
    image, _ = test_images[0]
    result = run_cli("inspect", str(untrained_model), str(image), "--out", str(bad_files["a_file"]))
    check_one_line_error(result, "cannot create output folder")


def test_unknown_dataset(untrained_model):
    result = run_cli("evaluate", str(untrained_model), "--dataset", "no-such-dataset")
    check_one_line_error(result, "unknown dataset 'no-such-dataset'")


def test_missing_dataset_hint(untrained_model, bad_files):
    result = run_cli(
        "evaluate", str(untrained_model), "--dataset", "fashion-mnist",
        "--data-dir", str(bad_files["empty_dataset"]),
    )  # fmt: skip
    check_one_line_error(result, "apt-get install dataset-fashion-mnist")


def test_missing_dataset_from_env(bad_files, tmp_path):
    result = run_cli(
        "train", "--output", str(tmp_path / "m.npz"),
        env={"CNN_PLAYGROUND_FASHION_MNIST_DIR": str(bad_files["empty_dataset"])},
    )  # fmt: skip
    check_one_line_error(result, str(bad_files["empty_dataset"]))
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--epochs", "0"], "argument --epochs: invalid value '0'"),
        (["train", "--batch-size", "many"], "argument --batch-size: invalid value 'many'"),
        (["train", "--learning-rate", "-0.1"], "argument --learning-rate"),
        (["train", "--learning-rate", "nan"], "argument --learning-rate"),
        (["train", "--validation-split", "1"], "argument --validation-split"),
        (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice"),
        (["predict", "default", "x.png", "--top", "0"], "argument --top"),
        (["serve", "--port", "70000"], "argument --port: invalid port '70000'"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
    ],
)
def test_bad_option_value(args, fragment, tmp_path):
    if args[0] == "train":
        args = [*args, "--output", str(tmp_path / "m.npz")]
    result = run_cli(*args)
    check_one_line_error(result, fragment, returncode=2)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--preset", "huge"], "unknown preset 'huge'; choose one of"),
        (["--output", "model.txt"], "--output must be a .npz path"),
        (["--train-limit", "70000"], "--train-limit 70000 is larger than the 60,000"),
    ],
)
def test_bad_train_request(args, fragment, tmp_path):
    if "--output" not in args:
        args = [*args, "--output", str(tmp_path / "m.npz")]
    result = run_cli("train", *args, "--epochs", "1", cwd=tmp_path)
    check_one_line_error(result, fragment, returncode=1)
    assert not (tmp_path / "m.npz").exists()


def test_diverging_training(tmp_path):
    result = run_cli(
        "train", "--train-limit", "500", "--epochs", "1", "--optimizer", "sgd",
        "--learning-rate", "1e9", "--lr-schedule", "constant", "--quiet",
        "--validation-split", "0.2", "--output", str(tmp_path / "m.npz"),
    )  # fmt: skip
    check_one_line_error(result, "training diverged", returncode=1)
    assert "Lower the learning rate" in result.stderr

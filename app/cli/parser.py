"""Argument parser of ``cnn-playground``: every command, option, unit and default in one place."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from app.core.config import VERSION

PROG = "cnn-playground"
# An image folder has no test split, so `train` holds out this fraction of it for validation
# unless --validation-split sets another fraction.
FOLDER_VALIDATION_FRACTION = 0.2
OPTIMIZERS = ("sgd", "momentum", "adam")
LR_SCHEDULES = ("cosine", "constant")
DEFAULT_TOP_K = 3
DEFAULT_EVAL_BATCH_SIZE = 500


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(text: str) -> int:
    """Parse an integer of at least 1."""
    value = _parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be an integer >= 1")
    return value


def non_negative_int(text: str) -> int:
    """Parse an integer of at least 0."""
    value = _parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be an integer >= 0")
    return value


def port_number(text: str) -> int:
    """Parse a TCP port, 0 to 65535 (0 lets the system pick a free one)."""
    value = _parse_int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: must be 0 to 65535")
    return value


def positive_float(text: str) -> float:
    """Parse a finite float greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be a finite number > 0")
    return value


def fraction(text: str) -> float:
    """Parse a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be in [0, 1)")
    return value


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: not an integer") from None


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every ``cnn-playground`` command."""
    parser = _Parser(
        prog=PROG,
        description="Train, evaluate and look inside small convolutional networks, "
        "from the terminal or through the web app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full Python traceback of an error instead of one line",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_inspect(commands)
    _add_datasets(commands)
    _add_presets(commands)
    _add_serve(commands)
    return parser


def _add_data_dir(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder with a built-in dataset's files (default: the folder in its "
        "CNN_PLAYGROUND_<NAME>_DIR variable, else its standard folder, for Fashion-MNIST "
        "/usr/share/datasets/fashion-mnist)",
    )


def _add_model(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "model",
        metavar="MODEL",
        help="a model file (.npz) or the name of a shipped model, such as 'default'",
    )


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a network on a dataset and save it as a .npz model file",
        description="Train a preset network on a dataset, validate after each epoch and save "
        "the last and the best checkpoints. Options left out take the preset's defaults "
        "(see 'cnn-playground presets').",
    )
    train.add_argument(
        "--dataset",
        default="fashion-mnist",
        metavar="NAME",
        help="dataset to train on (default: fashion-mnist; see 'cnn-playground datasets')",
    )
    _add_data_dir(train)

    train.add_argument(
        "--preset",
        default="tiny",
        metavar="NAME",
        help="network architecture (default: tiny; see 'cnn-playground presets')",
    )

    train.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="number of passes over the training images (default: the preset's)",
    )
    train.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="training images per gradient step (default: the preset's)",
    )
    train.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="update rule (default: the preset's)",
    )
    train.add_argument(
        "--learning-rate",
        type=positive_float,
        metavar="X",
        help="step size of the optimizer, a number > 0 (default: the preset's)",
    )
    train.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="how the learning rate changes over the run: cosine decays it to 0 by the last "
        "batch, constant keeps it (default: the preset's)",
    )

    train.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="seed of the weight initialization, the shuffling and the splits (default: 0)",
    )
    train.add_argument(
        "--train-limit",
        type=positive_int,
        metavar="N",
        help="train on a seeded random subset of N training images (default: all of them)",
    )
    train.add_argument(
        "--validation-split",
        type=fraction,
        metavar="F",
        help="fraction of the training images held out to validate after each epoch and to "
        "pick the best checkpoint, in [0, 1) (default: validate on the test images; an image "
        f"folder, which has no test split, holds out {FOLDER_VALIDATION_FRACTION})",
    )

    train.add_argument(
        "--blas-threads",
        type=positive_int,
        default=1,
        metavar="N",
        help="threads of each BLAS matrix product; the element-wise work uses every core "
        "anyway, and on 2 cores a second BLAS thread made the tiny preset's steps slower, "
        "not faster (default: 1)",
    )

    train.add_argument(
        "--output",
        required=True,
        metavar="MODEL.npz",
        help="path of the trained model, the last epoch's weights; the best epoch's "
        "checkpoint goes beside it as MODEL.best.npz (required)",
    )
    train.add_argument(
        "--quiet",
        action="store_true",
        help="hide the progress bar and the per-epoch lines (default: show them)",
    )


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="measure a model's accuracy, loss, per-class accuracy and confusion matrix",
        description="Evaluate a model on a dataset's test images.",
    )
    _add_model(evaluate)
    evaluate.add_argument(
        "--dataset",
        metavar="NAME",
        help="dataset to evaluate on (default: the dataset the model was trained on)",
    )
    _add_data_dir(evaluate)
    evaluate.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which part of the dataset to evaluate on (default: test)",
    )
    evaluate.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_EVAL_BATCH_SIZE,
        metavar="N",
        help=f"images per forward pass; only memory use changes (default: "
        f"{DEFAULT_EVAL_BATCH_SIZE})",
    )
    evaluate.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of tables (default: tables)",
    )


def _add_predict(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="classify image files and print the most likely classes",
        description="Classify each image with a model and print its top classes with their "
        "probabilities.",
    )
    _add_model(predict)
    predict.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files (any format Pillow reads)"
    )
    predict.add_argument(
        "--top",
        type=positive_int,
        default=DEFAULT_TOP_K,
        metavar="K",
        help=f"number of classes to print per image (default: {DEFAULT_TOP_K})",
    )
    predict.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with every class's probability (default: text)",
    )


def _add_inspect(commands: argparse._SubParsersAction) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="write every layer's feature maps for one image as PNG heatmaps",
        description="Run one image through a model and write the model input and each "
        "layer's output as a PNG grid of per-channel heatmaps, plus index.json listing "
        "the files.",
    )
    _add_model(inspect)
    inspect.add_argument("image", metavar="IMAGE", help="image file (any format Pillow reads)")
    inspect.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder for the PNG files and index.json, created if missing (required)",
    )


def _add_datasets(commands: argparse._SubParsersAction) -> None:
    datasets = commands.add_parser(
        "datasets",
        help="list the datasets, where their files are and how to get missing ones",
        description="List every dataset with its folder, size and classes, and say how to "
        "install the missing ones. The folders of the built-in datasets come from the "
        "variables CNN_PLAYGROUND_FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist), "
        "CNN_PLAYGROUND_MNIST_DIR and CNN_PLAYGROUND_CIFAR10_DIR.",
    )
    datasets.add_argument(
        "folders",
        nargs="*",
        metavar="FOLDER",
        help="also describe these folders (or .zip files) of class folders of your own images",
    )
    datasets.add_argument(
        "--json", action="store_true", help="print a JSON list instead of text (default: text)"
    )


def _add_presets(commands: argparse._SubParsersAction) -> None:
    presets = commands.add_parser(
        "presets",
        help="list the network presets with their layers and training defaults",
        description="List every preset network: its size on Fashion-MNIST and the training "
        "settings 'train' uses when the options are left out.",
    )
    presets.add_argument(
        "--json", action="store_true", help="print a JSON list instead of text (default: text)"
    )


def _add_serve(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the web app and the REST API",
        description="Run the web app with uvicorn until interrupted. Options override the "
        "CNN_PLAYGROUND_* environment variables.",
    )
    serve.add_argument(
        "--host",
        metavar="ADDRESS",
        help="address to listen on (default: CNN_PLAYGROUND_HOST or 127.0.0.1, this machine only)",
    )
    serve.add_argument(
        "--port",
        type=port_number,
        metavar="PORT",
        help="TCP port to listen on (default: CNN_PLAYGROUND_PORT or 8000)",
    )
    serve.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder for the database, the trained models and uploaded datasets "
        "(default: CNN_PLAYGROUND_DATA_DIR or ./var)",
    )

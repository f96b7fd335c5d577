"""``cnn-playground train``: train a preset network on a dataset and save it as a model file."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from app.cli.errors import CliError
from app.cli.parser import FOLDER_VALIDATION_FRACTION
from app.core.config import VERSION
from cnn_core.datasets import (
    BUILTIN_DATASETS,
    Dataset,
    compute_normalization,
    load_dataset,
    to_model_input,
    train_validation_split,
)
from cnn_core.network import Network
from cnn_core.presets import PRESETS, Preset, preset_layers
from cnn_core.serialization import Model, load_model, save_model
from cnn_core.training import DivergenceError, EpochMetrics, Progress, evaluate, train

_POSTFIX_EVERY = 10  # batches between updates of the loss shown on the progress bar
_TEST_IMAGES = "the test images"  # the validation source when validation uses the test split


def run(args: argparse.Namespace) -> int:
    """Train, validate after each epoch, write the checkpoints and print the test accuracy."""
    preset = _find_preset(args.preset)
    output, best_output = _output_paths(args.output)
    settings = {
        **preset.training_defaults(),
        **{
            key: value
            for key, value in (
                ("epochs", args.epochs),
                ("batch_size", args.batch_size),
                ("optimizer", args.optimizer),
                ("learning_rate", args.learning_rate),
                ("lr_schedule", args.lr_schedule),
            )
            if value is not None
        },
    }

    train_set = load_dataset(
        args.dataset, "train", directory=args.data_dir, image_shape=preset.input_shape
    )
    test_set = _load_test_split(args)
    images, labels = _limit(train_set, args.train_limit, args.seed)
    images, labels, val_images, val_labels, validation_source = _split_validation(
        images, labels, test_set, args.validation_split, args.seed
    )
    validates_on_test = validation_source == _TEST_IMAGES
    _check_class_coverage(labels, train_set.classes)

    # The statistics come from the images the network trains on, never from validation or test.
    normalization = compute_normalization(images)
    X_train = to_model_input(images, normalization)
    X_val = None if val_images is None else to_model_input(val_images, normalization)
    network = Network(
        preset_layers(preset.name, len(train_set.classes)), train_set.input_shape, seed=args.seed
    )

    metadata = {
        "command": shlex.join(["cnn-playground", *args.argv]),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": train_set.name,
        "dataset_path": train_set.path,
        "preset": preset.name,
        "seed": args.seed,
        "blas_threads": args.blas_threads,
        **settings,
        "train_size": int(len(labels)),
        "validation_size": 0 if val_labels is None else int(len(val_labels)),
        "validation_source": validation_source,
        "n_params": network.n_params,
        "software": {
            "cnn_playground": VERSION,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    if not args.quiet:
        print(
            f"training {preset.name} ({network.n_params:,} parameters) on {len(labels):,} "
            f"{train_set.name} images for {_plural(settings['epochs'], 'epoch')}, validating on "
            f"{validation_source}"
        )

    history_rows: list[dict] = []

    def save_checkpoint(kind: str, trained: Network, metrics: EpochMetrics) -> None:
        if kind == "last":
            history_rows.append(_epoch_row(metrics))
        checkpoint = {
            **metadata,
            "checkpoint": kind,
            "epoch": metrics.epoch,
            "history": list(history_rows),
        }
        path = output if kind == "last" else best_output
        save_model(path, Model(trained, list(train_set.classes), normalization, checkpoint))

    blas_limits = threadpool_limits(limits=args.blas_threads, user_api="blas")
    with blas_limits, _ProgressBar(settings["epochs"], disabled=args.quiet) as progress:
        started = time.perf_counter()
        try:
            history = train(
                network,
                X_train,
                labels,
                X_val=X_val,
                y_val=val_labels,
                seed=args.seed,
                callback=progress.update,
                on_checkpoint=save_checkpoint,
                **settings,
            )
        except DivergenceError as error:
            saved = f" Epoch {len(history_rows)} is saved in {output}." if history_rows else ""
            raise CliError(f"{error}{saved}") from None
        training_seconds = time.perf_counter() - started

    final = {
        **metadata,
        "best_epoch": history.best_epoch,
        "history": history_rows,
        "training_seconds": round(training_seconds, 2),
    }
    # When validation ran on the test images, each epoch's validation result already is its
    # test result, so the checkpoints need no second pass over the test set.
    test_results = (
        {row["epoch"]: (row["val_accuracy"], row["val_loss"]) for row in history_rows}
        if validates_on_test
        else {}
    )
    test_accuracy = _finish_checkpoint(output, "last", final, test_set, test_results)
    _finish_checkpoint(best_output, "best", final, test_set, test_results)

    summary = f"saved {output} after {training_seconds:.1f} s of training"
    if test_accuracy is not None:
        summary += f"; test accuracy {test_accuracy:.4f}"
    print(f"{summary}; best epoch {history.best_epoch} saved as {best_output}")
    return 0


def _find_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise CliError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def _output_paths(text: str) -> tuple[Path, Path]:
    """Check ``--output`` before training starts and return it with the best checkpoint's path."""
    output = Path(text)
    if output.suffix != ".npz":
        raise CliError(f"--output must be a .npz path, got {text!r}")
    if output.is_dir():
        raise CliError(f"--output {text!r} is a folder; give a file path ending in .npz")

    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create the folder of --output {text!r}: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise CliError(f"cannot write to {str(folder)!r}, the folder of --output {text!r}")
    return output, output.with_name(f"{output.stem}.best.npz")


def _load_test_split(args: argparse.Namespace) -> Dataset | None:
    """Load the test split of a built-in dataset; an image folder has none."""
    if args.dataset not in BUILTIN_DATASETS:
        return None
    return load_dataset(args.dataset, "test", directory=args.data_dir)


def _split_validation(
    images: np.ndarray,
    labels: np.ndarray,
    test_set: Dataset | None,
    fraction: float | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """Choose the validation images: a held-out ``fraction``, the test split, or none.

    Returns the training images and labels, the validation images and labels (None without
    validation) and a description of where the validation images come from.
    """
    if fraction is None:
        fraction = 0.0 if test_set is not None else FOLDER_VALIDATION_FRACTION

    if fraction > 0:
        train_images, train_labels, val_images, val_labels = train_validation_split(
            images, labels, validation_fraction=fraction, seed=seed
        )
        return (
            train_images,
            train_labels,
            val_images,
            val_labels,
            f"{fraction:g} of the training images",
        )
    if test_set is not None:
        return images, labels, test_set.images, test_set.labels, _TEST_IMAGES
    return images, labels, None, None, "none"


def _limit(dataset: Dataset, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return all images and labels, or a seeded random subset of ``limit`` of them."""
    if limit is None or limit == len(dataset):
        return dataset.images, dataset.labels
    if limit > len(dataset):
        raise CliError(
            f"--train-limit {limit} is larger than the {len(dataset):,} training images of "
            f"{dataset.name}"
        )
    chosen = np.sort(np.random.default_rng(seed).choice(len(dataset), size=limit, replace=False))
    return dataset.images[chosen], dataset.labels[chosen]


def _check_class_coverage(labels: np.ndarray, classes: list[str]) -> None:
    present = np.bincount(labels, minlength=len(classes)) > 0
    if not present.all():
        missing = [name for name, seen in zip(classes, present, strict=True) if not seen]
        raise CliError(
            f"the training images contain no example of the classes {missing}; use more "
            "images (a larger --train-limit) or a smaller --validation-split"
        )


def _epoch_row(metrics: EpochMetrics) -> dict:
    return {
        "epoch": metrics.epoch,
        "train_loss": metrics.train_loss,
        "train_accuracy": metrics.train_accuracy,
        "val_loss": metrics.val_loss,
        "val_accuracy": metrics.val_accuracy,
        "seconds": round(metrics.seconds, 2),
    }


def _finish_checkpoint(
    path: Path,
    kind: str,
    metadata: dict,
    test_set: Dataset | None,
    known_results: dict[int, tuple[float, float]],
) -> float | None:
    """Rewrite a written checkpoint with the final metadata and its test accuracy and loss.

    ``known_results`` maps an epoch to its test ``(accuracy, loss)`` where they were measured
    already; other checkpoints are evaluated here. Returns the test accuracy, or None when the
    dataset has no test split.
    """
    model = load_model(path)
    epoch = model.metadata["epoch"]
    final = {**metadata, "checkpoint": kind, "epoch": epoch}
    if test_set is None:
        save_model(path, Model(model.network, model.classes, model.normalization, final))
        return None

    if epoch in known_results:
        accuracy, loss = known_results[epoch]
    else:
        X_test = to_model_input(test_set.images, model.normalization)
        result = evaluate(model.network, X_test, test_set.labels)
        accuracy, loss = result.accuracy, result.loss
    final.update(test_accuracy=accuracy, test_loss=loss, test_size=len(test_set))
    save_model(path, Model(model.network, model.classes, model.normalization, final))
    return accuracy


class _ProgressBar:
    """A tqdm bar over all batches of the run, with per-epoch summary lines."""

    def __init__(self, epochs: int, *, disabled: bool) -> None:
        self.epochs = epochs
        self.disabled = disabled
        self.bar: tqdm | None = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, progress: Progress) -> None:
        if self.disabled:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=progress.epochs * progress.batches_per_epoch,
                unit="batch",
                file=sys.stderr,
                dynamic_ncols=True,
            )

        if progress.epoch_end:
            self.bar.write(_describe_epoch(progress.epoch_metrics, self.epochs), file=sys.stdout)
            return
        self.bar.update(1)
        if progress.batch % _POSTFIX_EVERY == 0 or progress.batch == progress.batches_per_epoch:
            self.bar.set_description(f"epoch {progress.epoch}/{progress.epochs}", refresh=False)
            self.bar.set_postfix(
                loss=f"{progress.loss:.4f}",
                acc=f"{progress.accuracy:.4f}",
                lr=f"{progress.learning_rate:.2e}",
            )


def _describe_epoch(metrics: EpochMetrics, epochs: int) -> str:
    text = (
        f"epoch {metrics.epoch}/{epochs}: train loss {metrics.train_loss:.4f}, "
        f"accuracy {metrics.train_accuracy:.4f}"
    )
    if metrics.val_accuracy is not None:
        text += f"; validation loss {metrics.val_loss:.4f}, accuracy {metrics.val_accuracy:.4f}"
    return f"{text} ({metrics.seconds:.1f} s)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"

"""Minibatch training and evaluation of a `Network` with softmax cross-entropy.

`train` reports through callbacks and never prints. `callback` receives a `Progress` after every
batch and at the end of every epoch. `on_checkpoint` is called when the best or the last weights
change, so the caller decides where and how to save them (`checkpoint_saver` writes model files
atomically). A `threading.Event` passed as `cancel_event` stops training between batches.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .functional import softmax_cross_entropy
from .network import Network
from .optimizers import Optimizer, make_optimizer
from .serialization import Model, save_model

LR_SCHEDULES = ("cosine", "constant")


def scheduled_learning_rate(schedule: str, base: float, step: int, total_steps: int) -> float:
    """Return the learning rate for batch `step` (from 0) of a run of `total_steps` batches.

    "constant" keeps `base`. "cosine" decays from `base` at the first batch towards 0 at the
    end along half a cosine wave (Loshchilov and Hutter, 2017, "SGDR"), which lets a short
    run settle into a minimum instead of ending on large steps.
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {schedule!r}")


class DivergenceError(RuntimeError):
    """The loss or the weights became NaN or infinite during training."""


class TrainingCancelled(Exception):
    """Training stopped because its cancel event was set; `history` contains the finished epochs."""

    def __init__(self, message: str, history: TrainingHistory) -> None:
        super().__init__(message)
        self.history = history


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one finished epoch; the train values are running means over its batches."""

    epoch: int  # from 1
    train_loss: float
    train_accuracy: float
    val_loss: float | None  # None when no validation set was given
    val_accuracy: float | None
    seconds: float  # wall time of the epoch, validation included


@dataclass(frozen=True)
class Progress:
    """Progress report passed to the callback after each batch and at the end of each epoch.

    `loss` and `accuracy` are running means over the batches of the current epoch so far.
    `epoch_metrics` is set only when `epoch_end` is true.
    """

    epoch: int  # from 1
    epochs: int
    batch: int  # from 1 within the epoch
    batches_per_epoch: int
    fraction: float  # of all batches of the run, in [0, 1]
    loss: float
    accuracy: float
    elapsed: float  # seconds since train() started
    learning_rate: float  # used for the last batch
    epoch_end: bool = False
    epoch_metrics: EpochMetrics | None = None


@dataclass
class TrainingHistory:
    """Per-epoch metrics of a run and the epoch whose weights were the best."""

    epochs: list[EpochMetrics] = field(default_factory=list)
    best_epoch: int | None = None  # from 1; chosen by validation accuracy, else train accuracy

    @property
    def train_loss(self) -> list[float]:
        return [e.train_loss for e in self.epochs]

    @property
    def train_accuracy(self) -> list[float]:
        return [e.train_accuracy for e in self.epochs]

    @property
    def val_loss(self) -> list[float | None]:
        return [e.val_loss for e in self.epochs]

    @property
    def val_accuracy(self) -> list[float | None]:
        return [e.val_accuracy for e in self.epochs]

    def to_dict(self) -> dict:
        """Return the history as a JSON-serializable dict."""
        return {"epochs": [asdict(e) for e in self.epochs], "best_epoch": self.best_epoch}


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy of a network on a labelled set.

    `per_class_accuracy` is `(n_classes,)` with NaN for classes absent from `y`, and `confusion`
    is `(n_classes, n_classes)` int64 counts with rows the true class and columns the predicted.
    """

    loss: float
    accuracy: float
    per_class_accuracy: np.ndarray
    confusion: np.ndarray

    def to_dict(self) -> dict:
        """Return a JSON-serializable dict; NaN per-class accuracies become None."""
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "per_class_accuracy": [
                None if math.isnan(value) else float(value) for value in self.per_class_accuracy
            ],
            "confusion": self.confusion.tolist(),
        }


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _check_data(network: Network, X: object, y: object, x_name: str, y_name: str):
    X = np.asarray(X)
    y = np.asarray(y)
    expected = (None, *network.input_shape)
    if X.ndim != 4 or X.shape[1:] != network.input_shape:
        raise ValueError(
            f"{x_name} must have shape (m, {', '.join(map(str, expected[1:]))}); got {X.shape}"
        )
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(
            f"{x_name} must be a float array of model inputs (normalized images); got dtype "
            f"{X.dtype}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (X.shape[0],):
        raise ValueError(
            f"{y_name} must be integer labels of shape ({X.shape[0]},); got dtype {y.dtype} "
            f"and shape {y.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{x_name} is empty; at least one example is needed")
    if y.min() < 0 or y.max() >= network.n_classes:
        raise ValueError(
            f"{y_name} must contain labels in [0, {network.n_classes}); got values from "
            f"{y.min()} to {y.max()}"
        )
    return X, y


def evaluate(network: Network, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> Evaluation:
    """Compute the mean loss, accuracy, per-class accuracy and confusion matrix on `(X, y)`.

    `X` is `(m, n_H, n_W, n_C)` float model inputs and `y` is `(m,)` integer labels. The forward
    passes run `batch_size` examples at a time so that memory stays bounded.
    """
    X, y = _check_data(network, X, y, "X", "y")
    batch_size = _check_positive_int("batch_size", batch_size)
    n_classes = network.n_classes
    m = X.shape[0]

    total_loss = 0.0
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for start in range(0, m, batch_size):
        X_batch, y_batch = X[start : start + batch_size], y[start : start + batch_size]
        Z = network.forward(X_batch)
        network.clear_cache()
        cost, _ = softmax_cross_entropy(Z, y_batch)
        total_loss += float(cost) * len(y_batch)
        np.add.at(confusion, (y_batch, np.argmax(Z, axis=0)), 1)

    support = confusion.sum(axis=1)
    correct = np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, correct / np.maximum(support, 1), np.nan)
    return Evaluation(
        loss=total_loss / m,
        accuracy=float(correct.sum() / m),
        per_class_accuracy=per_class,
        confusion=confusion,
    )


def _divergence(where: str, value: str, learning_rate: float) -> DivergenceError:
    return DivergenceError(
        f"training diverged at {where}: {value}. Lower the learning rate "
        f"(now {learning_rate:g}; try {learning_rate / 10:g}) or use the 'adam' optimizer."
    )


def _train_step(
    network: Network,
    optimizer: Optimizer,
    X_batch: np.ndarray,
    y_batch: np.ndarray,
    where: str,
    base_rate: float,
) -> tuple[float, np.ndarray]:
    """Run forward, backward and one optimizer step; return the batch loss and the logits."""
    # Overflow in a diverging run is reported once as a DivergenceError, not as a stream of
    # NumPy RuntimeWarnings.
    with np.errstate(over="ignore", invalid="ignore"):
        Z = network.forward(X_batch)
        cost, dZ = softmax_cross_entropy(Z, y_batch)
    if not math.isfinite(cost):
        network.clear_cache()
        raise _divergence(where, f"the loss is {cost}", base_rate)

    parameters = network.parameters()
    with np.errstate(over="ignore", invalid="ignore"):
        network.backward(dZ)
        optimizer.step(parameters, network.gradients())

    for key, value in parameters.items():
        if not np.isfinite(value).all():
            raise _divergence(where, f"parameter {key!r} has non-finite values", base_rate)
    return cost, Z


def train(
    network: Network,
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    epochs: int,
    batch_size: int,
    optimizer: str | Optimizer = "adam",
    learning_rate: float | None = None,
    lr_schedule: str = "cosine",
    seed: int = 0,
    callback: Callable[[Progress], None] | None = None,
    cancel_event: threading.Event | None = None,
    on_checkpoint: Callable[[str, Network, EpochMetrics], None] | None = None,
) -> TrainingHistory:
    """Train `network` in place with minibatch gradient descent on softmax cross-entropy.

    Parameters
    ----------
    network : updated in place.
    X_train : ndarray (m, n_H, n_W, n_C), float model inputs; y_train : ndarray (m,) int labels.
    X_val, y_val : optional validation set of the same layout, evaluated after every epoch.
    epochs, batch_size : positive integers; the last batch of an epoch may be smaller.
    optimizer : "sgd", "momentum", "adam" or an Optimizer instance (then `learning_rate` must
        be None, because the instance has its own).
    learning_rate : required with an optimizer name. It is the rate of the first batch.
    lr_schedule : "cosine" (default) decays the rate towards 0 over all batches of the run;
        "constant" keeps it.
    seed : seeds the generator that shuffles the examples each epoch. With the same network
        weights, data and settings, a run gives the same result.
    callback : called with a `Progress` after every batch and once more at each epoch's end.
    cancel_event : when set, training stops before the next batch and raises TrainingCancelled.
    on_checkpoint : called as `on_checkpoint(kind, network, metrics)` after each epoch with kind
        "last", and also with kind "best" when the epoch is the best so far. The best epoch has
        the highest validation accuracy, or train accuracy without a validation set. Ties go to
        the earlier epoch.

    Raises
    ------
    DivergenceError : the loss or a parameter became NaN or infinite.
    TrainingCancelled : `cancel_event` was set; its `history` contains the finished epochs.
    """
    X_train, y_train = _check_data(network, X_train, y_train, "X_train", "y_train")
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    if X_val is not None:
        X_val, y_val = _check_data(network, X_val, y_val, "X_val", "y_val")
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size)
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {lr_schedule!r}"
        )

    if isinstance(optimizer, Optimizer):
        if learning_rate is not None:
            raise ValueError(
                "learning_rate must be None when optimizer is an Optimizer instance; "
                "set the rate on the instance"
            )
    else:
        if learning_rate is None:
            raise ValueError(f"learning_rate is required with optimizer {optimizer!r}")
        optimizer = make_optimizer(optimizer, learning_rate)

    base_rate = optimizer.learning_rate
    rng = np.random.default_rng(seed)
    m = X_train.shape[0]
    batches_per_epoch = math.ceil(m / batch_size)
    total_batches = epochs * batches_per_epoch
    history = TrainingHistory()
    best_score = -math.inf
    started = time.perf_counter()

    try:
        for epoch in range(1, epochs + 1):
            epoch_started = time.perf_counter()
            order = rng.permutation(m)
            loss_sum = 0.0
            correct = 0
            seen = 0

            for batch in range(1, batches_per_epoch + 1):
                if cancel_event is not None and cancel_event.is_set():
                    network.clear_cache()
                    raise TrainingCancelled(
                        f"training cancelled at epoch {epoch}, batch {batch}", history
                    )

                step = (epoch - 1) * batches_per_epoch + batch - 1
                optimizer.learning_rate = scheduled_learning_rate(
                    lr_schedule, base_rate, step, total_batches
                )
                indices = order[(batch - 1) * batch_size : batch * batch_size]
                X_batch, y_batch = X_train[indices], y_train[indices]

                cost, Z = _train_step(
                    network, optimizer, X_batch, y_batch, f"epoch {epoch}, batch {batch}", base_rate
                )

                loss_sum += float(cost) * len(indices)
                correct += int(np.count_nonzero(np.argmax(Z, axis=0) == y_batch))
                seen += len(indices)
                if callback is not None:
                    callback(
                        Progress(
                            epoch=epoch,
                            epochs=epochs,
                            batch=batch,
                            batches_per_epoch=batches_per_epoch,
                            fraction=((epoch - 1) * batches_per_epoch + batch) / total_batches,
                            loss=loss_sum / seen,
                            accuracy=correct / seen,
                            elapsed=time.perf_counter() - started,
                            learning_rate=optimizer.learning_rate,
                        )
                    )

            val_loss = val_accuracy = None
            if X_val is not None:
                result = evaluate(network, X_val, y_val, batch_size=max(batch_size, 256))
                val_loss, val_accuracy = result.loss, result.accuracy
            metrics = EpochMetrics(
                epoch=epoch,
                train_loss=loss_sum / seen,
                train_accuracy=correct / seen,
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                seconds=time.perf_counter() - epoch_started,
            )
            history.epochs.append(metrics)

            score = val_accuracy if val_accuracy is not None else metrics.train_accuracy
            is_best = score > best_score
            if is_best:
                best_score = score
                history.best_epoch = epoch
            if on_checkpoint is not None:
                on_checkpoint("last", network, metrics)
                if is_best:
                    on_checkpoint("best", network, metrics)
            if callback is not None:
                callback(
                    Progress(
                        epoch=epoch,
                        epochs=epochs,
                        batch=batches_per_epoch,
                        batches_per_epoch=batches_per_epoch,
                        fraction=epoch / epochs,
                        loss=metrics.train_loss,
                        accuracy=metrics.train_accuracy,
                        elapsed=time.perf_counter() - started,
                        learning_rate=optimizer.learning_rate,
                        epoch_end=True,
                        epoch_metrics=metrics,
                    )
                )

    finally:
        # An Optimizer instance passed in gets its own rate back.
        optimizer.learning_rate = base_rate

    return history


def checkpoint_saver(
    best_path: str | os.PathLike | None,
    last_path: str | os.PathLike | None,
    *,
    classes: list[str],
    normalization: dict | None = None,
    metadata: dict | None = None,
) -> Callable[[str, Network, EpochMetrics], None]:
    """Return an `on_checkpoint` callback that saves model files with `save_model`.

    The "best" checkpoint goes to `best_path` and the "last" one to `last_path`; a None path skips
    that kind. Each file's metadata is `metadata` plus `epoch` and the epoch's metrics under
    `"metrics"`. Writes are atomic, so a crash mid-save keeps the previous checkpoint.
    """
    paths = {"best": best_path, "last": last_path}

    def save(kind: str, network: Network, metrics: EpochMetrics) -> None:
        if kind not in paths:
            raise ValueError(f"checkpoint kind must be 'best' or 'last'; got {kind!r}")
        path = paths[kind]
        if path is None:
            return
        model_metadata = {**(metadata or {}), "epoch": metrics.epoch, "metrics": asdict(metrics)}
        save_model(path, Model(network, classes, normalization, model_metadata))

    return save

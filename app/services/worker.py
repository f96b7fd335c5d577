"""The code that runs inside a training worker process.

`JobManager` starts `run_job` in a process of the "spawn" context. The worker loads the dataset,
draws the seeded training subset and validation split, builds the network, trains, evaluates on
the test set and stores the model through `ModelStore`, whose file is written atomically. It
reports to the dispatcher through a one-way pipe with dict messages, each with an `"event"` key:

- `{"event": "progress", "epoch", "batch", "progress"}` at most every `PROGRESS_SEND_INTERVAL_S`;
- `{"event": "epoch", "epoch", "progress", "metrics"}` after every epoch;
- `{"event": "finished", "status", ...}` once at the end, with `model_id` and `test_accuracy`
  on success, or `error` (one line) and `traceback` on failure.

Every float sent is finite: a NaN or infinite metric is sent as None.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from app.core.config import Settings

# Seconds between two batch progress messages; epoch ends are always sent.
PROGRESS_SEND_INTERVAL_S = 0.2
# Added to the worker's nice value, so the server process wins the CPU when both need it and
# /api/health stays fast during training.
WORKER_NICE_INCREMENT = 5


class ParentGone(Exception):
    """The server process that started this worker has exited."""


class _Reporter:
    """Sends messages to the dispatcher and notices when the server has gone away."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._last_progress = 0.0

    def check_parent(self) -> None:
        """Raise `ParentGone` when the server process has exited."""
        parent = multiprocessing.parent_process()
        if parent is not None and not parent.is_alive():
            raise ParentGone("the server process exited")

    def send(self, message: dict[str, Any]) -> None:
        self.check_parent()
        try:
            self._connection.send(message)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ParentGone("the server closed the progress pipe") from exc

    def on_progress(self, progress: Any) -> None:
        """Forward a `cnn_core.training.Progress` as a progress or an epoch message."""
        if progress.epoch_end:
            self.send(
                {
                    "event": "epoch",
                    "epoch": progress.epoch,
                    "progress": _finite(progress.fraction),
                    "metrics": _epoch_entry(progress.epoch_metrics),
                }
            )
            return

        now = time.monotonic()
        if now - self._last_progress < PROGRESS_SEND_INTERVAL_S:
            return
        self._last_progress = now
        self.send(
            {
                "event": "progress",
                "epoch": progress.epoch,
                "batch": progress.batch,
                "progress": _finite(progress.fraction),
            }
        )


def run_job(
    job_id: str,
    name: str,
    params: dict[str, Any],
    settings: Settings,
    connection: Connection,
    cancel_event: Any,
    threads: int = 1,
) -> None:
    """Train the job `job_id` with validated `params`. This is the worker process entry point.

    `name` becomes the name of the stored model and `threads` the number of BLAS and
    engine threads.

    `cancel_event` is a `multiprocessing.Event` of the spawn context. The outcome is always
    reported as one `finished` message unless the server is gone.
    """
    # NOTE: BLAS reads its thread limit when NumPy loads it, so this module imports NumPy and
    # the engine inside the functions, after this call.
    _limit_threads(threads)
    from cnn_core.training import DivergenceError, TrainingCancelled

    reporter = _Reporter(connection)
    try:
        _lower_priority()
        outcome = train_job(name, params, settings, reporter, cancel_event)
        reporter.send({"event": "finished", "status": "succeeded", **outcome})
    except ParentGone:
        pass  # No server is left to report to, and the next server start marks the job failed.
    except TrainingCancelled:
        _send_final(reporter, {"event": "finished", "status": "cancelled"})
    except DivergenceError as exc:
        # The message already names what diverged and how to fix it, so no type name is added.
        error = " ".join(str(exc).split())
        _send_final(reporter, {"event": "finished", "status": "diverged", "error": error})
    except Exception as exc:
        _send_final(
            reporter,
            {
                "event": "finished",
                "status": "failed",
                "error": _one_line(exc),
                "traceback": traceback.format_exc(),
            },
        )
    finally:
        connection.close()


def train_job(
    name: str,
    params: dict[str, Any],
    settings: Settings,
    reporter: _Reporter,
    cancel_event: Any,
) -> dict[str, Any]:
    """Load the data, train, evaluate and store the model, then return its id and test accuracy."""
    import numpy as np

    from app.services.datasets import load_training_dataset
    from app.services.models import ModelStore
    from cnn_core.datasets import compute_normalization, to_model_input, train_validation_split
    from cnn_core.network import Network
    from cnn_core.serialization import Model
    from cnn_core.training import TrainingCancelled, TrainingHistory, evaluate, train

    data = load_training_dataset(settings, params["dataset"])
    # Loading takes seconds, and a cancel request that arrived meanwhile should not wait for
    # the first training batch.
    if cancel_event.is_set():
        raise TrainingCancelled("training cancelled while the dataset loaded", TrainingHistory())
    subset = np.random.default_rng(params["seed"]).permutation(len(data.y_train))
    subset = np.sort(subset[: params["train_limit"]])
    images, labels, val_images, val_labels = train_validation_split(
        data.X_train[subset],
        data.y_train[subset],
        validation_fraction=params["validation_fraction"],
        seed=params["seed"],
    )
    normalization = compute_normalization(images)
    X_train = to_model_input(images, normalization)
    X_val = y_val = None
    if len(val_labels):
        X_val = to_model_input(val_images, normalization)
        y_val = val_labels

    network = Network(params["layers"], params["input_shape"], seed=params["seed"])
    history = train(
        network,
        X_train,
        labels,
        X_val=X_val,
        y_val=y_val,
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        optimizer=params["optimizer"],
        learning_rate=params["learning_rate"],
        seed=params["seed"],
        callback=reporter.on_progress,
        cancel_event=cancel_event,
    )

    X_test, y_test = data.X_test, data.y_test
    if params.get("test_limit") is not None:
        test_subset = np.random.default_rng(params["seed"]).permutation(len(y_test))
        test_subset = np.sort(test_subset[: params["test_limit"]])
        X_test, y_test = X_test[test_subset], y_test[test_subset]
    result = evaluate(network, to_model_input(X_test, normalization), y_test)
    # A cancel request that arrives after the last batch still wins over storing the model, and
    # a model whose server is gone would belong to a job that the next start marks failed.
    reporter.check_parent()
    if cancel_event.is_set():
        raise TrainingCancelled("training cancelled before the model was saved", TrainingHistory())

    test_accuracy = _finite(result.accuracy)
    metadata = {
        "name": name,
        "dataset": params["dataset"],
        "preset": params["preset"],
        "training": {
            key: params[key]
            for key in (
                "epochs",
                "batch_size",
                "optimizer",
                "learning_rate",
                "seed",
                "train_limit",
                "validation_fraction",
                "test_limit",
            )
        },
        "history": [_epoch_entry(metrics) for metrics in history.epochs],
        "test_accuracy": test_accuracy,
        "test_loss": _finite(result.loss),
    }
    model = Model(network, data.classes, normalization=normalization, metadata=metadata)
    model_id = ModelStore(settings).add(
        model,
        name=name,
        dataset=params["dataset"],
        preset=params["preset"],
        metrics={
            "test_accuracy": test_accuracy,
            "test_loss": _finite(result.loss),
            "test_examples": len(y_test),
        },
    )
    return {"model_id": model_id, "test_accuracy": test_accuracy}


def _limit_threads(threads: int) -> None:
    # OMP_NUM_THREADS also sizes cnn_core's pool for element-wise work. Variables the user set
    # explicitly win over the computed limit.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))


def _lower_priority() -> None:
    try:
        os.nice(WORKER_NICE_INCREMENT)
    except OSError:
        pass  # not permitted on this system, so training runs at normal priority


def _send_final(reporter: _Reporter, message: dict[str, Any]) -> None:
    try:
        reporter.send(message)
    except ParentGone:
        pass


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _epoch_entry(metrics: Any) -> dict[str, Any]:
    return {
        "epoch": metrics.epoch,
        "train_loss": _finite(metrics.train_loss),
        "train_accuracy": _finite(metrics.train_accuracy),
        "val_loss": _finite(metrics.val_loss),
        "val_accuracy": _finite(metrics.val_accuracy),
        "seconds": _finite(metrics.seconds),
    }

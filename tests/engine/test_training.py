"""Tests of train() and evaluate() on small synthetic data."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnn_core.functional import softmax_cross_entropy
from cnn_core.network import Network
from cnn_core.optimizers import SGD
from cnn_core.serialization import load_model
from cnn_core.training import (
    DivergenceError,
    Progress,
    TrainingCancelled,
    checkpoint_saver,
    evaluate,
    train,
)

SPEC = [
    {"type": "conv", "filters": 4, "f": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "f": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
    {"type": "softmax"},
]


def quadrant_data(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return noisy 8x8 images whose class (0, 1, 2) is the quadrant holding a bright square."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=m)
    X = 0.3 * rng.standard_normal((m, 8, 8, 1))
    corners = [(0, 0), (0, 4), (4, 0)]
    for i, label in enumerate(y):
        row, col = corners[label]
        X[i, row : row + 4, col : col + 4, 0] += 1.0
    return X.astype(np.float32), y


def make_net(seed: int = 0) -> Network:
    return Network(SPEC, input_shape=(8, 8, 1), seed=seed)


def test_training_learns_separable_data():
    X, y = quadrant_data(300, seed=0)
    X_val, y_val = quadrant_data(150, seed=1)
    net = make_net()

    history = train(
        net, X, y, X_val=X_val, y_val=y_val, epochs=3, batch_size=16, learning_rate=0.01
    )

    assert len(history.epochs) == 3
    assert history.val_accuracy[-1] > 0.9  # chance is 1/3
    assert history.train_loss[-1] < history.train_loss[0]
    assert evaluate(net, X_val, y_val).accuracy == pytest.approx(history.val_accuracy[-1])


def test_fixed_seed_gives_identical_runs():
    X, y = quadrant_data(100, seed=0)
    runs = []
    for _ in range(2):
        net = make_net()
        history = train(net, X, y, epochs=2, batch_size=8, learning_rate=0.01, seed=5)
        runs.append((history, net.parameters()))

    (history_a, params_a), (history_b, params_b) = runs
    assert history_a.train_loss == history_b.train_loss
    for key in params_a:
        assert np.array_equal(params_a[key], params_b[key])


def test_other_seed_changes_batch_order():
    X, y = quadrant_data(100, seed=0)
    net_a, net_b = make_net(), make_net()

    train(net_a, X, y, epochs=1, batch_size=8, learning_rate=0.01, seed=1)
    train(net_b, X, y, epochs=1, batch_size=8, learning_rate=0.01, seed=2)

    assert not np.array_equal(net_a.parameters()["0.W"], net_b.parameters()["0.W"])


def test_huge_learning_rate_raises_divergence():
    X, y = quadrant_data(64, seed=0)
    net = make_net()

    with pytest.raises(DivergenceError, match="Lower the learning rate \\(now 1e\\+30"):
        train(net, X, y, epochs=2, batch_size=16, optimizer="sgd", learning_rate=1e30)


def test_cancel_event_stops_between_batches():
    X, y = quadrant_data(64, seed=0)
    cancel = threading.Event()
    seen: list[Progress] = []

    def on_progress(progress: Progress) -> None:
        seen.append(progress)
        if progress.epoch == 2 and progress.batch == 2:
            cancel.set()

    with pytest.raises(TrainingCancelled, match="epoch 2, batch 3") as info:
        train(
            make_net(),
            X,
            y,
            epochs=3,
            batch_size=16,
            learning_rate=0.01,
            callback=on_progress,
            cancel_event=cancel,
        )

    assert len(info.value.history.epochs) == 1
    assert (seen[-1].epoch, seen[-1].batch) == (2, 2)


def test_cancel_from_another_thread():
    X, y = quadrant_data(64, seed=0)
    cancel = threading.Event()
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            train(
                make_net(),
                X,
                y,
                epochs=10_000,
                batch_size=16,
                learning_rate=0.01,
                callback=lambda progress: started.set(),
                cancel_event=cancel,
            )
        except BaseException as error:  # collected for the assertion in the main thread
            errors.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(timeout=30)
    cancel.set()
    worker.join(timeout=30)

    assert not worker.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], TrainingCancelled)


def test_progress_reports_each_batch_and_epoch():
    X, y = quadrant_data(40, seed=0)
    X_val, y_val = quadrant_data(20, seed=1)
    seen: list[Progress] = []

    train(
        make_net(),
        X,
        y,
        X_val=X_val,
        y_val=y_val,
        epochs=2,
        batch_size=16,
        learning_rate=0.01,
        callback=seen.append,
    )

    batches = [p for p in seen if not p.epoch_end]
    ends = [p for p in seen if p.epoch_end]
    assert [(p.epoch, p.batch) for p in batches] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert {p.batches_per_epoch for p in seen} == {3}
    assert {p.epochs for p in seen} == {2}
    assert [p.fraction for p in batches] == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1])
    assert [p.epoch_metrics.epoch for p in ends] == [1, 2]
    assert ends[-1].fraction == 1.0
    assert ends[0].epoch_metrics.val_accuracy is not None
    assert all(0 <= p.accuracy <= 1 and p.loss > 0 and p.elapsed >= 0 for p in seen)


def test_checkpoints_best_and_last(tmp_path):
    X, y = quadrant_data(60, seed=0)
    X_val, y_val = quadrant_data(30, seed=1)
    calls = []
    saver = checkpoint_saver(
        tmp_path / "best.npz",
        tmp_path / "last.npz",
        classes=["a", "b", "c"],
        metadata={"preset": "test"},
    )

    def on_checkpoint(kind, network, metrics):
        calls.append((kind, metrics.epoch))
        saver(kind, network, metrics)

    net = make_net()
    history = train(
        net,
        X,
        y,
        X_val=X_val,
        y_val=y_val,
        epochs=3,
        batch_size=16,
        learning_rate=0.01,
        on_checkpoint=on_checkpoint,
    )

    assert [call for call in calls if call[0] == "last"] == [("last", 1), ("last", 2), ("last", 3)]
    best_calls = [epoch for kind, epoch in calls if kind == "best"]
    assert best_calls[-1] == history.best_epoch
    assert history.val_accuracy[history.best_epoch - 1] == max(history.val_accuracy)
    last = load_model(tmp_path / "last.npz")
    best = load_model(tmp_path / "best.npz")
    assert last.metadata["epoch"] == 3
    assert last.metadata["preset"] == "test"
    assert best.metadata["epoch"] == history.best_epoch
    assert np.array_equal(last.network.forward(X_val), net.forward(X_val))


def test_optimizer_instance_is_used():
    X, y = quadrant_data(32, seed=0)
    optimizer = SGD(0.01)

    train(make_net(), X, y, epochs=1, batch_size=8, optimizer=optimizer)

    assert optimizer.t == 4
    with pytest.raises(ValueError, match="learning_rate must be None"):
        train(make_net(), X, y, epochs=1, batch_size=8, optimizer=optimizer, learning_rate=0.1)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive integer; got 0"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be a positive integer; got 2.5"),
        ({"learning_rate": None}, ValueError, "learning_rate is required"),
        ({"optimizer": "lbfgs"}, ValueError, "optimizer must be one of"),
        ({"X_val": np.zeros((2, 8, 8, 1), np.float32)}, ValueError, "given together"),
        ({"X_train": np.zeros((4, 8, 8, 1), np.uint8)}, TypeError, "float array"),
        ({"X_train": np.zeros((4, 8, 8), np.float32)}, ValueError, r"shape \(m, 8, 8, 1\)"),
        ({"y_train": np.array([0, 1, 2, 3])}, ValueError, r"labels in \[0, 3\)"),
        ({"y_train": np.array([0.0, 1, 2, 1])}, ValueError, "integer labels of shape \\(4,\\)"),
    ],
)
def test_train_rejects_bad_arguments(changes, error, match):
    arguments = {
        "X_train": np.zeros((4, 8, 8, 1), np.float32),
        "y_train": np.array([0, 1, 2, 1]),
        "epochs": 1,
        "batch_size": 2,
        "learning_rate": 0.01,
    }
    arguments.update(changes)
    network = make_net()

    with pytest.raises(error, match=match):
        train(network, arguments.pop("X_train"), arguments.pop("y_train"), **arguments)


def test_evaluate_matches_direct_computation():
    X, y = quadrant_data(23, seed=3)
    net = make_net(seed=1)

    result = evaluate(net, X, y, batch_size=5)

    Z = net.forward(X)
    predicted = np.argmax(Z, axis=0)
    expected_loss, _ = softmax_cross_entropy(Z, y)
    confusion = np.zeros((3, 3), dtype=np.int64)
    for true, guess in zip(y, predicted, strict=True):
        confusion[true, guess] += 1
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    assert result.accuracy == pytest.approx(np.mean(predicted == y))
    assert np.array_equal(result.confusion, confusion)
    for label in range(3):
        expected = np.mean(predicted[y == label] == label)
        assert result.per_class_accuracy[label] == pytest.approx(expected)


def test_evaluate_marks_absent_class():
    X, y = quadrant_data(30, seed=0)
    keep = y != 2

    result = evaluate(make_net(), X[keep], y[keep])

    assert np.isnan(result.per_class_accuracy[2])
    assert result.confusion[2].sum() == 0
    assert result.to_dict()["per_class_accuracy"][2] is None


def test_cosine_schedule_decays_rate():
    X, y = quadrant_data(64, seed=0)
    rates = []
    optimizer = SGD(0.1)

    train(
        make_net(),
        X,
        y,
        epochs=2,
        batch_size=16,
        optimizer=optimizer,
        callback=lambda progress: rates.append((progress.epoch_end, progress.learning_rate)),
    )

    batch_rates = [rate for epoch_end, rate in rates if not epoch_end]
    expected = [0.05 * (1 + np.cos(np.pi * step / 8)) for step in range(8)]
    assert batch_rates == pytest.approx(expected)
    assert optimizer.learning_rate == 0.1


def test_constant_schedule_keeps_rate():
    X, y = quadrant_data(32, seed=0)
    rates = []

    train(
        make_net(),
        X,
        y,
        epochs=2,
        batch_size=16,
        learning_rate=0.01,
        lr_schedule="constant",
        callback=lambda progress: rates.append(progress.learning_rate),
    )

    assert set(rates) == {0.01}


def test_unknown_schedule_rejected():
    X, y = quadrant_data(8, seed=0)

    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, constant; got 'step'"):
        train(make_net(), X, y, epochs=1, batch_size=4, learning_rate=0.01, lr_schedule="step")

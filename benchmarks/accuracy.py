"""Accuracy benchmark: train presets on all of Fashion-MNIST, with cnn_core and with PyTorch.

For each preset, the script trains on the 60,000 training images with the preset's default
epochs, batch size, optimizer, learning rate and schedule, then evaluates on the 10,000 test
images. The same network also trains in PyTorch in the same process: same layers, initial
weights, optimizer, per-batch learning rates, batch order, batch size and epochs, with
PyTorch's thread count set to NumPy's BLAS thread count. Training wall time excludes data
loading and evaluation.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/accuracy.py
    .venv/bin/python benchmarks/accuracy.py --presets tiny --skip-torch

Targets on 2 CPU cores: tiny >= 0.90 test accuracy in <= 3 minutes of training, and the
stronger preset >= 0.925 in <= 15 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from cnn_core.datasets import compute_normalization, load_dataset, to_model_input
from cnn_core.network import Network
from cnn_core.presets import PRESETS, preset_layers
from cnn_core.training import evaluate, scheduled_learning_rate, train

TARGETS = {"tiny": (0.90, 180.0), "small": (0.925, 900.0)}  # (min test accuracy, max seconds)


@dataclass
class RunResult:
    """One training run: which library, the preset, its settings and what it measured."""

    library: str
    preset: str
    n_params: int
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_schedule: str
    train_seconds: float
    test_accuracy: float
    test_loss: float


def blas_threads() -> int:
    """Return the thread count of the BLAS library that NumPy uses (1 if none is found)."""
    counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return max(counts, default=1)


def build_torch_model(network: Network):
    """Build a PyTorch ``nn.Sequential`` with the layers and the current weights of ``network``.

    Both libraries then start from the same He-initialized weights. The model takes NCHW input
    and returns logits ``(m, n_classes)``. Its flatten step reads the maps in NHWC C order, as
    cnn_core's ``flatten`` does, so a dense layer receives the same features.
    """
    import torch
    from torch import nn

    class FlattenChannelsLast(nn.Module):
        def forward(self, maps: torch.Tensor) -> torch.Tensor:
            return maps.permute(0, 2, 3, 1).reshape(maps.shape[0], -1)

    parameters = network.parameters()
    modules: list[nn.Module] = []
    input_shapes = [tuple(network.input_shape), *map(tuple, network.output_shapes[:-1])]
    for index, (layer, input_shape) in enumerate(zip(network.spec, input_shapes, strict=True)):
        kind = layer["type"]
        if kind == "conv":
            conv = nn.Conv2d(
                input_shape[-1],
                layer["filters"],
                layer["f"],
                stride=layer["stride"],
                padding=layer["pad"],
            )
            # W (f, f, n_C_prev, n_C) becomes PyTorch's (n_C, n_C_prev, f, f).
            _copy_weights(
                conv, parameters[f"{index}.W"].transpose(3, 2, 0, 1), parameters[f"{index}.b"]
            )
            modules.append(conv)
        elif kind == "dense":
            dense = nn.Linear(input_shape[0], layer["units"])
            _copy_weights(dense, parameters[f"{index}.W"], parameters[f"{index}.b"])
            modules.append(dense)
        elif kind == "relu":
            modules.append(nn.ReLU())
        elif kind == "sigmoid":
            modules.append(nn.Sigmoid())
        elif kind == "maxpool":
            modules.append(nn.MaxPool2d(layer["f"], stride=layer["stride"]))
        elif kind == "avgpool":
            modules.append(nn.AvgPool2d(layer["f"], stride=layer["stride"]))
        elif kind == "flatten":
            modules.append(FlattenChannelsLast())
        elif kind == "softmax":
            pass  # the loss applies log-softmax to the logits, as cnn_core's loss does
        else:
            raise ValueError(f"layer type {kind!r} has no PyTorch counterpart in this benchmark")
    return nn.Sequential(*modules)


def _copy_weights(module, weight: np.ndarray, bias: np.ndarray) -> None:
    import torch

    with torch.no_grad():
        module.weight.copy_(torch.tensor(np.ascontiguousarray(weight)))
        module.bias.copy_(torch.tensor(bias.reshape(-1)))


def _check_same_logits(network: Network, model, X: np.ndarray) -> None:
    """Raise if the PyTorch twin's logits for ``X`` ``(m, n_H, n_W, n_C)`` differ from cnn_core."""
    import torch

    expected = network.forward(X).T  # (m, n_classes)
    network.clear_cache()
    with torch.no_grad():
        actual = model(torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))).numpy()
    if not np.allclose(actual, expected, rtol=1e-3, atol=1e-4):
        raise RuntimeError(
            "the PyTorch twin does not compute the same logits as cnn_core; largest difference "
            f"{np.abs(actual - expected).max():.3g}"
        )


def _torch_optimizer(parameters, name: str, learning_rate: float):
    import torch

    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)
    if name == "momentum":
        # cnn_core's momentum is v = beta * v + (1 - beta) * dW, which is PyTorch's SGD with
        # dampening equal to the momentum.
        return torch.optim.SGD(parameters, lr=learning_rate, momentum=0.9, dampening=0.9)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate)
    raise ValueError(f"optimizer {name!r} has no PyTorch counterpart in this benchmark")


def run_torch(
    network: Network,
    data: dict[str, np.ndarray],
    settings: dict,
    seed: int,
    threads: int,
) -> RunResult:
    """Train and evaluate the PyTorch twin of ``network`` with the same settings and data.

    ``data`` contains float32 model inputs ``X_train`` ``(m, n_H, n_W, n_C)`` and ``X_test``, and
    integer labels ``y_train`` ``(m,)`` and ``y_test``.
    """
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build_torch_model(network)
    optimizer = _torch_optimizer(
        model.parameters(), settings["optimizer"], settings["learning_rate"]
    )

    X_train = torch.from_numpy(np.ascontiguousarray(data["X_train"].transpose(0, 3, 1, 2)))
    _check_same_logits(network, model, data["X_train"][:16])
    y_train = torch.from_numpy(data["y_train"].astype(np.int64))
    rng = np.random.default_rng(seed)
    batch_size = settings["batch_size"]

    batches_per_epoch = -(-len(y_train) // batch_size)
    total_steps = settings["epochs"] * batches_per_epoch
    step = 0

    start = time.perf_counter()
    model.train()
    for _ in range(settings["epochs"]):
        order = torch.from_numpy(rng.permutation(len(y_train)))
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            rate = scheduled_learning_rate(
                settings["lr_schedule"], settings["learning_rate"], step, total_steps
            )
            for group in optimizer.param_groups:
                group["lr"] = rate
            step += 1
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(X_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
    train_seconds = time.perf_counter() - start

    X_test = torch.from_numpy(np.ascontiguousarray(data["X_test"].transpose(0, 3, 1, 2)))
    y_test = torch.from_numpy(data["y_test"].astype(np.int64))
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(X_test[i : i + 1000]) for i in range(0, len(y_test), 1000)])
        test_loss = float(F.cross_entropy(logits, y_test))
        test_accuracy = float((logits.argmax(dim=1) == y_test).double().mean())

    return RunResult(
        library="pytorch",
        preset=settings["preset"],
        n_params=sum(parameter.numel() for parameter in model.parameters()),
        epochs=settings["epochs"],
        batch_size=batch_size,
        optimizer=settings["optimizer"],
        learning_rate=settings["learning_rate"],
        lr_schedule=settings["lr_schedule"],
        train_seconds=train_seconds,
        test_accuracy=test_accuracy,
        test_loss=test_loss,
    )


def run_cnn_core(
    network: Network, data: dict[str, np.ndarray], settings: dict, seed: int
) -> RunResult:
    """Train ``network`` with cnn_core's ``train`` and evaluate it on the test images."""
    start = time.perf_counter()
    train(
        network,
        data["X_train"],
        data["y_train"],
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        optimizer=settings["optimizer"],
        learning_rate=settings["learning_rate"],
        lr_schedule=settings["lr_schedule"],
        seed=seed,
    )
    train_seconds = time.perf_counter() - start
    result = evaluate(network, data["X_test"], data["y_test"], batch_size=1000)

    return RunResult(
        library="cnn_core",
        preset=settings["preset"],
        n_params=network.n_params,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        optimizer=settings["optimizer"],
        learning_rate=settings["learning_rate"],
        lr_schedule=settings["lr_schedule"],
        train_seconds=train_seconds,
        test_accuracy=result.accuracy,
        test_loss=result.loss,
    )


def load_fashion_mnist(directory: str | None) -> dict[str, np.ndarray]:
    """Load both splits as float32 model inputs normalized with the training set's statistics."""
    train_set = load_dataset("fashion-mnist", "train", directory=directory)
    test_set = load_dataset("fashion-mnist", "test", directory=directory)
    normalization = compute_normalization(train_set.images)
    return {
        "X_train": to_model_input(train_set.images, normalization),
        "y_train": train_set.labels,
        "X_test": to_model_input(test_set.images, normalization),
        "y_test": test_set.labels,
    }


def describe_machine(threads: int) -> str:
    """Describe the CPU, the core count and the BLAS threads for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {threads} BLAS threads, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )


def format_table(results: list[RunResult]) -> str:
    """Format the results as a Markdown table with the target and the cnn_core/PyTorch ratio."""
    torch_seconds = {r.preset: r.train_seconds for r in results if r.library == "pytorch"}
    lines = [
        "| preset | library | params | epochs | batch | optimizer | learning rate, schedule "
        "| training time (s) | test accuracy | time / PyTorch | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = ""
        if r.library == "cnn_core" and r.preset in torch_seconds:
            ratio = f"{r.train_seconds / torch_seconds[r.preset]:.2f}x"
        target = ""
        if r.library == "cnn_core" and r.preset in TARGETS:
            accuracy, seconds = TARGETS[r.preset]
            met = r.test_accuracy >= accuracy and r.train_seconds <= seconds
            target = f">= {accuracy} in <= {seconds:.0f} s: {'met' if met else 'missed'}"
        lines.append(
            f"| {r.preset} | {r.library} | {r.n_params:,} | {r.epochs} | {r.batch_size} "
            f"| {r.optimizer} | {r.learning_rate:g} {r.lr_schedule} | {r.train_seconds:.1f} "
            f"| {r.test_accuracy:.4f} | {ratio} | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results; with ``--json`` also write them to a file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets",
        default="tiny,small",
        help="comma-separated presets to train (default: tiny,small)",
    )
    parser.add_argument(
        "--skip-torch", action="store_true", help="train only with cnn_core (default: both)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default: 0)")
    parser.add_argument(
        "--data-dir",
        help="folder of the Fashion-MNIST IDX files (default: the dataset's standard folder)",
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        metavar="N",
        help="train on the first N images only, for a quick check of the script; the targets "
        "apply to full runs (default: all 60,000)",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the results and the machine to this JSON file"
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS threads of the cnn_core run, as `cnn-playground train` uses by default; "
        "cnn_core's element-wise work still runs on every core, and PyTorch keeps as many "
        "threads as NumPy's BLAS has by default (default: 1)",
    )
    args = parser.parse_args(argv)

    names = [name.strip() for name in args.presets.split(",") if name.strip()]
    unknown = [name for name in names if name not in PRESETS]
    if unknown:
        parser.error(f"unknown presets {unknown}; choose from {', '.join(PRESETS)}")
    if not args.skip_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            parser.error("PyTorch is not installed; install it or pass --skip-torch")

    threads = blas_threads()
    machine = describe_machine(threads)
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    print(f"machine: {machine}")
    print(f"command: {command}")
    print(f"date: {started_at}")
    print(f"cnn_core BLAS threads: {args.blas_threads}; PyTorch threads: {threads}")

    data = load_fashion_mnist(args.data_dir)
    if args.train_limit is not None:
        data["X_train"] = data["X_train"][: args.train_limit]
        data["y_train"] = data["y_train"][: args.train_limit]
    results: list[RunResult] = []
    for name in names:
        preset = PRESETS[name]
        settings = {"preset": name, **preset.training_defaults()}
        network = Network(preset_layers(name, 10), data["X_train"].shape[1:], seed=args.seed)
        if not args.skip_torch:
            results.append(run_torch(network, data, settings, args.seed, threads))
            print(_one_line(results[-1]), flush=True)
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            results.append(run_cnn_core(network, data, settings, args.seed))
        print(_one_line(results[-1]), flush=True)

    print()
    print(format_table(results))
    if args.json:
        record = {
            "machine": machine,
            "command": command,
            "date": started_at,
            "cnn_core_blas_threads": args.blas_threads,
            "torch_threads": threads,
            "results": [asdict(result) for result in results],
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


def _one_line(result: RunResult) -> str:
    return (
        f"{result.preset} {result.library}: test accuracy {result.test_accuracy:.4f}, "
        f"loss {result.test_loss:.4f}, {result.train_seconds:.1f} s of training"
    )


if __name__ == "__main__":
    sys.exit(main())

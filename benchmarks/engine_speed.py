"""Time cnn_core against PyTorch CPU and against the classic loop convolution.

Measures, in one run:

1. one training step (forward, backward, SGD update) of the ``seed`` preset on a batch of float32
   images 32 x 32 x 3 with 10 classes, in cnn_core and in the same network in PyTorch. Both run at
   the BLAS thread count that NumPy uses, then both at one thread, which busy machines disturb
   less;
2. the classic four-loop convolution against ``conv_forward`` on one thread, on one image shaped
   like the second conv layer's input: 32 x 32 x 32, padded by 1, 64 filters 3 x 3;
3. the peak resident memory of a process that runs cnn_core steps at batch 64.

Each time is the median over ``--repeats`` runs after one warm-up run. OpenBLAS variables such as
OPENBLAS_CORETYPE change which kernels NumPy uses, so run it as::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/engine_speed.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnn_core.functional as F  # noqa: E402
from tests.engine.references import conv_forward_loops  # noqa: E402

INPUT_SHAPE = (32, 32, 3)
N_CLASSES = 10
LEARNING_RATE = 1e-3


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Return the median wall time of ``run`` over ``repeats`` calls after one warm-up call."""
    return interleaved_medians({"run": run}, repeats)["run"]


def interleaved_medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Return the median wall time of each run, timing them in turn within every repeat.

    Alternating the runs exposes them to the same background load, which makes their ratio more
    stable on a shared machine than timing one after the other.
    """
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def make_batch(batch_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return random float32 images (m, 32, 32, 3) and integer labels (m,)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch_size, *INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, size=batch_size)
    return X, y


def make_cnn_core_step(batch_size: int) -> tuple[Callable[[], float], str]:
    """Return one cnn_core training step of the seed preset and a label for how it is built."""
    X, y = make_batch(batch_size)
    try:
        from cnn_core.network import Network
        from cnn_core.optimizers import SGD
        from cnn_core.presets import preset_layers
    except ImportError:
        return make_functional_step(X, y), "cnn_core.functional ops"

    network = Network(preset_layers("seed", N_CLASSES), input_shape=INPUT_SHAPE, seed=0)
    optimizer = SGD(LEARNING_RATE)

    def step() -> float:
        Z = network.forward(X)
        cost, dZ = F.softmax_cross_entropy(Z, y)
        network.backward(dZ)
        optimizer.step(network.parameters(), network.gradients())
        return cost

    return step, "cnn_core.network.Network"


def make_functional_step(X: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """Return the seed-preset step written with the functional ops alone, He-initialized."""
    rng = np.random.default_rng(0)
    convs = []
    n_C_prev = INPUT_SHAPE[2]
    for n_C in (32, 64, 128):
        W = rng.standard_normal((3, 3, n_C_prev, n_C), dtype=np.float32)
        W *= np.sqrt(2 / (9 * n_C_prev), dtype=np.float32)
        convs.append((W, np.zeros((1, 1, 1, n_C), np.float32)))
        n_C_prev = n_C
    dense = []
    for n_in, n_out in ((26 * 26 * 128, 256), (256, N_CLASSES)):
        W = rng.standard_normal((n_out, n_in), dtype=np.float32)
        W *= np.sqrt(2 / n_in, dtype=np.float32)
        dense.append((W, np.zeros((n_out, 1), np.float32)))
    parameters = [array for pair in convs + dense for array in pair]

    def step() -> float:
        caches = []
        A = X
        for W, b in convs:
            Z, conv_cache = F.conv_forward(A, W, b, stride=1, pad=1)
            R, relu_cache = F.relu(Z)
            A, pool_cache = F.pool_forward(R, f=3, stride=1, mode="max")
            caches.append((conv_cache, relu_cache, pool_cache))
        A, flat_cache = F.flatten(A)
        Z1, linear1_cache = F.linear_forward(A, *dense[0])
        R1, relu1_cache = F.relu(Z1)
        Z2, linear2_cache = F.linear_forward(R1, *dense[1])
        cost, dZ2 = F.softmax_cross_entropy(Z2, y)

        dR1, dW2, db2 = F.linear_backward(dZ2, linear2_cache)
        dA, dW1, db1 = F.linear_backward(F.relu_backward(dR1, relu1_cache), linear1_cache)
        dA = F.unflatten(dA, flat_cache)
        conv_grads = []
        for conv_cache, relu_cache, pool_cache in reversed(caches):
            dR = F.pool_backward(dA, pool_cache)
            dA, dW, db = F.conv_backward(F.relu_backward(dR, relu_cache), conv_cache)
            conv_grads[:0] = [dW, db]
        gradients = conv_grads + [dW1, db1, dW2, db2]

        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter -= LEARNING_RATE * gradient
        return cost

    return step


def make_torch_step(batch_size: int, threads: int):
    """Return one PyTorch training step of the same network, or None when torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    from torch import nn

    torch.manual_seed(0)
    layers = []
    n_C_prev = INPUT_SHAPE[2]
    for n_C in (32, 64, 128):
        layers += [
            nn.Conv2d(n_C_prev, n_C, 3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=1),
        ]
        n_C_prev = n_C
    layers += [nn.Flatten(), nn.Linear(26 * 26 * 128, 256), nn.ReLU(), nn.Linear(256, N_CLASSES)]
    model = nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    X, y = make_batch(batch_size)
    X_t = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    y_t = torch.from_numpy(y)

    def step() -> float:
        torch.set_num_threads(threads)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(X_t), y_t)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, torch.__version__


def compare_steps(batch_size: int, threads: int, repeats: int) -> None:
    """Time and print the cnn_core and PyTorch training steps with ``threads`` threads each."""
    cnn_core_step, built_with = make_cnn_core_step(batch_size)
    runs = {"cnn_core": cnn_core_step}
    torch_step = make_torch_step(batch_size, threads)
    if torch_step is not None:
        runs["torch"], torch_version = torch_step

    F.set_num_threads(threads)
    with blas_threads(threads):
        medians = interleaved_medians(runs, repeats)
        final_cost = cnn_core_step()
    F.set_num_threads(None)

    print(f"\nseed preset training step, batch {batch_size}, {threads} thread(s), {built_with}")
    if not np.isfinite(final_cost):
        print("  warning: the cnn_core loss became non-finite, so the timing may not be typical")
    print(f"  cnn_core: {medians['cnn_core'] * 1e3:8.1f} ms")
    if torch_step is None:
        print("  PyTorch:  not installed, comparison skipped")
        return
    print(f"  PyTorch {torch_version}: {medians['torch'] * 1e3:8.1f} ms")
    ratio = medians["cnn_core"] / medians["torch"]
    print(f"  ratio cnn_core / PyTorch: {ratio:.2f} (target <= 1.25)")


def time_layer2_conv(repeats: int) -> tuple[float, float]:
    """Return the median seconds of the loop conv and of conv_forward on one 32x32x32 image.

    Both run on one thread, because the loops cannot use more. On a busy machine a second BLAS
    thread can also add a scheduling delay of several milliseconds to a 0.3 ms product.
    """
    rng = np.random.default_rng(1)
    A_prev = rng.standard_normal((1, 32, 32, 32), dtype=np.float32)
    W = rng.standard_normal((3, 3, 32, 64), dtype=np.float32)
    b = rng.standard_normal((1, 1, 1, 64), dtype=np.float32)

    with blas_threads(1):
        loop_time = median_seconds(lambda: conv_forward_loops(A_prev, W, b, 1, 1), repeats)
        fast_time = median_seconds(lambda: F.conv_forward(A_prev, W, b, stride=1, pad=1), 50)
    return loop_time, fast_time


def blas_threads(n_threads: int):
    """Return a context that limits BLAS to ``n_threads``, or does nothing without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n_threads, user_api="blas")


def blas_info() -> dict:
    """Return threadpoolctl's description of NumPy's BLAS, or an empty dict without it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return pool
    return {}


def peak_memory_mib(batch_size: int, steps: int) -> float:
    """Return the peak resident memory in MiB of a fresh process that runs cnn_core steps."""
    command = [sys.executable, __file__, "--memory-child", str(batch_size), "--repeats", str(steps)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def run_memory_child(batch_size: int, steps: int) -> None:
    """Run ``steps`` training steps and print this process's peak resident memory in MiB."""
    step, _ = make_cnn_core_step(batch_size)
    for _ in range(steps):
        step()
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / divisor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32, help="images per training step")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement")
    parser.add_argument(
        "--memory-batch-size", type=int, default=64, help="images per step in the memory check"
    )
    parser.add_argument("--memory-child", type=int, metavar="BATCH_SIZE", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_child is not None:
        run_memory_child(args.memory_child, args.repeats)
        return

    blas = blas_info()
    threads = int(blas.get("num_threads", os.cpu_count() or 1))
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    print(
        f"BLAS: {blas.get('internal_api', 'unknown')} {blas.get('version', '')}, "
        f"kernel {blas.get('architecture', 'unknown')}, {threads} threads"
    )
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        if variable in os.environ:
            print(f"warning: {variable}={os.environ[variable]} is set")

    print(f"load average over the last minute: {os.getloadavg()[0]:.1f}")
    compare_steps(args.batch_size, threads, args.repeats)
    if threads > 1:
        compare_steps(args.batch_size, 1, args.repeats)

    loop_time, fast_time = time_layer2_conv(args.repeats)
    print("\nconv on one image 32x32x32, pad 1, 64 filters 3x3, one thread")
    print(f"  four loops:   {loop_time * 1e3:8.1f} ms")
    print(f"  conv_forward: {fast_time * 1e3:8.3f} ms")
    print(f"  speed-up: {loop_time / fast_time:.0f}x (target >= 300x)")

    peak = peak_memory_mib(args.memory_batch_size, steps=2)
    print(
        f"\npeak resident memory, cnn_core steps at batch {args.memory_batch_size}: {peak:.0f} MiB"
    )
    print("  target < 2048 MiB")


if __name__ == "__main__":
    main()

"""Inspect latency: ``POST /api/models/{id}/inspect`` in-process and over HTTP on loopback.

For each preset (``tiny`` 28 x 28 x 1 and ``seed`` 32 x 32 x 3 by default), the script stores a
model with untrained weights in a temporary data directory, then measures:

1. in-process: the call that the server's inference thread pool makes for one inspect request
   (decode the PNG, run the network with its trace, encode the JSON body), one call at a time;
2. over HTTP: a real ``cnn-playground serve`` on a free 127.0.0.1 port, with ``--clients``
   threads that each keep one connection open and send inspect requests back to back until
   ``--requests`` requests are done. Every client sends ``--warmup`` requests first, which are
   not timed.

Latencies are wall times from sending the request to reading the whole body. The weights do not
change the amount of work, so untrained ones are enough. The target: ``tiny`` p95 at most 50 ms
at 8 clients with no failed request. Run it on a quiet machine, because other processes' load
inflates the tail::

    .venv/bin/python benchmarks/inspect_latency.py
    .venv/bin/python benchmarks/inspect_latency.py --presets tiny --requests 200 --json out.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.config import Settings  # noqa: E402
from app.services.inference import InferenceService  # noqa: E402
from app.services.models import ModelStore  # noqa: E402
from cnn_core.network import Network  # noqa: E402
from cnn_core.presets import PRESETS, preset_layers  # noqa: E402
from cnn_core.serialization import Model  # noqa: E402

N_CLASSES = 10
TARGET_PRESET = "tiny"
TARGET_P95_MS = 50.0
SERVER_START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0


@dataclass
class LatencySummary:
    """Latency percentiles in milliseconds over ``count`` successful requests."""

    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    requests_per_s: float


@dataclass
class StoredModel:
    """A model stored for the benchmark: its id, parameter count and number of layers."""

    model_id: str
    n_params: int
    n_layers: int


@dataclass
class PresetResult:
    """Measurements of one preset in-process and over HTTP, and the size of its response."""

    preset: str
    input_shape: list[int]
    n_params: int
    body_bytes: int
    in_process: LatencySummary
    http: LatencySummary


def summarize(latencies_s: list[float], errors: int, wall_s: float) -> LatencySummary:
    """Summarize latencies in seconds; ``wall_s`` is the elapsed time of the whole run."""
    if not latencies_s:
        return LatencySummary(0, errors, float("nan"), float("nan"), float("nan"), 0.0)
    ms = np.asarray(latencies_s) * 1000.0
    return LatencySummary(
        count=len(latencies_s),
        errors=errors,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        max_ms=float(ms.max()),
        requests_per_s=len(latencies_s) / wall_s if wall_s > 0 else 0.0,
    )


def make_png(input_shape: tuple[int, int, int], seed: int = 0) -> bytes:
    """Encode a random image of ``input_shape`` ``(n_H, n_W, n_C)`` as PNG (L or RGB)."""
    n_H, n_W, n_C = input_shape
    rng = np.random.default_rng(seed)
    if n_C == 1:
        pixels = rng.integers(0, 256, size=(n_H, n_W), dtype=np.uint8)
    elif n_C == 3:
        pixels = rng.integers(0, 256, size=(n_H, n_W, 3), dtype=np.uint8)
    else:
        raise ValueError(f"input_shape={input_shape!r} has {n_C} channels; expected 1 or 3")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def store_preset_model(store: ModelStore, preset: str) -> StoredModel:
    """Store an untrained model of ``preset`` with ``N_CLASSES`` classes."""
    input_shape = PRESETS[preset].input_shape
    network = Network(preset_layers(preset, N_CLASSES), input_shape=input_shape, seed=0)
    classes = [f"class {index}" for index in range(N_CLASSES)]
    model = Model(network, classes, metadata={"preset": preset})
    model_id = store.add(model, name=f"{preset} (untrained)", dataset="none", preset=preset)
    return StoredModel(model_id, int(network.n_params), len(network.spec))


def time_in_process(run: Callable[[], bytes], requests: int, warmup: int) -> LatencySummary:
    """Time ``run`` one call at a time, ``requests`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        start = time.perf_counter()
        run()
        latencies.append(time.perf_counter() - start)
    return summarize(latencies, 0, time.perf_counter() - started)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(data_dir: Path, log_path: Path) -> Iterator[str]:
    """Start ``cnn-playground serve`` on a free loopback port; yield its base URL, then stop it."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "cnn-playground"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until_healthy(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Poll ``/api/health`` until it returns 200; raise if the server exits or times out."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {process.returncode} before it was ready; "
                f"its log:\n{log_path.read_text(errors='replace')}"
            )
        try:
            if httpx.get(base_url + "/api/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"the server at {base_url} did not respond to /api/health within {SERVER_START_TIMEOUT_S} s"
    )


def check_inspect_body(body: bytes, n_layers: int) -> None:
    """Parse one inspect response and check that it has an input, predictions and every layer."""
    payload = json.loads(body)
    if len(payload["layers"]) != n_layers or len(payload["predictions"]) != N_CLASSES:
        raise RuntimeError(
            f"the inspect response has {len(payload['layers'])} layers and "
            f"{len(payload['predictions'])} predictions; expected {n_layers} and {N_CLASSES}"
        )
    if payload["input"]["dtype"] != "float32":
        raise RuntimeError(f"the input tensor has dtype {payload['input']['dtype']!r}")


def time_http(
    base_url: str,
    model_id: str,
    image: bytes,
    *,
    n_layers: int,
    clients: int,
    requests: int,
    warmup: int,
) -> tuple[LatencySummary, int]:
    """Send ``requests`` timed inspect requests from ``clients`` threads; return the summary.

    Each thread keeps one connection and first sends ``warmup`` untimed requests. The first
    response is parsed and checked in full. A later request fails when its status is not 200
    or its body length differs, because the same image always gives the same body length.
    Returns the summary and the body length.
    """
    url = f"{base_url}/api/models/{model_id}/inspect"
    # The multipart body is encoded once, so the clients spend no time on it per request.
    upload = httpx.Request("POST", url, files={"file": ("image.png", image, "image/png")})
    body = upload.read()
    headers = {"content-type": upload.headers["content-type"]}

    first = httpx.post(url, content=body, headers=headers, timeout=REQUEST_TIMEOUT_S)
    first.raise_for_status()
    check_inspect_body(first.content, n_layers)
    body_bytes = len(first.content)

    remaining = [requests]
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)

    def take_one() -> bool:
        with lock:
            if remaining[0] <= 0:
                return False
            remaining[0] -= 1
            return True

    def client_loop() -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            for _ in range(warmup):
                client.post(url, content=body, headers=headers)
            ready.wait()
            while take_one():
                start = time.perf_counter()
                try:
                    response = client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = time.perf_counter() - start
                if response.status_code != 200 or len(response.content) != body_bytes:
                    errors.append(f"status {response.status_code}, {len(response.content)} bytes")
                    continue
                latencies.append(elapsed)

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started

    for message in errors[:5]:
        print(f"  failed request: {message}", file=sys.stderr)
    return summarize(latencies, len(errors), wall), body_bytes


def describe_machine() -> dict[str, object]:
    """Return the CPU model, core count, load averages and library versions of this run."""
    cpu = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets",
        nargs="+",
        default=["tiny", "seed"],
        choices=sorted(PRESETS),
        help="presets to measure (default: tiny seed)",
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent HTTP clients (default: 8)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=400,
        help="timed requests per preset, in-process and over HTTP each (default: 400)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="untimed requests per client, and in-process, before timing (default: 5)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    for name in ("clients", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more, got {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine_before = describe_machine()
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results: list[PresetResult] = []

    with tempfile.TemporaryDirectory(prefix="inspect-latency-") as temp:
        data_dir = Path(temp) / "data"
        settings = Settings(data_dir=data_dir)
        store = ModelStore(settings)
        models = {preset: store_preset_model(store, preset) for preset in args.presets}
        images = {preset: make_png(PRESETS[preset].input_shape) for preset in args.presets}

        # The server limits BLAS the same way for its whole process.
        service = InferenceService(store, settings)
        in_process = {}
        with threadpool_limits(limits=settings.blas_threads, user_api="blas"):
            for preset in args.presets:
                model_id = models[preset].model_id
                image = images[preset]
                in_process[preset] = time_in_process(
                    lambda model_id=model_id, image=image: service.inspect_body(model_id, image),
                    args.requests,
                    args.warmup,
                )
        service.close()

        with running_server(data_dir, Path(temp) / "server.log") as base_url:
            for preset in args.presets:
                stored = models[preset]
                http, body_bytes = time_http(
                    base_url,
                    stored.model_id,
                    images[preset],
                    n_layers=stored.n_layers,
                    clients=args.clients,
                    requests=args.requests,
                    warmup=args.warmup,
                )
                results.append(
                    PresetResult(
                        preset=preset,
                        input_shape=list(PRESETS[preset].input_shape),
                        n_params=stored.n_params,
                        body_bytes=body_bytes,
                        in_process=in_process[preset],
                        http=http,
                    )
                )

    machine_after = describe_machine()
    report(args, results, machine_before, machine_after, started_at)
    if args.json:
        record = {
            "command": shlex.join([sys.executable, *sys.argv]),
            "started_at": started_at,
            "machine": machine_before,
            "load_average_after": machine_after["load_average"],
            "clients": args.clients,
            "results": [asdict(result) for result in results],
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")

    target = next((result for result in results if result.preset == TARGET_PRESET), None)
    if target is None:
        return 0
    met = target.http.errors == 0 and target.http.p95_ms <= TARGET_P95_MS
    print(
        f"\ntarget ({TARGET_PRESET} HTTP p95 <= {TARGET_P95_MS:.0f} ms at {args.clients} "
        f"clients, no errors): {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


def report(
    args: argparse.Namespace,
    results: list[PresetResult],
    machine_before: dict[str, object],
    machine_after: dict[str, object],
    started_at: str,
) -> None:
    """Print the machine, the settings and one Markdown table row per preset and mode."""
    print(f"started {started_at}; {machine_before['cpu']}, {machine_before['cores']} cores")
    print(
        f"load average before {machine_before['load_average']}, "
        f"after {machine_after['load_average']}"
    )
    print(
        f"python {machine_before['python']}, numpy {machine_before['numpy']}; "
        f"{args.requests} timed requests per row, {args.clients} HTTP clients\n"
    )
    print("| preset | mode | p50 ms | p95 ms | max ms | req/s | errors | body |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        for mode, summary in (
            ("in-process, 1 caller", result.in_process),
            (f"HTTP, {args.clients} clients", result.http),
        ):
            print(
                f"| {result.preset} | {mode} | {summary.p50_ms:.1f} | {summary.p95_ms:.1f} | "
                f"{summary.max_ms:.1f} | {summary.requests_per_s:.0f} | {summary.errors} | "
                f"{result.body_bytes / 1e6:.2f} MB |"
            )
    print()
    for result in results:
        ratio = result.http.p50_ms / result.in_process.p50_ms
        print(f"{result.preset}: HTTP p50 / in-process p50 = {ratio:.1f}")


if __name__ == "__main__":
    sys.exit(main())

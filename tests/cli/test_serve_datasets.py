"""``datasets`` output and a real ``serve`` process on a free loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import httpx
import pytest

from .conftest import CLI, FASHION_MNIST_DIR, run_cli, run_json

SERVER_START_TIMEOUT_S = 30.0


def test_datasets_lists_fashion_mnist():
    entries = {entry["name"]: entry for entry in run_json("datasets", "--json")}

    fashion = entries["fashion-mnist"]
    assert fashion["available"] is True
    assert fashion["train_size"] == 60_000
    assert fashion["test_size"] == 10_000
    assert fashion["input_shape"] == [28, 28, 1]


def test_datasets_text_names_folder():
    result = run_cli("datasets", env={"CNN_PLAYGROUND_FASHION_MNIST_DIR": str(FASHION_MNIST_DIR)})

    assert result.returncode == 0, result.stderr
    assert f"fashion-mnist: available in {FASHION_MNIST_DIR}" in result.stdout


def test_datasets_missing_hint(tmp_path):
    result = run_cli("datasets", env={"CNN_PLAYGROUND_FASHION_MNIST_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    assert f"fashion-mnist: missing in {tmp_path}" in result.stdout
    assert "apt-get install dataset-fashion-mnist" in result.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_health(tmp_path):
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(tmp_path / "var")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        health = None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while health is None and time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, log_path.read_text()
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

    log = log_path.read_text()
    assert f"starting server on http://127.0.0.1:{port}" in log
    assert "stopped" in log
    assert (tmp_path / "var").is_dir()

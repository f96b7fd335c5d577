"""Static checks of the Dockerfile, and its start command run in a fresh virtual environment.

No Docker engine runs on the test machines, so the image itself is never built here. Instead the
tests read the Dockerfile, check what a deployment relies on, then repeat its install step and its
start command in a new virtual environment and talk to the server over loopback.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Parse the Dockerfile into (INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = DOCKERFILE.read_text()
    text = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [args for key, args in dockerfile_instructions() if key == keyword]


def start_command() -> list[str]:
    (cmd,) = instruction_args("CMD")
    return json.loads(cmd)


def image_environment() -> dict[str, str]:
    env = {}
    for args in instruction_args("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_dockerfile_slim_python_base():
    (base,) = instruction_args("FROM")
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base)


def test_dockerfile_runs_as_non_root_user():
    users = instruction_args("USER")
    assert users
    assert users[-1] not in {"root", "0"}


def test_dockerfile_exposes_port_8000():
    assert "8000" in instruction_args("EXPOSE")
    env = image_environment()
    assert env["CNN_PLAYGROUND_HOST"] == "0.0.0.0"
    assert env["CNN_PLAYGROUND_PORT"] == "8000"


def healthcheck_command() -> list[str]:
    (healthcheck,) = instruction_args("HEALTHCHECK")
    _, _, command = healthcheck.partition("CMD ")
    return json.loads(command)


def test_dockerfile_healthcheck_calls_health_endpoint():
    command = " ".join(healthcheck_command())
    assert "/api/health" in command
    assert "CNN_PLAYGROUND_PORT" in command


def test_dockerfile_data_dir_is_volume():
    env = image_environment()
    volumes = instruction_args("VOLUME")
    assert volumes
    assert env["CNN_PLAYGROUND_DATA_DIR"] in json.loads(volumes[0])


def pip_install_args(text: str) -> set[tuple[str, ...]]:
    """Return the arguments of every `pip install` in `text`, without the quiet flags."""
    found = set()
    for match in re.finditer(r"pip install ([^\n&;|]+)", text):
        args = tuple(arg for arg in shlex.split(match.group(1)) if arg not in {"--quiet", "-q"})
        found.add(args)
    return found


def apt_install_packages(text: str) -> set[str]:
    """Return the package names of every `apt-get install` in `text`, without its options."""
    packages = set()
    for match in re.finditer(r"apt-get install ([^\n&;|]+)", text):
        packages.update(arg for arg in shlex.split(match.group(1)) if not arg.startswith("-"))
    return packages


def makefile_rule(target: str) -> str:
    """Return the recipe lines of one Makefile rule, target line included."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)*)", text, flags=re.MULTILINE)
    assert match, f"no rule {target!r} in the Makefile"
    return match.group(0)


def test_dockerfile_installs_like_readme():
    """The image installs the dataset package and the runtime package with the README's commands."""
    runs = "\n".join(instruction_args("RUN"))
    readme = (ROOT / "README.md").read_text()
    runtime_rule = makefile_rule("$(VENV)/.installed-runtime")

    assert pip_install_args(runs) == {("-e", ".")}
    assert ("-e", ".") in pip_install_args(readme)
    assert pip_install_args(runtime_rule) == {("-e", ".")}
    assert apt_install_packages(runs) == {"dataset-fashion-mnist"}
    assert "dataset-fashion-mnist" in apt_install_packages(readme)


def test_dockerfile_copies_every_runtime_folder():
    copied = " ".join(instruction_args("COPY"))
    for folder in ("cnn_core", "app", "templates", "static", "pyproject.toml"):
        assert folder in copied


def test_compose_file_uses_volume_and_port():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "build: ." in compose
    assert ":8000" in compose
    assert ":/data" in compose


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_start_command_serves(tmp_path):
    """Install the runtime package into a new venv and run the image's CMD on a loopback port."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNN_PLAYGROUND_")}
    env.update(image_environment())
    # The image listens on 0.0.0.0, but the test keeps every socket on loopback.
    env["CNN_PLAYGROUND_HOST"] = "127.0.0.1"
    env["CNN_PLAYGROUND_PORT"] = str(port)
    env["CNN_PLAYGROUND_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"

    server = subprocess.Popen(
        start_command(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    body = json.load(r)
                break
            except OSError:
                time.sleep(0.3)
        assert server.poll() is None, server.stdout.read()
        assert body is not None
        assert body["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=5) as r:
            models = json.load(r)
        assert any(model["id"] == "default" for model in models)

        # The image's HEALTHCHECK, run with the same environment, must pass against this server.
        check = subprocess.run(healthcheck_command(), env=env, capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
    finally:
        server.terminate()
        server.wait(timeout=20)

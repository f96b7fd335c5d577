"""Checks that the README, the Makefile, CI and the system package script agree with the code.

The README is the only guide a newcomer reads, so its settings table, its commands and its links
are compared with `Settings`, the command line's help and the files in the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SYSTEM_DEPS = ROOT / "scripts" / "system-deps.sh"
ENV_PREFIX = "CNN_PLAYGROUND_"
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def format_default(value: object) -> str:
    """Render a setting's default as the README shows it."""
    if value is None:
        return "unset"
    if value == []:
        return "empty"
    if isinstance(value, Path) and not value.is_absolute():
        return f"`./{value}`"
    return f"`{value}`"


def settings_table() -> str:
    """Build the README's settings table from the fields of `Settings`, in declaration order."""
    rows = [
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        description = " ".join(field.description.split())
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {format_default(default)} | {description} |")
    return "\n".join(rows)


def readme_settings_rows() -> list[str]:
    """Return the README's table lines that describe a setting, header included."""
    lines = README.read_text().splitlines()
    start = lines.index("| variable | default | meaning |")
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def readme_code_lines() -> list[str]:
    """Return every line inside the README's fenced code blocks, stripped."""
    code_lines = []
    inside = False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if inside:
            code_lines.append(line.strip())
    return code_lines


def test_settings_table_in_sync():
    expected = settings_table()
    assert "\n".join(readme_settings_rows()) == expected, (
        "The README's settings table differs from app.core.config.Settings; replace it with:\n"
        + expected
    )


def test_settings_table_names_every_field():
    names = [re.match(r"\| `(\w+)`", row).group(1) for row in readme_settings_rows()[2:]]
    expected = [ENV_PREFIX + name.upper() for name in Settings.model_fields]
    assert names == expected


def test_settings_read_table_names(monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_CONCURRENT_JOBS", "3")
    monkeypatch.setenv("CNN_PLAYGROUND_LOG_LEVEL", "WARNING")
    settings = Settings()
    assert settings.max_concurrent_jobs == 3
    assert settings.log_level == "warning"


def test_readme_test_command_is_make_test():
    assert "make test" in readme_code_lines()


def test_readme_run_command_is_make_run():
    assert "make run" in readme_code_lines()


def test_ci_uses_only_readme_commands():
    code_lines = set(readme_code_lines())
    commands = []
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("set ") or line.startswith("cd "):
            continue
        commands.append(line)
    assert any(command.startswith("make test") for command in commands)
    for command in commands:
        assert command in code_lines, f"{command!r} from .ci/run is not in the README"


def test_readme_cli_commands_exist():
    script = Path(sys.executable).parent / "cnn-playground"
    help_text = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = set(re.findall(r"^    (\w+)\s", help_text, flags=re.MULTILINE))
    used = {
        match for line in readme_code_lines() for match in re.findall(r"cnn-playground (\w+)", line)
    }
    assert used, "the README shows no cnn-playground command"
    assert used <= listed, f"not in cnn-playground --help: {sorted(used - listed)}"


def test_readme_links_exist():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [target for target in targets if "://" not in target]
    assert local
    for target in local:
        assert (ROOT / target).exists(), f"README links to missing {target}"


def test_makefile_checks_packages_before_venv(tmp_path):
    """On a fresh clone `make run` checks the Debian packages before it creates the venv."""
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={venv}", "PYTHON=python3", "run"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    check = next(i for i, line in enumerate(lines) if "system-deps.sh run python3" in line)
    create = next(i for i, line in enumerate(lines) if f"python3 -m venv {venv}" in line)
    serve = next(i for i, line in enumerate(lines) if "cnn-playground serve" in line)
    assert check < create < serve


def fake_command(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def fake_system(tmp_path):
    """Run system-deps.sh against stand-ins for `id`, `dpkg-query` and `apt-get`.

    Returns a function that takes the uid to report, the packages dpkg lists as installed, the
    dataset folder and the script's arguments. That function returns the finished process and
    the log of apt-get calls.
    """
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    apt_log = tmp_path / "apt-get.log"

    def run(uid: int, installed: set[str], dataset_dir: Path, *args: str):
        fake_command(fake_bin, "id", f"echo {uid}")
        cases = " ".join(sorted(installed)) or "-"
        fake_command(
            fake_bin,
            "dpkg-query",
            # The package name is the last argument.
            f'for last; do :; done; for p in {cases}; do [ "$p" = "$last" ] && '
            "printf installed && exit 0; done; exit 1",
        )
        fake_command(fake_bin, "apt-get", f'echo "$@" >> {apt_log}')
        env = dict(os.environ)
        env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
        env["CNN_PLAYGROUND_FASHION_MNIST_DIR"] = str(dataset_dir)
        process = subprocess.run(
            ["bash", str(SYSTEM_DEPS), *args], capture_output=True, text=True, env=env
        )
        log = apt_log.read_text() if apt_log.exists() else ""
        return process, log

    return run


@pytest.fixture
def dataset_dir(tmp_path):
    folder = tmp_path / "fashion"
    folder.mkdir()
    for name in IDX_FILES:
        (folder / name).write_bytes(b"")
    return folder


def test_system_deps_all_present(fake_system, dataset_dir):
    process, apt_log = fake_system(1000, {"chromium", "chromium-driver"}, dataset_dir, "test")
    assert process.returncode == 0, process.stderr
    assert apt_log == ""


def test_system_deps_user_gets_command(fake_system, dataset_dir):
    process, apt_log = fake_system(1000, set(), dataset_dir, "test")
    assert process.returncode == 1
    assert "sudo apt-get install -y chromium chromium-driver" in process.stderr
    assert apt_log == ""


def test_system_deps_run_skips_chromium(fake_system, dataset_dir):
    process, _ = fake_system(1000, set(), dataset_dir, "run")
    assert process.returncode == 0, process.stderr


def test_system_deps_root_installs(fake_system, dataset_dir):
    process, apt_log = fake_system(0, {"chromium"}, dataset_dir, "test")
    assert process.returncode == 0, process.stderr
    assert "update" in apt_log
    assert "install -y -qq chromium-driver" in apt_log


def test_system_deps_missing_venv_module(fake_system, dataset_dir, tmp_path):
    python = tmp_path / "python-without-venv"
    fake_command(python.parent, python.name, "exit 1")
    process, _ = fake_system(1000, set(), dataset_dir, "run", str(python))
    assert process.returncode == 1
    assert "sudo apt-get install -y python3-venv" in process.stderr


def test_system_deps_custom_dataset_dir_empty(fake_system, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    process, apt_log = fake_system(0, set(), empty, "run")
    assert process.returncode == 1
    assert f"CNN_PLAYGROUND_FASHION_MNIST_DIR is '{empty}'" in process.stderr
    assert apt_log == ""


def test_system_deps_unpacked_idx_names(fake_system, tmp_path):
    folder = tmp_path / "unpacked"
    folder.mkdir()
    for name in IDX_FILES:
        (folder / name.removesuffix(".gz")).write_bytes(b"")
    process, _ = fake_system(1000, set(), folder, "run")
    assert process.returncode == 0, process.stderr


def test_system_deps_invalid_purpose(fake_system, dataset_dir):
    process, _ = fake_system(1000, set(), dataset_dir, "deploy")
    assert process.returncode == 2
    assert "invalid purpose 'deploy'" in process.stderr


def test_readme_default_accuracy_current():
    from cnn_core.serialization import load_shipped_model

    stored = load_shipped_model().metadata["test_accuracy"]
    # The sentence that introduces `default`, the shipped model, up to its accuracy.
    match = re.search(r"the shipped model:[^.]*?test accuracy of (0\.\d+)", README.read_text())

    assert match, "the README quotes no test accuracy of the shipped model"
    quoted = match.group(1)
    digits = len(quoted) - 2
    assert quoted == f"{stored:.{digits}f}", f"README has {quoted}; the shipped model has {stored}"

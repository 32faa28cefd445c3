"""A plain install (no dev extra) in a fresh environment runs every `fleet` command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from fleet.cli import main
from tests.support import REPO, base_env, serve

pytestmark = pytest.mark.ops


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


def _install_plain(target: Path) -> Path:
    """`pip install .` of a clean copy of the project into a new venv (pip's cache reused)."""
    source = target / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    venv = target / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         str(source)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def test_plain_install_runs_every_command(tmp_path: Path) -> None:
    venv = _install_plain(tmp_path)
    fleet = str(venv / "bin" / "fleet")
    # Nothing of the dev extra came along: the package stands on its runtime dependencies.
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True, timeout=60
    )
    assert probe.returncode != 0
    paths = _command_paths(main)
    assert ("simulate",) in paths and ("doctor",) in paths and ("backup", "create") in paths
    for path in [(), *paths]:
        done = subprocess.run([fleet, *path, "--help"], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (path, done.stderr)
        assert "Usage:" in done.stdout

    # A short `fleet simulate` against the app served by the same plain install.
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    env = base_env(url, tmp_path / "data")
    with serve(env, tmp_path / "serve.log", fleet=[fleet]) as served:
        done = subprocess.run(
            [fleet, "simulate", "--server", served.base, "--devices", "2", "--duration", "3",
             "--poll-interval", "0.5"],
            env=env, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    polls = re.search(r"polls (\d+)", done.stdout)
    errors = re.search(r"errors (\d+)", done.stdout)
    assert polls and int(polls.group(1)) >= 2, done.stdout
    assert errors and int(errors.group(1)) == 0, done.stdout + done.stderr

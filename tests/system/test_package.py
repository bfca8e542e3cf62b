"""The suite as a pip package: `pip install .` in a fresh venv, then its commands from elsewhere.
(Where model files are looked for: unit/test_package.py; the download: integration/test_package.py.)"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from tests.helpers import REPO_ROOT

# Whole runs of the scripts: the full suite runs them, the fast tier (-m 'not slow') does not.
pytestmark = pytest.mark.slow

COMMANDS = sorted(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"])
# Installed, the commands' modules run with `python -m` (the reference's script names are the checkout's).
MODULES = ["syncnet.cli.demo", "syncnet.cli.feature", "syncnet.cli.pipeline", "syncnet.cli.score",
           "syncnet.cli.visualise", "syncnet.cli.download", "syncnet.batch", "syncnet.eval", "syncnet.train"]
# What the package is built from: everything else in the checkout stays out of the copy.
SOURCES = ["pyproject.toml", "README.md", "syncnet"]


# ------------------------------------------------------------------ pip install .


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with torch's CPU wheel, then the package from a copy of the sources (not editable)."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (REPO_ROOT / name).is_dir() else shutil.copy
        copy(REPO_ROOT / name, source / name)
    for module in REPO_ROOT.glob("*.py"):
        shutil.copy(module, source / module.name)
    for ignored in source.rglob("__pycache__"):
        shutil.rmtree(ignored)

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # torch first, pinned, so that pip takes the CPU wheel and not a multi-GB CUDA build.
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, str(source)], check=True)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere


def run_in(installed, *command, env=None):
    venv, elsewhere = installed
    environment = dict(os.environ, **(env or {}))
    environment.pop("PYTHONPATH", None)
    environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{environment['PATH']}"
    return subprocess.run([str(c) for c in command], cwd=elsewhere, env=environment, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


def test_commands_and_modules_run(installed):
    venv, _ = installed
    for command in COMMANDS:
        result = run_in(installed, venv / "bin" / command, "--help")
        assert result.returncode == 0 and result.stdout.startswith(f"usage: {command} "), (command, result.stderr)
    for module in MODULES:
        result = run_in(installed, venv / "bin" / "python", "-m", module, "--help")
        assert result.returncode == 0 and "--quiet" in result.stdout, (module, result.stderr)


def test_installed_code_is_not_the_checkout(installed):
    venv, _ = installed
    result = run_in(installed, venv / "bin" / "python", "-c",
                    "import json, syncnet.api, syncnet.cli.instance, syncnet.detection.s3fd; "
                    "print(json.dumps([syncnet.api.__file__, syncnet.cli.instance.__file__, "
                    "syncnet.detection.s3fd.__file__]))")
    assert result.returncode == 0, result.stderr
    for path in json.loads(result.stdout):
        assert Path(path).is_relative_to(venv), path


def test_installed_demo_scores_from_anywhere(installed, clip, syncnet_weights, golden_dir):
    venv, elsewhere = installed
    golden = json.loads((golden_dir / "demo_example.json").read_text())
    result = run_in(installed, venv / "bin" / "syncnet-demo", "--initial_model", syncnet_weights,
                    "--videofile", clip("example.avi"), "--tmp_dir", elsewhere / "tmp", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    match = re.search(r"AV offset: \t(-?\d+) \nMin dist: \t(\d+\.\d{3})\nConfidence: \t(-?\d+\.\d{3})\n",
                      result.stdout)
    assert match, result.stdout
    assert int(match.group(1)) == golden["offset"]
    assert float(match.group(2)) == pytest.approx(golden["min_dist"], abs=0.0051)


def test_missing_model_names_the_cache_and_the_offline_options(installed, tmp_path, clip):
    venv, _ = installed
    cache = tmp_path / "cache"
    result = run_in(installed, venv / "bin" / "syncnet-demo", "--videofile", clip("example.avi"),
                    env={"SYNCNET_CACHE": str(cache)})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("syncnet-demo: error: "), "the name the user typed"
    assert str(cache / "syncnet_v2.model") in result.stderr and "download_model.sh" in result.stderr
    assert "SYNCNET_MIRROR" in result.stderr and "--initial_model" in result.stderr
    assert "site-packages/data" not in result.stderr


def test_inputs_are_checked_before_the_model_loads(installed, tmp_path):
    venv, _ = installed
    result = run_in(installed, venv / "bin" / "syncnet-demo", "--videofile", tmp_path / "missing.mp4",
                    env={"SYNCNET_CACHE": str(tmp_path / "empty-cache")})
    assert result.returncode == 1
    assert result.stderr == f"syncnet-demo: error: video file not found: {tmp_path / 'missing.mp4'}\n"

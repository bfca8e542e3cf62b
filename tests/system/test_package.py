"""The suite as a pip package: `pip install .` in a fresh venv, then its commands from elsewhere;
and where model files are looked for."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncnet.errors import WeightsError
from syncnet.models.paths import cache_dir, find_s3fd_weights, find_syncnet_model
from tests.helpers import REPO_ROOT

# Whole runs of the scripts: the full suite runs them, the fast tier (-m 'not slow') does not.
pytestmark = pytest.mark.slow

COMMANDS = ["syncnet-demo", "syncnet-feature", "syncnet-pipeline", "syncnet-score", "syncnet-visualise",
            "syncnet-batch"]
MODULES = ["demo_syncnet", "demo_feature", "run_pipeline", "run_syncnet", "run_visualise", "syncnet.batch"]
# What the package is built from: everything else in the checkout stays out of the copy.
SOURCES = ["pyproject.toml", "README.md", "syncnet", "detectors"]


# ------------------------------------------------------------------ model lookup


def test_cache_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("SYNCNET_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "syncnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "syncnet"


def test_syncnet_model_lookup(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("syncnet.models.paths.CODE_ROOT", tmp_path / "site")
    given = tmp_path / "given.model"
    assert find_syncnet_model(given) == str(given), "a path that is not the default is used as given"

    (tmp_path / "site").mkdir()
    with pytest.raises(WeightsError) as error:
        find_syncnet_model()
    message = str(error.value)
    assert "\n" not in message and "download_model.sh" in message and "Offline" in message
    assert str(tmp_path / "site") not in message, "an installed package has no data/ beside its code"
    (tmp_path / "site" / "download_model.sh").write_text("")  # now it is a checkout
    with pytest.raises(WeightsError) as error:
        find_syncnet_model()
    message = str(error.value)
    for place in ("data/syncnet_v2.model", str(tmp_path / "site" / "data" / "syncnet_v2.model"),
                  str(tmp_path / "cache" / "syncnet_v2.model")):
        assert place in message

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "syncnet_v2.model").write_bytes(b"x")
    assert find_syncnet_model() == str(tmp_path / "cache" / "syncnet_v2.model")
    (tmp_path / "site" / "data").mkdir(parents=True)
    (tmp_path / "site" / "data" / "syncnet_v2.model").write_bytes(b"x")
    assert find_syncnet_model("./data/syncnet_v2.model") == str(tmp_path / "site" / "data" / "syncnet_v2.model")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "syncnet_v2.model").write_bytes(b"x")
    assert find_syncnet_model() == "data/syncnet_v2.model", "the reference's place comes first"


def test_s3fd_weights_lookup(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("syncnet.models.paths.S3FD_DEFAULT", tmp_path / "beside" / "sfd_face.pth")
    assert find_s3fd_weights("mine.pth") == "mine.pth"
    with pytest.raises(WeightsError, match=re.escape(str(tmp_path / "cache" / "sfd_face.pth"))):
        find_s3fd_weights()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "sfd_face.pth").write_bytes(b"x")
    assert find_s3fd_weights() == str(tmp_path / "cache" / "sfd_face.pth")


def test_download_script_fills_a_destination(tmp_path):
    """SYNCNET_DEST puts the files flat in a folder, such as the cache, not in the checkout."""
    script = tmp_path / "checkout" / "download_model.sh"
    script.parent.mkdir()
    shutil.copy(REPO_ROOT / "download_model.sh", script)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    content = b"a stand-in clip\x00\n" * 10
    (mirror / "example.avi").write_bytes(content)
    env = dict(os.environ, SYNCNET_MIRROR=str(mirror), SYNCNET_ONLY="example.avi",
               SYNCNET_SHA256_EXAMPLE=hashlib.sha256(content).hexdigest(), SYNCNET_DEST=str(tmp_path / "cache"))
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cache" / "example.avi").read_bytes() == content
    assert not (tmp_path / "checkout" / "data").exists()


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
    for weights in (source / "detectors").rglob("*.pth"):
        weights.unlink()

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
        assert result.returncode == 0 and "--device" in result.stdout, (command, result.stderr)
    for module in MODULES:
        result = run_in(installed, venv / "bin" / "python", "-m", module, "--help")
        assert result.returncode == 0 and "--device" in result.stdout, (module, result.stderr)


def test_installed_code_is_not_the_checkout(installed):
    venv, _ = installed
    result = run_in(installed, venv / "bin" / "python", "-c",
                    "import json, syncnet.api, SyncNetInstance, detectors.s3fd; "
                    "print(json.dumps([syncnet.api.__file__, SyncNetInstance.__file__, detectors.s3fd.__file__]))")
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

"""Shared test fixtures: where the shared clips and golden files are, and stand-in weights.

The shared folder (clips, golden arrays, make_weights.py) is never committed. It is found
through SYNCNET_SHARED, else ../shared beside the checkout. Outside CI a missing shared
folder skips the tests that need it; in CI (CI=true) it fails them, so nothing passes by
being skipped.
"""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _shared_dir():
    configured = os.environ.get("SYNCNET_SHARED")
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def need(path):
    """Return `path` if it exists; otherwise skip the test, or fail it under CI."""
    path = Path(path)
    if not path.exists():
        message = f"missing test data: {path} (set SYNCNET_SHARED to the shared folder)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_dir():
    return need(_shared_dir())


@pytest.fixture(scope="session")
def golden_dir(shared_dir):
    return need(shared_dir / "fixtures" / "golden")


@pytest.fixture(scope="session")
def clip(shared_dir):
    """clip('example.avi') -> path of a shared real clip."""
    return lambda name: need(shared_dir / "data" / name)


def _stand_in_weights(shared_dir, tmp_path_factory, kind, filename):
    maker = need(shared_dir / "fixtures" / "make_weights.py")
    out = tmp_path_factory.mktemp("weights") / filename
    subprocess.run([sys.executable, str(maker), kind, str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def syncnet_weights(shared_dir, tmp_path_factory):
    """Deterministic stand-in for syncnet_v2.model (seed 1234), as the golden files used."""
    return _stand_in_weights(shared_dir, tmp_path_factory, "syncnet", "syncnet_standin.model")


@pytest.fixture(scope="session")
def s3fd_weights(shared_dir, tmp_path_factory):
    """Deterministic stand-in for sfd_face.pth (seed 99), as the golden files used."""
    return _stand_in_weights(shared_dir, tmp_path_factory, "s3fd", "sfd_face_standin.pth")


TWOFACE = "twoface"
# What the shared twoface run passes to run_syncnet beyond the reference's options: a forced
# shift for --write_synced (the stand-in weights' confidence, ~0.01, passes no --min_conf), and
# a threshold at which their near-zero per-frame confidences still name speakers.
TWOFACE_SYNC_OFFSET = 2
TWOFACE_SPEAKER_THRESHOLD = 0.0


def run_script(script, *args, cwd):
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), *map(str, args)],
                            cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="session")
def twoface_run(tmp_path_factory, shared_dir, syncnet_weights, clip):
    """One full run on twoface.mp4 with the reference's detections fed through --reuse_faces.

    It takes minutes, so every test module shares it: (data_dir, faces, run_pipeline's result).
    """
    data_dir = tmp_path_factory.mktemp("work")
    faces = json.loads((shared_dir / "fixtures" / "twoface_faces.json").read_text())
    work = data_dir / "pywork" / TWOFACE
    work.mkdir(parents=True)
    with open(work / "faces.pckl", "wb") as handle:
        pickle.dump(faces, handle)
    video = clip("twoface.mp4")
    common = ["--data_dir", data_dir, "--reference", TWOFACE, "--videofile", video]
    pipeline = run_script("run_pipeline.py", *common, "--reuse_faces", "--device", "cpu", cwd=data_dir)
    assert not (data_dir / "pytmp" / TWOFACE).exists(), "run_pipeline removes its pytmp folder"
    run_script("run_syncnet.py", *common, "--initial_model", syncnet_weights, "--device", "cpu",
               "--write_synced", "--offset", TWOFACE_SYNC_OFFSET,
               "--speaker_threshold", TWOFACE_SPEAKER_THRESHOLD, cwd=data_dir)
    run_script("run_visualise.py", *common, cwd=data_dir)
    return data_dir, faces, pipeline

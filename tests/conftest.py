"""Shared test fixtures: the shared clips and golden files, stand-in weights, and the twoface run.

The shared folder (clips, golden arrays, make_weights.py) is never committed. It is found
through SYNCNET_SHARED, else ../shared beside the checkout. Outside CI a missing shared
folder skips the tests that need it; in CI (CI=true) it fails them, so nothing passes by
being skipped.
"""
import os
import subprocess
import sys

import pytest

from syncnet.runtime import extras

from tests.helpers import (TEST_DEVICE, TWOFACE, TWOFACE_SPEAKER_THRESHOLD, TWOFACE_SYNC_OFFSET, need,
                           run_script)
from tests.helpers import shared_dir as _shared_dir


def pytest_runtest_setup(item):
    """@pytest.mark.extras('ray', ...): skipped only in the core-only run (SYNCNET_CORE_ONLY=1, as
    .ci/run sets it), whose point is that those packages are absent. Anywhere else a missing
    extra fails the test, so nothing passes by being skipped."""
    for mark in item.iter_markers("extras"):
        missing = [name for name in mark.args if not extras.available(name)]
        if missing and os.environ.get("SYNCNET_CORE_ONLY") == "1":
            pytest.skip(f"the core-only run: needs the {', '.join(missing)} extra(s)")


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


@pytest.fixture(scope="session")
def twoface_faces_json(shared_dir):
    """The reference's detections of twoface.mp4 (faces.pckl's format, as JSON)."""
    return need(shared_dir / "fixtures" / "twoface_faces.json")


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


@pytest.fixture(scope="session")
def twoface_run(tmp_path_factory, twoface_faces_json, syncnet_weights, clip):
    """One full run of the three scripts on twoface.mp4 with the reference's detections (--faces).

    It takes about half a minute, so every test module shares it: (data_dir, run_pipeline's result).
    """
    data_dir = tmp_path_factory.mktemp("work")
    video = clip("twoface.mp4")
    common = ["--data_dir", data_dir, "--reference", TWOFACE, "--videofile", video]
    pipeline = run_script("run_pipeline.py", *common, "--faces", twoface_faces_json, "--device", TEST_DEVICE,
                          cwd=data_dir)
    run_script("run_syncnet.py", *common, "--initial_model", syncnet_weights, "--device", TEST_DEVICE,
               "--write_synced", "--offset", TWOFACE_SYNC_OFFSET,
               "--speaker_threshold", TWOFACE_SPEAKER_THRESHOLD, cwd=data_dir)
    run_script("run_visualise.py", *common, cwd=data_dir)
    return data_dir, pipeline

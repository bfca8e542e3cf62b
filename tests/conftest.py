"""Shared test fixtures: where the shared clips and golden files are, and stand-in weights.

The shared folder (clips, golden arrays, make_weights.py) is never committed. It is found
through SYNCNET_SHARED, else ../shared beside the checkout. Outside CI a missing shared
folder skips the tests that need it; in CI (CI=true) it fails them, so nothing passes by
being skipped.
"""
import os
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
    return _stand_in_weights(shared_dir, tmp_path_factory, "syncnet", "syncnet_v2.model")


@pytest.fixture(scope="session")
def s3fd_weights(shared_dir, tmp_path_factory):
    """Deterministic stand-in for sfd_face.pth (seed 99), as the golden files used."""
    return _stand_in_weights(shared_dir, tmp_path_factory, "s3fd", "sfd_face.pth")

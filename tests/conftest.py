"""Shared test fixtures: the shared clips and golden files, stand-in weights, and the twoface run.

The shared folder (clips, golden arrays, make_weights.py) is never committed. It is found
through SYNCNET_SHARED, else ../shared beside the checkout. Outside CI a missing shared
folder skips the tests that need it; in CI (CI=true) it fails them, so nothing passes by
being skipped.
"""
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from syncnet.runtime import extras

from tests.helpers import (TEST_DEVICE, TWOFACE, TWOFACE_SPEAKER_THRESHOLD, TWOFACE_SYNC_OFFSET, need,
                           run_script)
from tests.helpers import shared_dir as _shared_dir


@contextlib.contextmanager
def once_per_run(tmp_path_factory, name):
    """(folder, done): a folder made once per pytest run, even across pytest-xdist's workers.
    The block fills it when `done` is False; another worker waits for that block to end, on a
    lock, and then gets done=True. Without xdist it is simply a fresh folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield tmp_path_factory.mktemp(name), False
        return
    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    folder, marker = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            yield folder, True
            return
        shutil.rmtree(folder, ignore_errors=True)  # a worker's failed attempt
        folder.mkdir()
        yield folder, False
        marker.touch()


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


# The synthetic world's training recipe for `trained_syncnet`: a few minutes of CPU from scratch.
# Half the clips carry MP3-coded audio, as run_pipeline's crops do.
TRAIN_CLIPS, TRAIN_SECONDS, VAL_CLIPS = 24, 4.0, 3
TRAIN_ARGS = {"max_steps": 120, "batch_size": 16, "lr": 5e-4, "max_negative_shift": 15, "val_items": 6,
              "val_every": 40}


def make_synthetic_training_set(root, clips=TRAIN_CLIPS, seconds=TRAIN_SECONDS, val=VAL_CLIPS):
    """In-sync synthetic face clips under root/train and root/val (seeds 1000+ and 2000+, never
    the seeds the truth tests score); every other clip through the MP3 round trip."""
    from syncnet.synthetic import make_face_clip

    for index in range(clips):
        make_face_clip(root / "train" / f"c{index:02d}.avi", seconds=seconds, seed=1000 + index, mp3=index % 2 == 1)
    for index in range(val):
        make_face_clip(root / "val" / f"v{index}.avi", seconds=3.0, seed=2000 + index, mp3=index % 2 == 1)
    return root / "train", root / "val"


@pytest.fixture(scope="session")
def trained_syncnet(tmp_path_factory):
    """syncnet_trained.model of a SyncNet trained from scratch, once per pytest run, by the
    library call behind syncnet-train, on synthetic clips (a few minutes of CPU). Its run folder
    (train.json, metrics.csv, curves.png) is the file's parent."""
    from syncnet.train.checkpoints import MODEL_FILE
    from syncnet.train.dispatch import train
    from syncnet.train.options import TrainOptions

    if os.environ.get("SYNCNET_TEST_TRAINED_MODEL"):  # the inner loop: a model this fixture made before
        return Path(os.environ["SYNCNET_TEST_TRAINED_MODEL"])
    with once_per_run(tmp_path_factory, "trained_syncnet") as (root, done):
        if not done:
            train_dir, val_dir = make_synthetic_training_set(root)
            train([train_dir], root / "run", TrainOptions(**TRAIN_ARGS), val=[val_dir], device="cpu")
    return root / "run" / MODEL_FILE


# Ray on loopback only, with no usage reports and no token prompts.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_ENABLE_AUTO_CONNECT": "0"}


@pytest.fixture(scope="module")
def ray_env():
    """Ray's settings for this module, and a private, short RAY_TMPDIR (unix socket paths are short)."""
    folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    environment = {**RAY_ENV, "RAY_TMPDIR": folder}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        yield environment
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_env):
    """Two raylets of one CPU each: a head node and a worker node. (cluster, node ids, seconds to start)"""
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": 80 << 20,
        "dashboard_agent_listen_port": None, "no_monitor": True, "include_log_monitor": False})
    try:
        worker_node = cluster.add_node(num_cpus=1, object_store_memory=80 << 20)
        cluster.wait_for_nodes()
        yield cluster, {cluster.head_node.node_id, worker_node.node_id}, time.monotonic() - started
    finally:
        cluster.shutdown()

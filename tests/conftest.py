"""Shared test fixtures: the shared clips and golden files, stand-in weights, and the twoface run.

The shared folder (clips, golden arrays, make_weights.py) is never committed. It is found
through SYNCNET_SHARED, else ../shared beside the checkout. Outside CI a missing shared
folder skips the tests that need it; in CI (CI=true) it fails them, so nothing passes by
being skipped.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (TEST_DEVICE, TWOFACE, TWOFACE_SPEAKER_THRESHOLD, TWOFACE_SYNC_OFFSET, need,
                           run_script)
from tests.helpers import shared_dir as _shared_dir


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
              "val_every": 120}


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
    from syncnet.train.loop import train
    from syncnet.train.options import TrainOptions

    root = tmp_path_factory.mktemp("trained_syncnet")
    train_dir, val_dir = make_synthetic_training_set(root)
    result = train([train_dir], root / "run", TrainOptions(**TRAIN_ARGS), val=[val_dir], device="cpu")
    return Path(result.model)

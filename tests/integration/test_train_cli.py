"""syncnet-train as a user runs it: bad input gets one line and a non-zero exit with nothing
lost; an interrupted run keeps its checkpoint and --resume continues it. The interrupted run is a
subprocess, bounded; the others run in this process (run_command)."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from syncnet.synthetic import make_face_clip
from tests.helpers import REPO_ROOT, assert_refused, run_command

pytestmark = pytest.mark.slow
QUICK = ["--batch_size", "2", "--val_share", "0", "--device", "cpu", "--quiet"]


def _train(*args):
    return run_command("syncnet.train", *args, cwd=REPO_ROOT, check=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for index in range(3):
        make_face_clip(folder / f"c{index}.avi", seconds=2.0, seed=400 + index)
    return folder


def test_no_clip(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_refused(_train(tmp_path / "empty", "--out", tmp_path / "run", *QUICK), "no clip found")


def test_every_clip_too_short(tmp_path):
    for index in range(2):
        make_face_clip(tmp_path / "short" / f"s{index}.avi", seconds=0.16, seed=index)
    message = assert_refused(_train(tmp_path / "short", "--out", tmp_path / "run", *QUICK), "no usable training clip")
    assert "2 of 2 skipped" in message and "too short" in message


def test_a_corrupt_clip_among_good_ones_is_skipped_and_counted(clips, tmp_path):
    listing = tmp_path / "clips.txt"
    corrupt = tmp_path / "broken.avi"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    listing.write_text("\n".join([*map(str, sorted(clips.glob("*.avi"))), str(corrupt)]) + "\n")
    result = _train(listing, "--out", tmp_path / "run", "--max_steps", "2", *QUICK)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "broken.avi" in line]
    assert len(lines) == 1 and "skipped" in lines[0] and "Traceback" not in result.stderr
    record = json.loads((tmp_path / "run" / "train.json").read_text())
    assert record["data"]["clips_skipped"] == 1 and record["data"]["train_clips"] == 3 and record["steps"] == 2
    assert "1 skipped" in result.stdout


@pytest.mark.parametrize("content", ["list", "text"])
def test_an_init_that_is_not_a_syncnet_state_dict(clips, tmp_path, content):
    init = tmp_path / "not_syncnet.model"
    if content == "list":
        torch.save([torch.zeros(3)], init)
    else:
        init.write_text("hello")
    assert_refused(_train(clips, "--out", tmp_path / "run", "--init", init, *QUICK), str(init))
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "cache").exists()


def test_an_out_that_cannot_be_written_is_refused_before_training(clips, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    assert_refused(_train(clips, "--out", blocker / "run", *QUICK), "not writable")
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_run_is_refused_and_an_interrupted_run_keeps_its_checkpoint_and_resumes(clips, tmp_path, signum):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "syncnet.train", str(clips), "--out", str(out), "--max_steps",
                              "500", "--val_every", "2", *QUICK], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (out / "checkpoint.pt").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert (out / "checkpoint.pt").exists(), first.communicate(timeout=30)
        assert_refused(_train(clips, "--out", out, "--max_steps", "2", *QUICK), "in use by another run")
        first.send_signal(signum)
        _, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 130 and "Traceback" not in stderr, stderr
    assert "checkpoint is kept" in stderr.strip().splitlines()[-1]
    stopped = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert 2 <= stopped < 500
    assert_refused(_train(clips, "--out", out, "--max_steps", "2", *QUICK), "--resume")  # nothing overwritten
    resumed = _train(clips, "--out", out, "--resume", "--max_steps", stopped + 2, *QUICK)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((out / "train.json").read_text())
    assert record["steps"] == stopped + 2
    steps = [int(line.split(",")[0]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == stopped + 2


@pytest.mark.parametrize("flag", [("--precision", "bf16"), ("--cudnn_benchmark", "on")])
def test_gpu_only_flags_are_refused_on_the_cpu_before_any_decoding(clips, tmp_path, flag):
    message = assert_refused(_train(clips, "--out", tmp_path / "run", *flag, *QUICK),
                             f"{flag[0]} {flag[1]} needs a CUDA device")
    assert not (tmp_path / "run" / "cache").exists(), message

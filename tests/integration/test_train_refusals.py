"""syncnet-train's refusals and records (issue 23): a full disk is named and blames no clip; a run
never reads what it writes; a bad torchrun environment is refused and the rendezvous ends on
its timeout or a signal; --out on object storage, a resume with another recipe or below its
step, --val clips that are training clips, a checkpoint that is not a run's and --engine ray
without its extra are refused before any decoding; a refused run leaves nothing; metrics.csv
and the progress lines come as the steps do.

One real two-step run (module fixture, through the API) serves the tests that need a run
folder; the refusals run in this process (run_command), the waits in bounded subprocesses."""
import contextlib
import filecmp
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from syncnet.errors import InputError
from syncnet.synthetic import make_face_clip
from syncnet.train.checkpoints import CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE, RECORD_FILE, check_resumable
from syncnet.train.data import find_clips
from syncnet.train.dispatch import train
from syncnet.train.options import TrainOptions
from syncnet.train.validation import VAL_FOLDER
from tests.helpers import REPO_ROOT, assert_refused, mounted_tmpfs, run_command, wait_for_line

pytestmark = pytest.mark.timeout(240)
# The fixture run's recipe, as options and as the flags that repeat it on the command line.
RECIPE = {"max_steps": 2, "batch_size": 2, "log_every": 1, "val_every": 2, "val_items": 1}
FLAGS = ["--batch_size", "2", "--log_every", "1", "--val_every", "2", "--val_items", "1", "--device", "cpu",
         "--quiet"]


def _train(*args, cwd=REPO_ROOT):
    return run_command("syncnet.train", *args, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three training clips in data/, one validation clip in held/."""
    root = tmp_path_factory.mktemp("train-data")
    for index in range(3):
        make_face_clip(root / "data" / f"c{index}.avi", seconds=2.0, seed=400 + index)
    make_face_clip(root / "held" / "v0.avi", seconds=2.0, seed=410)
    return root


@pytest.fixture(scope="module")
def finished(data):
    """A finished two-step run whose --out lies inside its data (data/run), trained through the
    API with one path as a string and the options as a dict; what it had written when step 1's
    progress line was logged is kept in `at_step_1`."""
    out = data / "data" / "run"
    at_step_1 = {}

    class Watch(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if message.startswith("step 1 of 2") and not at_step_1:
                metrics = out / METRICS_FILE
                at_step_1["line"] = message
                at_step_1["metrics"] = metrics.read_text() if metrics.exists() else None

    logger, watch = logging.getLogger("syncnet.train"), Watch()
    level = logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.INFO)
    try:
        result = train(str(data / "data"), out, dict(RECIPE), val=str(data / "held"), device="cpu")
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)
    return out, result, at_step_1


def _leaves_nothing(parent, *kept):
    assert sorted(os.listdir(parent)) == sorted(kept), os.listdir(parent)


# --- class 1: a full disk ---------------------------------------------------------------------------------

def test_a_full_disk_while_decoding_is_named_and_blames_no_clip(data, tmp_path):
    with mounted_tmpfs(tmp_path / "full", size="2m") as full:
        result = _train(data / "data", "--out", full / "run", "--val_share", "0", *FLAGS)
        assert_refused(result, "the disk is full", "no clip is to blame")
        assert "skipped" not in result.stderr, result.stderr
        _leaves_nothing(full)  # the refused run removed the folder it had made


def test_a_full_disk_stops_a_resumed_run_with_its_checkpoint_kept(data, finished, tmp_path):
    out, _, _ = finished
    room = (out / CHECKPOINT_FILE).stat().st_size + (1 << 20)
    with mounted_tmpfs(tmp_path / "full", size=str(room)) as full:
        run = full / "run"
        run.mkdir()
        for name in (CHECKPOINT_FILE, RECORD_FILE):
            shutil.copy(out / name, run / name)
        result = _train(data / "data", "--out", run, "--resume", "--max_steps", "3", "--val", data / "held", *FLAGS)
        assert_refused(result, "the disk is full")
        assert "skipped" not in result.stderr, result.stderr
        assert filecmp.cmp(run / CHECKPOINT_FILE, out / CHECKPOINT_FILE, shallow=False)


def test_a_full_disk_while_writing_a_checkpoint_is_named_and_the_last_checkpoint_kept(tmp_path):
    from types import SimpleNamespace

    from syncnet.train.checkpoints import Recorder
    from syncnet.train.full_disk import DiskFullError

    with mounted_tmpfs(tmp_path / "full", size="1m") as full:
        (full / CHECKPOINT_FILE).write_bytes(b"the last complete checkpoint")
        model = torch.nn.Linear(1000, 300)  # 1.2 MB of weights: more than the disk holds
        plan = SimpleNamespace(out=str(full), val_items=[], options=TrainOptions(), init=None)
        with pytest.raises(DiskFullError, match="the last complete checkpoint is kept"):
            Recorder(plan, [], None).checkpoint(model, torch.optim.Adam(model.parameters()), 3)
        assert (full / CHECKPOINT_FILE).read_bytes() == b"the last complete checkpoint"
        assert sorted(os.listdir(full)) == [CHECKPOINT_FILE]  # no partial file left


# --- class 2: a run never reads what it writes ---------------------------------------------------------

def test_a_run_inside_its_data_never_reads_what_it_wrote(data, finished):
    out, result, _ = finished
    written = sorted((out / VAL_FOLDER).glob("*.mkv"))
    assert written, "the fixture run made no validation video"
    clips = find_clips([data / "data"], exclude=str(out))
    assert clips == [str(data / "data" / f"c{index}.avi") for index in range(3)]
    assert result.counts["train_clips"] == 3
    listing = data / "listing.txt"
    listing.write_text(f"{data / 'data' / 'c0.avi'}\n{written[0]}\n")
    assert find_clips([listing], exclude=str(out)) == [str(data / "data" / "c0.avi")]


# --- class 3: the rendezvous of torchrun's processes ---------------------------------------------------

@pytest.mark.parametrize("environment, words", [
    ({"RANK": "2", "WORLD_SIZE": "2"}, ["RANK=2 is not below WORLD_SIZE=2"]),
    ({"RANK": "0", "WORLD_SIZE": "two"}, ["WORLD_SIZE='two' is not a whole number"]),
    ({"RANK": "-1", "WORLD_SIZE": "2"}, ["RANK=-1 is below 0"]),
    ({"RANK": "0", "WORLD_SIZE": "2"}, ["MASTER_ADDR and MASTER_PORT"]),
    ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "99999"}, ["MASTER_PORT='99999'"]),
    ({"SYNCNET_RENDEZVOUS_TIMEOUT": "soon"}, ["SYNCNET_RENDEZVOUS_TIMEOUT='soon'"]),
])
def test_a_bad_torchrun_environment_is_refused_before_anything(data, tmp_path, monkeypatch, environment, words):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert_refused(_train(data / "data", "--out", tmp_path / "run", *FLAGS), *words)
    _leaves_nothing(tmp_path)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _rank(data, out, rank, timeout_s):
    """syncnet-train as rank `rank` of two, the other never started; killed if still running after the block."""
    environment = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": "0",
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
                   "SYNCNET_RENDEZVOUS_TIMEOUT": str(timeout_s)}
    process = subprocess.Popen([sys.executable, "-m", "syncnet.train", str(data / "data"), "--out", str(out),
                                "--batch_size", "2", "--device", "cpu"], cwd=REPO_ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_process_whose_partners_never_come_gives_up_on_the_rendezvous_timeout(data, tmp_path):
    started = time.time()
    with _rank(data, tmp_path / "run", 1, 2) as process:
        _, stderr = process.communicate(timeout=90)
    assert process.returncode == 1 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert "did not meet" in last and "SYNCNET_RENDEZVOUS_TIMEOUT" in last, stderr
    assert time.time() - started < 60
    _leaves_nothing(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_wait_for_the_other_processes(data, tmp_path, signum):
    with _rank(data, tmp_path / "run", 0, 600) as process:
        wait_for_line(process.stderr, "waiting up to 600 s", timeout=60)
        signalled = time.time()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert time.time() - signalled < 15
    _leaves_nothing(tmp_path)  # rank 0 had made --out and its lock: both gone


# --- class 4: silent nonsense ----------------------------------------------------------------------------

def test_an_out_on_object_storage_is_refused_and_no_local_folder_made(data, tmp_path):
    assert_refused(_train(data / "data", "--out", "s3://bucket/runs/a", *FLAGS, cwd=tmp_path), "s3://bucket/runs/a",
                   "object storage")
    _leaves_nothing(tmp_path)


@pytest.mark.parametrize("change, named", [(["--lr", "0.001"], "--lr 0.0003"), (["--seed", "5"], "--seed 0"),
                                           (["--loss", "bce"], "--loss contrastive"), (["--init"], "--init (none)")])
def test_a_resume_with_another_recipe_is_refused_naming_what_differs(data, finished, change, named):
    out, _, _ = finished
    if change == ["--init"]:
        change = ["--init", out / MODEL_FILE]
    before = (out / CHECKPOINT_FILE).stat().st_mtime_ns
    message = assert_refused(_train(data / "data", "--out", out, "--resume", "--max_steps", "4", "--val", data / "held",
                                    *change, *FLAGS), named)
    assert "only --max_steps may grow" in message
    assert (out / CHECKPOINT_FILE).stat().st_mtime_ns == before


def test_only_max_steps_may_change_and_only_upwards(finished):
    out, _, _ = finished
    check_resumable(str(out), TrainOptions(**{**RECIPE, "max_steps": 50, "workers": 2}), None)
    with pytest.raises(InputError, match="at step 2, beyond --max_steps 1: give --max_steps 2 or more"):
        check_resumable(str(out), TrainOptions(**{**RECIPE, "max_steps": 1}), None)


def test_resuming_a_finished_run_below_its_step_is_refused(data, finished):
    out, _, _ = finished
    assert_refused(_train(data / "data", "--out", out, "--resume", "--max_steps", "1", "--val", data / "held", *FLAGS),
                   "at step 2, beyond --max_steps 1")


def test_validation_clips_that_are_training_clips_are_refused(data, tmp_path):
    assert_refused(_train(data / "data", "--out", tmp_path / "run", "--val", data / "data" / "c1.avi", *FLAGS),
                   "1 of 1 validation clips are also training clips", "c1.avi")
    _leaves_nothing(tmp_path)


def test_the_api_takes_one_path_as_a_path_and_refuses_bad_options_at_once(data, finished, tmp_path):
    _, result, _ = finished
    assert result.steps == 2 and result.counts["train_clips"] == 3 and result.counts["val_clips"] == 1
    with pytest.raises(InputError, match="lr_rate is not a training option"):
        train(str(data / "data"), tmp_path / "run", {"lr_rate": 0.1})
    with pytest.raises(InputError, match="expected TrainOptions or a dict"):
        train(str(data / "data"), tmp_path / "run", 0.1)
    with pytest.raises(InputError, match="--lr"):
        train(str(data / "data"), tmp_path / "run", {"lr": -1})
    _leaves_nothing(tmp_path)


# --- class 5: late or unclear errors --------------------------------------------------------------------

@pytest.mark.parametrize("content", ["model", "dict"])
def test_a_checkpoint_that_is_not_a_runs_is_refused(data, finished, tmp_path, content):
    out, _, _ = finished
    run = tmp_path / "run"
    run.mkdir()
    if content == "model":  # loadable, but a model's weights
        os.symlink(out / MODEL_FILE, run / CHECKPOINT_FILE)
    else:
        torch.save({"step": 3}, run / CHECKPOINT_FILE)
    assert_refused(_train(data / "data", "--out", run, "--resume", *FLAGS), "is not a syncnet-train checkpoint")
    _leaves_nothing(run, CHECKPOINT_FILE)


def test_engine_ray_without_its_extra_is_refused_before_decoding(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed: its import fails
    result = _train(data / "data", "--out", tmp_path / "run", "--engine", "ray", *FLAGS[:-1])
    assert_refused(result, "ray")
    assert "decoding" not in result.stderr, result.stderr
    _leaves_nothing(tmp_path)


# --- class 7: leftovers -----------------------------------------------------------------------------------

def test_a_refused_run_leaves_nothing_and_a_run_keeps_its_lock_inside(data, finished, tmp_path):
    out, _, _ = finished
    (tmp_path / "empty").mkdir()
    assert_refused(_train(tmp_path / "empty", "--out", tmp_path / "new" / "run", *FLAGS), "no clip found")
    _leaves_nothing(tmp_path, "empty")
    (tmp_path / "mine").mkdir()
    assert_refused(_train(data / "data", "--out", tmp_path / "mine", "--resume", *FLAGS), "holds no checkpoint.pt")
    _leaves_nothing(tmp_path, "empty", "mine")
    _leaves_nothing(tmp_path / "mine")
    assert (out / ".lock").is_file() and not (out.parent / f".{out.name}.lock").exists()


# --- friction: progress on a file, metrics.csv as the rows come ------------------------------------------

def test_progress_lines_and_metrics_rows_come_as_the_steps_do(finished):
    out, _, at_step_1 = finished
    assert at_step_1["line"].startswith("step 1 of 2: loss ")
    assert at_step_1["metrics"] is not None and at_step_1["metrics"].splitlines()[1].startswith("1,")
    rows = (out / METRICS_FILE).read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["1", "2"]

"""Results that can be trusted and work that is never lost, where it takes a real process, a real
lock holder, a real S3 server (moto's, on 127.0.0.1), a read-only mount or real clips: --compare
of a NaN row, object keys, a quiet API, outputs checked before the first video, and a shared
scratch folder (issue 19). (The cases that run in this process: unit/test_trust.py.)"""
import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from syncnet.batch import driver
from syncnet.batch.state import video_key
from syncnet.errors import InputError
from syncnet.io import storage
from tests.helpers import REPO_ROOT, assert_refused, evaluation, make_clip, mounted_tmpfs, run_command, with_cell


def command(module, *args, cwd, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})


# ------------------------------------------------------------------ 2 and 4: --compare of a NaN row, in a real process


def test_compare_of_a_nan_row_is_one_line_in_a_real_process(tmp_path):
    """The issue's case: it printed `+nan [+nan, +nan]`, exited 0 and wrote bare NaN."""
    good = evaluation(tmp_path / "a")
    bad = evaluation(tmp_path / "b", rows=with_cell("lse_c", "NaN"))
    result = command("syncnet.eval", "--compare", good, bad, "--out", tmp_path / "cmp", cwd=tmp_path)
    assert_refused(result, str(bad / "per_video.csv"), "line 2", "lse_c 'NaN' is not a finite number")
    assert "nan" not in result.stdout.lower()
    assert not (tmp_path / "cmp" / "compare.json").exists()


# ------------------------------------------------------------------ 5: object keys on a real S3 server


@pytest.fixture
def s3_server(monkeypatch):
    """A real S3 server (moto's) on 127.0.0.1 with a bucket `videos`; (client, environment)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        environment = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        storage._client.cache_clear()
        client = boto3.client("s3", endpoint_url=environment["AWS_ENDPOINT_URL"])
        client.create_bucket(Bucket="videos")
        yield client, environment
    finally:
        storage._client.cache_clear()
        server.stop()


@pytest.mark.extras("s3")
@pytest.mark.parametrize("key", ["in/../clip.mp4", "a/./b.mp4", "a//b.mp4", "x/..", "..hidden/.."])
def test_object_keys_are_used_exactly_as_written(key, s3_server, tmp_path):
    """S3 allows '.', '..' and empty segments; a path library resolves them to another key."""
    client, _ = s3_server
    client.put_object(Bucket="videos", Key=key, Body=b"abc")
    uri = f"s3://videos/{key}"
    assert storage.stat(uri)[0] == 3
    assert storage.read_bytes(uri) == b"abc"
    assert Path(storage.download(uri, tmp_path / "copy")).read_bytes() == b"abc"
    assert uri in storage.list_files("s3://videos/")
    storage.write_bytes(uri, b"defg")
    assert client.get_object(Bucket="videos", Key=key)["Body"].read() == b"defg"
    storage.remove(uri)
    assert storage.stat(uri) == (None, None)


@pytest.mark.extras("s3")
@pytest.mark.parametrize("uri", ["s3://videos", "s3://videos/", "s3://videos/in/"])
def test_a_bucket_or_prefix_where_an_object_is_needed_is_one_line(uri, s3_server, tmp_path):
    for operation in (storage.stat, storage.read_bytes, lambda u: storage.write_bytes(u, b"x"), storage.remove,
                      lambda u: storage.download(u, tmp_path / "x")):
        with pytest.raises(InputError, match="names a bucket or a prefix, not an object"):
            operation(uri)
    assert video_key(uri) == (uri, None, None)  # a list file's line: recorded as failed


# ------------------------------------------------------------------ 6: a quiet API prints nothing


QUIET_SCRIPT = """
import os, sys
from syncnet import score_video
path, weights = sys.argv[1], sys.argv[2]
if sys.argv[3] == "bytes":
    path, weights = os.fsencode(path), os.fsencode(weights)
result = score_video(path, syncnet_model=weights, device="cpu", faces=[[] for _ in range(52)], quiet=True)
print(len(result.tracks), result.n_frames)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_score_video_quiet_prints_nothing_and_takes_bytes_paths(kind, tmp_path, syncnet_weights):
    clip = make_clip(tmp_path / "noface.mp4", seconds=2)
    result = subprocess.run([sys.executable, "-c", QUIET_SCRIPT, str(clip), str(syncnet_weights), kind],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "52"]
    assert result.stderr == "", "quiet=True writes nothing on stderr"


# ------------------------------------------------------------------ 7: outputs checked before the first video


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=2)


def _batch(*args, cwd, weights):
    syncnet_model, s3fd_model = weights
    return run_command("syncnet.batch", *args, "--initial_model", syncnet_model, "--s3fd_model", s3fd_model,
                       "--device", "cpu", "--workers", "1", cwd=cwd, check=False)


@pytest.mark.extras("s3")
@pytest.mark.slow
def test_an_unwritable_output_is_refused_before_the_first_video(small_clip, tmp_path, s3_server, syncnet_weights,
                                                                 s3fd_weights):
    weights = (syncnet_weights, s3fd_weights)  # s3_server has set the environment to reach it
    missing = _batch(small_clip, "--data_dir", "s3://missing-bucket/runs", cwd=tmp_path, weights=weights)
    assert_refused(missing, "--data_dir s3://missing-bucket/runs", "cannot write there", "NoSuchBucket")
    assert "started" not in missing.stderr, "no video ran"

    with mounted_tmpfs(tmp_path / "read-only", read_only=True) as read_only:
        curate = _batch(small_clip, "--data_dir", tmp_path / "work", "--curate", read_only / "kept", cwd=tmp_path,
                        weights=weights)
        assert_refused(curate, f"--curate {read_only / 'kept'}", "cannot write there")
        assert "started" not in curate.stderr and not (tmp_path / "work" / "batch_state.jsonl").exists()
        evaluate = run_command("syncnet.eval", small_clip, "--protocol", "wav2lip-lrs", "--out", read_only / "eval",
                               "--initial_model", syncnet_weights, "--device", "cpu", cwd=tmp_path, check=False)
        assert_refused(evaluate, f"--out {read_only / 'eval'}", "cannot write there")
        compare = run_command("syncnet.eval", "--compare", evaluation(tmp_path / "a"), tmp_path / "a", "--out",
                              read_only / "cmp", cwd=tmp_path, check=False)
        assert_refused(compare, f"--out {read_only / 'cmp'}", "cannot write there")


@pytest.mark.extras("s3")
@pytest.mark.slow
def test_object_storage_inputs_a_bucket_line_fails_its_row_and_dotted_keys_compare(tmp_path, s3_server,
                                                                                  syncnet_weights, s3fd_weights):
    client, _ = s3_server
    listing = tmp_path / "inputs.txt"
    listing.write_text("s3://videos/\ns3://videos/in/\n")
    result = _batch(listing, "--data_dir", tmp_path / "work", cwd=tmp_path, weights=(syncnet_weights, s3fd_weights))
    assert result.returncode == driver.EXIT_SOME_FAILED, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    with open(tmp_path / "work" / "summary.csv", newline="") as handle:
        errors = [row["error"] for row in csv.DictReader(handle)]
    assert errors and all("names a bucket or a prefix, not an object" in error for error in errors), errors

    for side in ("a", "b"):
        folder = evaluation(tmp_path / side)
        for name in ("dataset.json", "per_video.csv"):
            client.upload_file(str(folder / name), "videos", f"runs/../eval-{side}/{name}")
    compared = run_command("syncnet.eval", "--compare", "s3://videos/runs/../eval-a", "s3://videos/runs/../eval-b",
                           cwd=tmp_path, check=False)
    assert compared.returncode == 0, compared.stderr
    assert "n=2 paired" in compared.stdout


# ------------------------------------------------------------------ 1 and 8: a shared scratch folder


HOLDER = """
import os, sys, time
from syncnet.batch.worker import worker_scratch

class Config:
    scratch_dir = sys.argv[1]

mine = worker_scratch(Config)
moved = os.path.join(sys.argv[1], sys.argv[2])  # as another machine's worker names its folder
os.rename(mine, moved)
with open(os.path.join(moved, "live-work"), "w") as handle:
    handle.write("being written")
print("ready", flush=True)
time.sleep(600)
"""


def _scratch_holder(scratch, name):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(scratch), name], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert holder.stdout.readline().strip() == "ready"
    return holder


@pytest.mark.slow
def test_a_shared_scratch_keeps_live_work_of_other_machines_and_a_normal_end_leaves_nothing(small_clip, tmp_path,
                                                                                         syncnet_weights):
    """Another machine's live worker (its PID not running here) keeps its folder; a dead worker's
    folder (its PID running here) is cleared; a folder not proven dead, and a user's, stay; the
    run's own folder is gone at its normal end (local engine, whole-frame protocol)."""
    from syncnet.io.layout import make_owned_dir

    scratch = tmp_path / "shared-scratch"
    scratch.mkdir()
    live_name, dead_name = "syncnet-worker-othermachine-4000000", f"syncnet-worker-othermachine-{os.getpid()}"
    live = _scratch_holder(scratch, live_name)
    dead = _scratch_holder(scratch, dead_name)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        make_owned_dir(scratch / "syncnet-worker-4000001")       # no lock file: not proven dead
        (scratch / "syncnet-worker-notes").mkdir()                # the user's, unmarked
        result = command("syncnet.eval", small_clip, "--protocol", "wav2lip-lrs", "--out", tmp_path / "eval",
                         "--initial_model", syncnet_weights, "--device", "cpu", "--workers", "1", "--scratch_dir",
                         scratch, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (scratch / live_name / "live-work").read_text() == "being written", "live work was deleted"
        assert sorted(p.name for p in scratch.iterdir()) == sorted(
            [live_name, "syncnet-worker-4000001", "syncnet-worker-notes"])
    finally:
        live.kill()
        live.wait(timeout=30)

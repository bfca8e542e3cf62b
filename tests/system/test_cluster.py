"""syncnet-batch --engine ray on a real two-node Ray cluster on this machine, and an object-storage
round trip against a real S3 server (moto's server mode) on 127.0.0.1.

Every Ray address stays on loopback: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes Ray bind each
node to 127.0.0.1. Each test is bounded in time, and every cluster and server is shut down in a
`finally`.
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from tests.helpers import REPO_ROOT, assert_shifted_exactly, decoded_audio, make_clip, need, run_command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900, method="signal"), pytest.mark.extras("ray", "s3")]

FACES = ["--facedet_conf", "0.5", "--min_face_size", "10", "--min_track", "25"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_dir):
    """Two faces on a still frame, one face (for curation), no face track, and a corrupt file; the
    audio is PCM noise, so a curated copy can be checked to the sample."""
    from syncnet.io.media import run_ffmpeg

    folder = tmp_path_factory.mktemp("cluster_clips")
    still = need(shared_dir / "fixtures" / "frames" / "twoface_200.png")
    # Noise, not a tone: a shifted copy must be told apart from the original at every lag.
    tone = ["-f", "lavfi", "-i", "anoisesrc=duration=2.4:color=pink:sample_rate=16000:amplitude=0.3:seed=5"]
    for name, crop in (("faces.mkv", []), ("one_face.mkv", ["-vf", "crop=iw/2:ih:0:0"])):
        run_ffmpeg(["-loop", "1", "-framerate", "25", "-t", "2.4", "-i", str(still), *tone, *crop, "-c:v", "mpeg4",
                    "-q:v", "2", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", str(folder / name)], f"make {name}")
    # The stand-in S3FD finds boxes even in a test pattern at --facedet_conf 0.5: a clip shorter
    # than --min_track 25 is the one that has no face track.
    make_clip(folder / "noface.mp4", seconds=0.8)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(3).bytes(20000))
    return folder


def batch(inputs, data_dir, weights, *extra, environment=None, background=False):
    syncnet_model, s3fd_model = weights
    command = [sys.executable, "-m", "syncnet.batch", *map(str, inputs), "--data_dir", str(data_dir),
               "--initial_model", str(syncnet_model), "--s3fd_model", str(s3fd_model), "--device", "cpu",
               *FACES, *map(str, extra)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **(environment or {}))
    if background:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def rows(data_dir):
    with open(data_dir / "summary.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def records(data_dir):
    return [json.loads(line) for line in (data_dir / "batch_state.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def weights(syncnet_weights, s3fd_weights):
    return syncnet_weights, s3fd_weights


@pytest.fixture(scope="module")
def local_run(clips, weights, tmp_path_factory):
    """The local engine's run, 2 workers of 1 thread each (as the cluster's 2 actors of 1 CPU)."""
    folder = tmp_path_factory.mktemp("local")
    result = batch([clips], folder / "work", weights, "--workers", "2", "--curate", folder / "kept",
                   "--min_conf", "0.001", "--max_offset", "15", "--scratch_dir", folder / "scratch")
    assert result.returncode == 3, result.stderr  # the corrupt file fails
    return folder


def assert_no_worker_scratch(scratch):
    """A batch's normal end leaves no worker scratch folder behind (nor a hidden one)."""
    assert not [path.name for path in scratch.iterdir() if "syncnet-worker-" in path.name], list(scratch.iterdir())


def test_two_node_cluster_gives_the_local_rows_and_both_nodes_work(cluster, clips, weights, local_run, tmp_path):
    the_cluster, node_ids, start_seconds = cluster
    started = time.monotonic()
    result = batch([clips], tmp_path / "work", weights, "--engine", "ray", "--ray_address", the_cluster.address,
                   "--workers", "2", "--curate", tmp_path / "kept", "--min_conf", "0.001", "--max_offset", "15",
                   "--scratch_dir", tmp_path / "scratch")
    seconds = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    ours, theirs = rows(tmp_path / "work"), rows(local_run / "work")
    assert len(ours) == len(theirs) >= 4 + 2, "a row per video and per track"
    assert ours == theirs, "the same rows, numbers equal"
    kinds = {row["video"].rsplit("/", 1)[1]: row for row in ours if row["kind"] == "video"}
    assert kinds["corrupt.mp4"]["status"] == "failed" and int(kinds["faces.mkv"]["n_tracks"]) >= 1
    worked = {record["worker"]["node"] for record in records(tmp_path / "work") if record["worker"]}
    assert worked == node_ids, "both nodes did work"
    assert_no_worker_scratch(tmp_path / "scratch")  # Ray actors
    assert_no_worker_scratch(local_run / "scratch")  # the local engine's worker processes, curating

    manifest = (tmp_path / "kept" / "manifest.csv").read_text().replace(str(tmp_path / "kept"), "OUT")
    assert manifest == (local_run / "kept" / "manifest.csv").read_text().replace(str(local_run / "kept"), "OUT")
    print(f"\ncluster start {start_seconds:.1f} s, ray batch of 4 clips {seconds:.1f} s")

    again = batch([clips], tmp_path / "work", weights, "--engine", "ray", "--ray_address", the_cluster.address,
                  "--workers", "2", "--curate", tmp_path / "kept", "--min_conf", "0.001", "--max_offset", "15")
    assert "4 video(s): 0 run, 4 skipped as done before; 1 of 4 failed, in an earlier run" in again.stdout, \
        again.stderr


def test_a_worker_killed_mid_video_is_retried_and_every_video_has_one_row(cluster, clips, weights, tmp_path):
    the_cluster, _, _ = cluster
    scratch = tmp_path / "scratch"
    process = batch([clips], tmp_path / "work", weights, "--engine", "ray", "--ray_address", the_cluster.address,
                    "--workers", "2", "--scratch_dir", scratch, background=True)
    try:
        deadline, victim = time.time() + 300, None
        while victim is None and time.time() < deadline and process.poll() is None:
            building = glob_staging(scratch)
            if building:
                victim = building[0]
            time.sleep(0.05)
        assert victim is not None, "no worker started a video"
        pid, reference = victim
        os.kill(pid, signal.SIGKILL)
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 3 and "Traceback" not in stderr, stderr
    done = records(tmp_path / "work")
    assert sorted(record["video"].rsplit("/", 1)[1] for record in done) == \
        ["corrupt.mp4", "faces.mkv", "noface.mp4", "one_face.mkv"], "every video exactly once"
    (killed,) = [record for record in done if record["reference"] == reference]
    assert killed["status"] == "ok" and killed["attempt"] == 2 and killed["worker"]["pid"] != pid
    assert len(rows(tmp_path / "work")) == len({row["video"] for row in rows(tmp_path / "work")}) + \
        sum(len(record["tracks"]) for record in done)
    assert_no_worker_scratch(scratch)  # the killed actor's folder too: its replacement cleared it


def glob_staging(scratch):
    """(worker pid, reference) of each video a worker is building: its staging folders."""
    found = []
    for path in scratch.glob("syncnet-worker-*/work/pyframes/.*.staging"):
        match = re.match(r"\.(.+)\.[0-9a-f]{12}\.staging$", path.name)
        found.append((int(path.parts[-4].rsplit("-", 1)[1]), match.group(1)))
    return found


# ------------------------------------------------------------------ object storage


@pytest.fixture
def s3_server():
    """A real S3 server (moto's) on 127.0.0.1, with a bucket; its endpoint as environment variables."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1"
        environment = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        client = boto3.client("s3", endpoint_url=environment["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket="videos")
        yield client, environment
    finally:
        server.stop()


def test_object_storage_round_trip_on_a_private_ray_runtime(s3_server, ray_env, clips, weights, tmp_path):
    client, environment = s3_server
    for name in ("faces.mkv", "noface.mp4"):
        client.upload_file(str(clips / name), "videos", f"in/{name}")
    inputs, data_dir = ["s3://videos/in/"], "s3://videos/runs"
    curate = ["--keep", "pywork", "--curate", "s3://videos/kept", "--min_conf", "0.001", "--max_offset", "15"]
    result = batch(inputs, data_dir, weights, "--engine", "ray", "--workers", "2", *curate, "--scratch_dir",
                   tmp_path / "scratch", environment=environment)
    assert result.returncode == 0, result.stderr
    assert_no_worker_scratch(tmp_path / "scratch")
    keys = {item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="videos")
            for item in page.get("Contents", [])}
    for name in ("summary.csv", "summary.json", "summary.parquet"):
        assert f"runs/{name}" in keys
    assert any(key.startswith("runs/pywork/faces-") and key.endswith("/offsets.json") for key in keys)
    assert not any(key.startswith(("runs/pyframes/", "runs/pyavi/")) for key in keys), "--keep pywork"
    assert "kept/manifest.parquet" in keys and "kept/manifest.csv" in keys

    import io

    import pyarrow.parquet as pq

    body = client.get_object(Bucket="videos", Key="runs/summary.parquet")["Body"].read()
    table = pq.read_table(io.BytesIO(body)).to_pylist()
    videos = [row for row in table if row["kind"] == "video"]
    assert sorted(row["video"] for row in videos) == ["s3://videos/in/faces.mkv", "s3://videos/in/noface.mp4"]
    assert all(row["status"] == "ok" for row in videos)
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    assert not [line for line in processes if "raylet" in line and ray_env["RAY_TMPDIR"] in line], \
        "the private runtime was stopped"

    again = batch(inputs, data_dir, weights, "--engine", "local", "--workers", "1", *curate, environment=environment)
    assert "2 video(s): 0 run, 2 skipped as done before; none failed" in again.stdout, \
        "ETag and size recognise a done object"
    client.upload_file(str(clips / "one_face.mkv"), "videos", "in/noface.mp4")  # the object changes
    changed = batch(inputs, data_dir, weights, "--engine", "local", "--workers", "1", *curate,
                    environment=environment)
    assert "2 video(s): 1 run, 1 skipped as done before; none failed" in changed.stdout, changed.stderr


# ------------------------------------------------------------------ curation


def test_curation_keeps_a_confident_clip_and_moves_its_audio_exactly(clips, weights, tmp_path):
    """One face track, from detections given to an earlier run_pipeline (--faces), taken up by
    the batch's --reuse_faces: the manifest keeps it at that track's offset, and the copy's
    audio is the original's moved by exactly offset x 640 samples."""
    from syncnet.io.layout import reference_for

    video, work = clips / "one_face.mkv", tmp_path / "work"
    reference = reference_for(video)
    common = ["--videofile", video, "--data_dir", work, "--reference", reference, "--s3fd_model", weights[1]]
    run_command("run_pipeline.py", *common, cwd=tmp_path)
    n_frames = len(list((work / "pyframes" / reference).glob("*.jpg")))
    faces = tmp_path / "faces.json"
    faces.write_text(json.dumps([[{"frame": f, "bbox": [200, 150, 420, 400], "conf": 0.99}] for f in range(n_frames)]))
    run_command("run_pipeline.py", *common, "--faces", faces, "--min_track", "25", cwd=tmp_path)

    result = batch([video, clips / "noface.mp4"], work, weights, "--reuse_faces", "--curate", tmp_path / "kept",
                   "--min_conf", "0.001", "--max_offset", "15")
    assert result.returncode == 0, result.stderr
    (record,) = [r for r in records(work) if r["reference"] == reference]
    (track,) = record["tracks"]
    manifest = {os.path.basename(row["video"]): row
                for row in csv.DictReader(open(tmp_path / "kept" / "manifest.csv", newline=""))}
    kept = manifest["one_face.mkv"]
    assert (kept["decision"], int(kept["offset"])) == ("kept", track["offset"])
    assert kept["output"] == str(tmp_path / "kept" / f"{reference}.mkv")
    _, original = decoded_audio(video, tmp_path)
    _, shifted = decoded_audio(type(video)(kept["output"]), tmp_path)
    assert_shifted_exactly(original, shifted, track["offset"] * 640)
    assert (manifest["noface.mp4"]["decision"], manifest["noface.mp4"]["reason"]) == ("rejected", "no face track")

    # The same clip again into the same folder, now with options that reject it: its earlier copy
    # goes, and the folder holds exactly the clips the manifest keeps.
    stricter = ["--min_conf", "1e9"] if track["offset"] == 0 else \
        ["--min_conf", "0.001", "--max_offset", abs(track["offset"]) - 1]
    rerun = batch([video], work, weights, "--reuse_faces", "--curate", tmp_path / "kept", *stricter)
    assert rerun.returncode == 0, rerun.stderr
    (row,) = csv.DictReader(open(tmp_path / "kept" / "manifest.csv", newline=""))
    assert row["decision"] == "rejected", row
    assert sorted(path.name for path in (tmp_path / "kept").iterdir()) == ["manifest.csv", "manifest.parquet"]


def test_rays_token_advice_does_not_reach_the_user(tmp_path):
    """With RAY_AUTH_MODE unset, Ray logs advice on token authentication as it starts: a batch's
    user does not see it (Ray still chooses the mode)."""
    environment = {name: value for name, value in os.environ.items() if name != "RAY_AUTH_MODE"}
    folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    environment.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_TMPDIR=folder,
                       HOME=str(tmp_path))
    code = ("import ray\n"
            "from syncnet.options import RayOptions\nfrom syncnet.runtime.ray_cluster import connect\n"
            "from syncnet.runtime.logs import setup_logging\n"
            "setup_logging('syncnet-batch')\n"
            "try:\n"
            "    connect(RayOptions(num_cpus=1), quiet=False)\n"
            "finally:\n"
            "    ray.shutdown()\n")
    try:
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=environment, capture_output=True,
                                text=True, timeout=180)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "authentication" not in result.stderr.lower(), result.stderr

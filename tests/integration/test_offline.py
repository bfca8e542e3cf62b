"""Offline, with saved detections: syncnet-batch and syncnet-eval take --faces DIR (one file per
video, named after it) and run without any face detector's weights. The synthetic scene clip's
truth is two faces in every frame, so every scored video must give two tracks spanning it."""
import csv

import pytest

from syncnet.synthetic import make_scene_clip
from tests.helpers import assert_refused, make_clip, run_command

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """clips/scene.mp4 (two faces, 1.6 s) with its true boxes in faces/scene.json (the source's 40
    frames, as write_faces writes them), and clips/pattern.mp4 with no detections file."""
    root = tmp_path_factory.mktemp("offline")
    truth = make_scene_clip(root / "clips" / "scene.mp4", seconds=1.6, seed=41, speaker=0, size=(480, 270))
    (root / "faces").mkdir()
    truth.write_faces(root / "faces" / "scene.json")
    make_clip(root / "clips" / "pattern.mp4", seconds=1.0)
    return root


def common(root, weights):
    """No S3FD weights exist: the runs must not need them."""
    return ["--faces", root / "faces", "--initial_model", weights, "--s3fd_model", root / "absent_sfd_face.pth",
            "--min_track", "25", "--device", "cpu", "--quiet"]


def test_batch_takes_saved_detections_without_a_detector(offline, syncnet_weights, tmp_path):
    result = run_command("syncnet.batch", offline / "clips", "--data_dir", tmp_path / "runs",
                         "--workers", "1", *common(offline, syncnet_weights), cwd=tmp_path, check=False)
    assert result.returncode == 3, result.stderr  # pattern.mp4 has no detections file: it fails alone
    rows = list(csv.DictReader(open(tmp_path / "runs" / "summary.csv", newline="")))
    videos = {row["video"].rsplit("/", 1)[-1]: row for row in rows if row["kind"] == "video"}
    assert videos["scene.mp4"]["status"] == "ok", videos["scene.mp4"]
    assert "no detections for it" in videos["pattern.mp4"]["error"] and "pattern.json" in videos["pattern.mp4"]["error"]
    tracks = [row for row in rows if row["kind"] == "track"]
    assert len(tracks) == 2
    # Both faces are in every frame; a track ends with its scene, which ends where scenedetect
    # says (frame 40 of the 42 pyframes: SPEC.md, run_pipeline step 4).
    assert {(row["start_frame"], row["end_frame"]) for row in tracks} == {("0", "39")}


@pytest.mark.slow
def test_eval_takes_saved_detections_without_a_detector(offline, syncnet_weights, tmp_path):
    result = run_command("syncnet.eval", offline / "clips" / "scene.mp4", "--protocol", "mocha", "--out",
                         tmp_path / "eval", *common(offline, syncnet_weights), cwd=tmp_path)
    assert "n=1" in result.stdout.splitlines()[-1], result.stdout
    tracks = list(csv.DictReader(open(tmp_path / "eval" / "per_track.csv", newline="")))
    assert len(tracks) == 2, tracks


@pytest.mark.parametrize("command, extra, words", [
    ("syncnet.batch", ["--reuse_faces"], ["--faces and --reuse_faces"]),
    ("syncnet.eval", ["--protocol", "wav2lip-lrs", "--out", "ev"], ["--faces", "whole frames"]),
])
def test_faces_refused_where_it_cannot_apply(offline, syncnet_weights, tmp_path, command, extra, words):
    extra = extra if command == "syncnet.eval" else ["--data_dir", tmp_path / "runs", *extra]
    result = run_command(command, offline / "clips" / "scene.mp4", *extra, *common(offline, syncnet_weights),
                         cwd=tmp_path, check=False)
    assert_refused(result, *words)


def test_batch_faces_folder_and_names_checked_before_any_video(offline, syncnet_weights, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "scene.mp4").write_bytes((offline / "clips" / "scene.mp4").read_bytes())
    args = ["--data_dir", tmp_path / "runs", *common(offline, syncnet_weights)]
    twins = run_command("syncnet.batch", offline / "clips" / "scene.mp4", tmp_path / "other" / "scene.mp4", *args,
                        cwd=tmp_path, check=False)
    assert_refused(twins, "would both take their detections from scene.json")
    args[args.index("--faces") + 1] = tmp_path / "no_such_folder"
    missing = run_command("syncnet.batch", offline / "clips" / "scene.mp4", *args, cwd=tmp_path, check=False)
    assert_refused(missing, "--faces", "no such folder")
    assert not (tmp_path / "runs" / "pyavi").exists()

"""run_pipeline.py --reuse_faces, run_syncnet.py and run_visualise.py on twoface.mp4, against the reference."""
import glob
import json
import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest

from syncnet.cropping import crop_face
from syncnet.frames import read_video
from syncnet.scoring import summarise
from tests.conftest import REPO_ROOT

REFERENCE = "twoface"


def run_script(script, *args, cwd):
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), *map(str, args)],
                            cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def twoface_run(tmp_path_factory, shared_dir, syncnet_weights, clip):
    """One full run with the reference's detections fed through --reuse_faces."""
    data_dir = tmp_path_factory.mktemp("work")
    faces = json.loads((shared_dir / "fixtures" / "twoface_faces.json").read_text())
    work = data_dir / "pywork" / REFERENCE
    work.mkdir(parents=True)
    with open(work / "faces.pckl", "wb") as handle:
        pickle.dump(faces, handle)
    video = clip("twoface.mp4")
    common = ["--data_dir", data_dir, "--reference", REFERENCE, "--videofile", video]
    pipeline = run_script("run_pipeline.py", *common, "--reuse_faces", "--device", "cpu", cwd=data_dir)
    assert not (data_dir / "pytmp" / REFERENCE).exists(), "run_pipeline removes its pytmp folder"
    run_script("run_syncnet.py", *common, "--initial_model", syncnet_weights, "--device", "cpu", cwd=data_dir)
    run_script("run_visualise.py", *common, cwd=data_dir)
    return data_dir, faces, pipeline


def _load(data_dir, name):
    with open(data_dir / "pywork" / REFERENCE / name, "rb") as handle:
        return pickle.load(handle)


@pytest.fixture(scope="module")
def golden(golden_dir):
    return json.loads((golden_dir / "pipeline_twoface.json").read_text())


def test_outputs_exist(twoface_run):
    data_dir, _, pipeline = twoface_run
    for relative in ["pyavi/twoface/video.avi", "pyavi/twoface/audio.wav", "pyavi/twoface/video_only.avi",
                     "pyavi/twoface/video_out.avi", "pywork/twoface/faces.pckl", "pywork/twoface/scene.pckl",
                     "pywork/twoface/tracks.pckl", "pywork/twoface/activesd.pckl",
                     "pywork/twoface/offsets.txt", "pywork/twoface/offsets.json"]:
        assert (data_dir / relative).is_file(), relative
    assert "4 face track(s)" in pipeline.stdout


def test_frames_scenes_and_faces(twoface_run, golden):
    data_dir, faces, _ = twoface_run
    assert len(glob.glob(str(data_dir / "pyframes" / REFERENCE / "*.jpg"))) == golden["n_frames"]
    assert _load(data_dir, "faces.pckl") == faces
    assert [list(scene) for scene in _load(data_dir, "scene.pckl")] == golden["scenes"]


def test_tracks_match_reference(twoface_run, golden):
    data_dir, _, _ = twoface_run
    tracks = _load(data_dir, "tracks.pckl")
    assert len(tracks) == len(golden["tracks"])
    for track, expected in zip(tracks, golden["tracks"]):
        assert track["track"]["frame"].tolist() == expected["frame"]
        np.testing.assert_allclose(track["track"]["bbox"], expected["bbox"], rtol=0, atol=1e-6)
        for key in ("x", "y", "s"):
            np.testing.assert_allclose(track["proc_track"][key], expected[key], rtol=0, atol=1e-6)


def test_crops_match_reference(twoface_run, golden, golden_dir):
    """Crops before encoding within 2 levels of the reference's; the XVID files within 3 of those."""
    data_dir, _, _ = twoface_run
    frame_paths = sorted(glob.glob(str(data_dir / "pyframes" / REFERENCE / "*.jpg")))
    crop_files = sorted(glob.glob(str(data_dir / "pycrop" / REFERENCE / "0*.avi")))
    assert [os.path.basename(f) for f in crop_files] == ["%05d.avi" % i for i in range(len(golden["tracks"]))]
    for index, (track, expected, crop_file) in enumerate(zip(_load(data_dir, "tracks.pckl"), golden["tracks"],
                                                             crop_files)):
        smoothed = track["proc_track"]
        crops = [crop_face(cv2.imread(frame_paths[frame]), smoothed["x"][k], smoothed["y"][k],
                           smoothed["s"][k], 0.4)
                 for k, frame in enumerate(track["track"]["frame"])]
        means = np.array([crop.reshape(-1, 3).mean(0) for crop in crops])
        np.testing.assert_allclose(means, expected["crop_mean_bgr"], rtol=0, atol=2)
        for png in glob.glob(str(golden_dir / f"twoface_crop{index:02d}_f*.png")):
            k = int(png[-7:-4])
            assert np.abs(crops[k].astype(float) - cv2.imread(png)).mean() < 2, png
        decoded = list(read_video(crop_file))
        assert len(decoded) == len(crops)
        loss = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(decoded, crops)])
        assert loss < 3, (crop_file, loss)


def test_activesd_matches_reference(twoface_run, golden_dir):
    data_dir, _, _ = twoface_run
    activesd = _load(data_dir, "activesd.pckl")
    assert len(activesd) == 4
    for index, dists in enumerate(activesd):
        expected = np.load(golden_dir / f"twoface_activesd_{index:02d}.npy")
        assert isinstance(dists, np.ndarray) and dists.shape == expected.shape
        np.testing.assert_allclose(dists.mean(0), expected.mean(0), rtol=0, atol=0.01)
        np.testing.assert_allclose(dists, expected, rtol=0, atol=0.1)


def test_offsets_files_agree_with_activesd(twoface_run, golden):
    data_dir, _, _ = twoface_run
    activesd = _load(data_dir, "activesd.pckl")
    tracks = _load(data_dir, "tracks.pckl")
    lines = (data_dir / "pywork" / REFERENCE / "offsets.txt").read_text().splitlines()
    assert lines[0].split("\t") == ["file", "offset", "min_dist", "confidence"]
    records = json.loads((data_dir / "pywork" / REFERENCE / "offsets.json").read_text())["tracks"]
    assert len(lines) - 1 == len(records) == len(activesd)
    for index, (line, record, dists, track) in enumerate(zip(lines[1:], records, activesd, tracks)):
        summary = summarise(dists, vshift=15)
        assert line == "%05d.avi\t%d\t%.3f\t%.3f" % (index, summary.offset, summary.min_dist, summary.confidence)
        assert record["file"] == "%05d.avi" % index
        assert record["offset"] == summary.offset
        assert record["min_dist"] == pytest.approx(summary.min_dist, abs=1e-6)
        assert record["confidence"] == pytest.approx(summary.confidence, abs=1e-6)
        assert (record["start_frame"], record["end_frame"]) == (track["track"]["frame"][0], track["track"]["frame"][-1])
        assert record["confidence"] == pytest.approx(golden["offsets"][index]["conf"], abs=0.01)


def test_video_out_matches_reference(twoface_run, golden, golden_dir):
    data_dir, _, _ = twoface_run
    frames = list(read_video(data_dir / "pyavi" / REFERENCE / "video_out.avi"))
    assert len(frames) == golden["video_out_frames"]
    for k in (40, 200):
        expected = cv2.imread(str(golden_dir / f"twoface_video_out_f{k:03d}.png")).astype(float)
        assert np.abs(frames[k] - expected).mean() < 3, k

"""run_pipeline.py --reuse_faces, run_syncnet.py and run_visualise.py on twoface.mp4, against the reference."""
import glob
import json
import os
import pickle

import cv2
import numpy as np
import pytest

from syncnet.io.frames import read_video
from syncnet.pipeline.cropping import crop_face
from tests.helpers import TEST_DEVICE, need, reference_summary, run_command
from tests.helpers import TWOFACE as REFERENCE

# Whole runs of the scripts: the full suite runs them, the fast tier (-m 'not slow') does not.
pytestmark = pytest.mark.slow


def _load(data_dir, name):
    with open(data_dir / "pywork" / REFERENCE / name, "rb") as handle:
        return pickle.load(handle)


@pytest.fixture(scope="module")
def golden(golden_dir):
    return json.loads((golden_dir / "pipeline_twoface.json").read_text())


def test_outputs_exist(twoface_run):
    data_dir, printed = twoface_run
    for relative in ["pyavi/twoface/video.avi", "pyavi/twoface/audio.wav", "pyavi/twoface/video_only.avi",
                     "pyavi/twoface/video_out.avi", "pywork/twoface/faces.pckl", "pywork/twoface/scene.pckl",
                     "pywork/twoface/tracks.pckl", "pywork/twoface/activesd.pckl",
                     "pywork/twoface/offsets.txt", "pywork/twoface/offsets.json"]:
        assert (data_dir / relative).is_file(), relative
    assert "4 face track(s)" in printed


def test_frames_scenes_and_faces(twoface_run, golden, twoface_faces_json):
    data_dir, _ = twoface_run
    assert len(glob.glob(str(data_dir / "pyframes" / REFERENCE / "*.jpg"))) == golden["n_frames"]
    assert _load(data_dir, "faces.pckl") == json.loads(twoface_faces_json.read_text())
    assert [list(scene) for scene in _load(data_dir, "scene.pckl")] == golden["scenes"]


def test_tracks_match_reference(twoface_run, golden):
    data_dir, _ = twoface_run
    tracks = _load(data_dir, "tracks.pckl")
    assert len(tracks) == len(golden["tracks"])
    for track, expected in zip(tracks, golden["tracks"]):
        assert track["track"]["frame"].tolist() == expected["frame"]
        np.testing.assert_allclose(track["track"]["bbox"], expected["bbox"], rtol=0, atol=1e-6)
        for key in ("x", "y", "s"):
            np.testing.assert_allclose(track["proc_track"][key], expected[key], rtol=0, atol=1e-6)


def test_crops_match_reference(twoface_run, golden, golden_dir):
    """Crops before encoding within 2 levels of the reference's; the XVID files within 3 of those."""
    data_dir, _ = twoface_run
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
    data_dir, _ = twoface_run
    activesd = _load(data_dir, "activesd.pckl")
    assert len(activesd) == 4
    for index, dists in enumerate(activesd):
        expected = np.load(golden_dir / f"twoface_activesd_{index:02d}.npy")
        assert isinstance(dists, np.ndarray) and dists.shape == expected.shape
        np.testing.assert_allclose(dists.mean(0), expected.mean(0), rtol=0, atol=0.01)
        np.testing.assert_allclose(dists, expected, rtol=0, atol=0.1)


def test_offsets_files_agree_with_activesd(twoface_run, golden):
    """offsets.txt/json hold SPEC's summary of each activesd array, and the reference's confidences."""
    data_dir, _ = twoface_run
    activesd = _load(data_dir, "activesd.pckl")
    tracks = _load(data_dir, "tracks.pckl")
    lines = (data_dir / "pywork" / REFERENCE / "offsets.txt").read_text().splitlines()
    assert lines[0].split("\t") == ["file", "offset", "min_dist", "confidence"]
    records = json.loads((data_dir / "pywork" / REFERENCE / "offsets.json").read_text())["tracks"]
    assert len(lines) - 1 == len(records) == len(activesd) == 4
    for index, (line, record, dists, track) in enumerate(zip(lines[1:], records, activesd, tracks)):
        offset, min_dist, confidence = reference_summary(dists)
        name, text_offset, text_dist, text_conf = line.split("\t")
        assert (name, int(text_offset)) == ("%05d.avi" % index, offset)
        assert float(text_dist) == pytest.approx(min_dist, abs=6e-4)
        assert float(text_conf) == pytest.approx(confidence, abs=6e-4)
        assert (record["file"], record["track"], record["offset"]) == ("%05d.avi" % index, index, offset)
        assert record["min_dist"] == pytest.approx(min_dist, abs=1e-5)
        assert record["confidence"] == pytest.approx(confidence, abs=1e-5)
        assert (record["start_frame"], record["end_frame"]) == (track["track"]["frame"][0], track["track"]["frame"][-1])
        assert record["confidence"] == pytest.approx(golden["offsets"][index]["conf"], abs=0.01)


def test_video_out_matches_reference(twoface_run, golden, golden_dir):
    data_dir, _ = twoface_run
    frames = list(read_video(data_dir / "pyavi" / REFERENCE / "video_out.avi"))
    assert len(frames) == golden["video_out_frames"]
    for k in (40, 200):
        expected = cv2.imread(str(golden_dir / f"twoface_video_out_f{k:03d}.png")).astype(float)
        assert np.abs(frames[k] - expected).mean() < 3, k


def test_real_detection_end_to_end(tmp_path, shared_dir, s3fd_weights, syncnet_weights):
    """S3FD itself (stand-in weights) on a lavfi-made clip, through tracking, cropping and scoring.

    The stand-in detector scores faces below the reference's 0.9, so the clip is a still
    frame of twoface with a sine tone, and the threshold is lowered to get tracks.
    """
    from detectors import S3FD
    from syncnet.io.media import run_ffmpeg

    still = need(shared_dir / "fixtures" / "frames" / "twoface_200.png")
    video = tmp_path / "still.mp4"
    run_ffmpeg(["-loop", "1", "-framerate", "25", "-i", str(still), "-f", "lavfi", "-i",
                "sine=frequency=300:sample_rate=16000", "-t", "2", "-c:v", "mpeg4", "-q:v", "2",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video)], "make the still clip")
    data_dir = tmp_path / "work"
    common = ["--data_dir", data_dir, "--reference", "still", "--videofile", video]
    run_command("run_pipeline.py", *common, "--s3fd_model", s3fd_weights, "--facedet_conf", "0.5",
                "--min_track", "30", "--min_face_size", "20", "--device", TEST_DEVICE, cwd=tmp_path)

    faces = _load_from(data_dir, "still", "faces.pckl")
    frame_paths = sorted(glob.glob(str(data_dir / "pyframes" / "still" / "*.jpg")))
    assert len(faces) == len(frame_paths) >= 50
    detector = S3FD(device=TEST_DEVICE, weights=s3fd_weights)
    for index in (0, len(frame_paths) // 2, len(frame_paths) - 1):
        rgb = cv2.cvtColor(cv2.imread(frame_paths[index]), cv2.COLOR_BGR2RGB)
        expected = detector.detect_faces(rgb, conf_th=0.5, scales=[0.25])
        assert len(expected) > 0
        assert [face["frame"] for face in faces[index]] == [index] * len(expected)
        np.testing.assert_allclose([face["bbox"] + [face["conf"]] for face in faces[index]], expected,
                                   rtol=1e-5, atol=1e-3)
    tracks = _load_from(data_dir, "still", "tracks.pckl")
    assert tracks, "a still frame's boxes overlap perfectly from frame to frame"
    assert len(glob.glob(str(data_dir / "pycrop" / "still" / "0*.avi"))) == len(tracks)
    run_command("run_syncnet.py", "--data_dir", data_dir, "--reference", "still",
                "--initial_model", syncnet_weights, "--device", TEST_DEVICE, cwd=tmp_path)
    assert len(_load_from(data_dir, "still", "activesd.pckl")) == len(tracks)


def _load_from(data_dir, reference, name):
    with open(data_dir / "pywork" / reference / name, "rb") as handle:
        return pickle.load(handle)

"""The Python API: score_video on twoface.mp4 gives the reference's numbers and writes exactly what
the scripts write; bad videos and detections are input errors; `import syncnet` is cheap. (The
options' defaults and checks: unit/test_api.py.)"""
import contextlib
import io
import json
import pickle
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import syncnet
from syncnet import InputError, TrackResult, VideoResult
from tests.helpers import (
    REPO_ROOT,
    TEST_DEVICE,
    TWOFACE,
    TWOFACE_SPEAKER_THRESHOLD,
    reference_frame_confidence,
    reference_summary,
)


@pytest.fixture(scope="module")
def golden(golden_dir):
    return json.loads((golden_dir / "pipeline_twoface.json").read_text())


@pytest.fixture(scope="module")
def faces(twoface_faces_json):
    return json.loads(twoface_faces_json.read_text())


@pytest.fixture(scope="module")
def scored(clip, syncnet_weights, faces, tmp_path_factory):
    """score_video with the reference's detections, in a temporary folder of its own."""
    temporary_root = tmp_path_factory.mktemp("tempdir")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(printed):
        monkeypatch.setattr(tempfile, "tempdir", str(temporary_root))
        result = syncnet.score_video(clip("twoface.mp4"), syncnet_model=syncnet_weights, faces=faces,
                                     device=TEST_DEVICE)
    return result, printed.getvalue(), temporary_root


@pytest.mark.slow
def test_types_and_no_leftovers(scored, clip):
    result, printed, temporary_root = scored
    assert isinstance(result, VideoResult) and all(isinstance(t, TrackResult) for t in result.tracks)
    assert result.video == str(clip("twoface.mp4"))
    assert result.files == {}, "nothing is kept from a temporary folder"
    assert printed == "", "the API prints nothing"
    assert list(temporary_root.iterdir()) == [], "the temporary working folder is removed"


@pytest.mark.slow
def test_tracks_match_the_reference(scored, golden, golden_dir):
    """Against the reference's arrays and SPEC's arithmetic (tests/helpers.py), not the code's own."""
    result, _, _ = scored
    assert result.n_frames == golden["n_frames"]
    assert len(result.tracks) == len(golden["tracks"])
    for index, (track, expected) in enumerate(zip(result.tracks, golden["tracks"])):
        assert (track.track, track.file) == (index, "%05d.avi" % index)
        assert track.frames.tolist() == expected["frame"]
        assert (track.start_frame, track.end_frame) == (expected["frame"][0], expected["frame"][-1])
        np.testing.assert_allclose(track.boxes, expected["bbox"], rtol=0, atol=1e-6)
        reference_dists = np.load(golden_dir / f"twoface_activesd_{index:02d}.npy")
        assert track.dists.shape == reference_dists.shape
        np.testing.assert_allclose(track.dists.mean(0), reference_dists.mean(0), rtol=0, atol=0.01)
        np.testing.assert_allclose(track.dists, reference_dists, rtol=0, atol=0.1)
        assert track.confidence == pytest.approx(golden["offsets"][index]["conf"], abs=0.01)
        offset, min_dist, confidence = reference_summary(track.dists)
        assert track.offset == offset
        assert (track.min_dist, track.confidence) == (pytest.approx(min_dist, abs=1e-5),
                                                       pytest.approx(confidence, abs=1e-5))
        np.testing.assert_allclose(track.frame_confidence,
                                   reference_frame_confidence(track.dists)[:len(track.frames)], atol=1e-5)


@pytest.mark.slow
def test_score_video_writes_what_the_scripts_write(twoface_run, clip, syncnet_weights, faces, tmp_path):
    """The API and the scripts go through one orchestrator: the same files, the same numbers."""
    scripts_dir, _ = twoface_run
    result = syncnet.score_video(clip("twoface.mp4"), work_dir=tmp_path, reference=TWOFACE,
                                 syncnet_model=syncnet_weights, faces=faces, device=TEST_DEVICE,
                                 speaker_threshold=TWOFACE_SPEAKER_THRESHOLD)
    assert sorted(result.files) == ["activesd.pckl", "asd.csv", "offsets.json", "offsets.txt", "speakers.json",
                                    "speakers.rttm", "timeline.json"]
    ours, theirs = tmp_path / "pywork" / TWOFACE, scripts_dir / "pywork" / TWOFACE
    for name in ("offsets.txt", "speakers.json", "pipeline.json", "timeline.json", "asd.csv", "speakers.rttm"):
        assert (ours / name).read_text() == (theirs / name).read_text(), name
    assert json.loads((ours / "offsets.json").read_text()) == json.loads((theirs / "offsets.json").read_text())
    for name in ("faces.pckl", "scene.pckl"):
        assert pickle.loads((ours / name).read_bytes()) == pickle.loads((theirs / name).read_bytes()), name
    for a, b in zip(pickle.loads((ours / "activesd.pckl").read_bytes()),
                    pickle.loads((theirs / "activesd.pckl").read_bytes())):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in (tmp_path / "pycrop" / TWOFACE).iterdir()) == \
        sorted(p.name for p in (scripts_dir / "pycrop" / TWOFACE).iterdir())
    assert [t.confidence for t in result.tracks] == [r["confidence"] for r in
                                                      json.loads((theirs / "offsets.json").read_text())["tracks"]]


def test_bad_video_is_an_input_error(syncnet_weights, tmp_path):
    scorer = syncnet.VideoScorer(device="cpu", syncnet_model=syncnet_weights)
    with pytest.raises(InputError, match="not found"):
        scorer.score(tmp_path / "missing.mp4", work_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("faces, words", [
    ({"not": "a list"}, ["is a dict"]),
    ([[{"frame": 0, "conf": 0.9}]], ["frame 0, detection 0", "no 'bbox'"]),
    ([[{"frame": 3, "bbox": [0, 0, 1, 1], "conf": 0.9}]], ["says it is of frame 3"]),
    ([[{"frame": 0, "bbox": [0, 0, 1], "conf": 0.9}]], ["not 4 finite numbers"]),
])
def test_malformed_faces_are_refused_in_one_line(faces, words, clip, syncnet_weights, tmp_path):
    with pytest.raises(InputError) as caught:
        syncnet.score_video(clip("example.avi"), syncnet_model=syncnet_weights, faces=faces, work_dir=tmp_path)
    assert "\n" not in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_import_is_cheap_and_the_api_is_public():
    """`import syncnet` loads no torch; the public names are there."""
    code = ("import sys, syncnet; assert 'torch' not in sys.modules, 'torch was imported'; "
            "print(syncnet.__version__, ' '.join(sorted(syncnet.__all__)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    version, names = result.stdout.split(" ", 1)
    assert version.count(".") == 2
    for name in ("score_video", "VideoScorer", "VideoResult", "TrackResult", "PipelineOptions", "ScoringOptions",
                 "OutputOptions", "InputError", "SyncNetError", "WeightsError", "MediaError"):
        assert name in names.split()

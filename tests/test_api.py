"""syncnet.api.score_video on twoface.mp4 gives the numbers that the scripts give (the golden files)."""
import contextlib
import io
import json
import tempfile

import numpy as np
import pytest

import run_pipeline
from syncnet.api import TrackResult, VideoResult, VideoScorer, pipeline_options, score_video
from syncnet.errors import InputError
from syncnet.scoring import summarise, track_frame_confidence


@pytest.fixture(scope="module")
def golden(golden_dir):
    return json.loads((golden_dir / "pipeline_twoface.json").read_text())


@pytest.fixture(scope="module")
def scored(shared_dir, clip, syncnet_weights, tmp_path_factory):
    """score_video with the reference's detections, in a temporary folder of its own."""
    faces = json.loads((shared_dir / "fixtures" / "twoface_faces.json").read_text())
    temporary_root = tmp_path_factory.mktemp("tempdir")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(printed):
        monkeypatch.setattr(tempfile, "tempdir", str(temporary_root))
        result = score_video(clip("twoface.mp4"), syncnet_model=syncnet_weights, faces=faces, device="cpu",
                             quiet=True)
    return result, printed.getvalue(), temporary_root


def test_types_and_no_leftovers(scored, clip):
    result, printed, temporary_root = scored
    assert isinstance(result, VideoResult) and all(isinstance(t, TrackResult) for t in result.tracks)
    assert result.video == str(clip("twoface.mp4"))
    assert printed == "", "the API prints nothing"
    assert list(temporary_root.iterdir()) == [], "the temporary working folder is removed"


def test_tracks_match_the_scripts(scored, golden, golden_dir):
    """The golden files are what run_pipeline.py and run_syncnet.py give; tests/test_pipeline.py
    holds the scripts to them with these same tolerances."""
    result, _, _ = scored
    assert result.n_frames == golden["n_frames"]
    assert len(result.tracks) == len(golden["tracks"])
    for index, (track, expected) in enumerate(zip(result.tracks, golden["tracks"])):
        assert track.track == index
        assert track.frames.tolist() == expected["frame"]
        np.testing.assert_allclose(track.boxes, expected["bbox"], rtol=0, atol=1e-6)
        reference_dists = np.load(golden_dir / f"twoface_activesd_{index:02d}.npy")
        assert track.dists.shape == reference_dists.shape
        np.testing.assert_allclose(track.dists.mean(0), reference_dists.mean(0), rtol=0, atol=0.01)
        np.testing.assert_allclose(track.dists, reference_dists, rtol=0, atol=0.1)
        assert track.confidence == pytest.approx(golden["offsets"][index]["conf"], abs=0.01)
        summary = summarise(track.dists, vshift=15)
        assert (track.offset, track.min_dist, track.confidence) == \
            (summary.offset, pytest.approx(summary.min_dist), pytest.approx(summary.confidence))
        assert track.frame_confidence.shape == track.frames.shape
        np.testing.assert_array_equal(track.frame_confidence,
                                      track_frame_confidence(track.dists)[:len(track.frames)])


def test_options_are_the_scripts(tmp_path):
    defaults = run_pipeline.build_parser().parse_args([])
    opt = pipeline_options(tmp_path / "v.mp4", min_track=7)
    assert opt.min_track == 7 and opt.videofile == str(tmp_path / "v.mp4")
    assert (opt.facedet_scale, opt.crop_scale, opt.min_face_size, opt.batch_size, opt.vshift) == \
        (defaults.facedet_scale, defaults.crop_scale, defaults.min_face_size, 20, 15)
    with pytest.raises(TypeError, match="min_trak"):
        pipeline_options("v.mp4", min_trak=7)
    with pytest.raises(TypeError, match="data_dir"):
        pipeline_options("v.mp4", data_dir="elsewhere")


def test_bad_video_is_an_input_error(syncnet_weights, tmp_path):
    scorer = VideoScorer(device="cpu", syncnet_model=syncnet_weights)
    with pytest.raises(InputError, match="not found"):
        scorer.score(tmp_path / "missing.mp4", work_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []

"""Curation decisions on hand-made tracks: the consensus offset of the confident tracks, kept when
it is within --max_offset (LatentSync keeps confidence >= 3 and |offset| <= 6)."""
import numpy as np
import pytest

from syncnet.batch.curation import decide, manifest_rows, output_name
from syncnet.scoring.results import TrackResult
from tests.helpers import REPO_ROOT, assert_refused, run_command


def tracks(*offsets_and_confidences):
    return [TrackResult(track=index, file="%05d.avi" % index, offset=offset, min_dist=7.0, confidence=confidence,
                        frames=np.arange(30), boxes=np.zeros((30, 4)), frame_confidence=np.zeros(30),
                        dists=np.zeros((25, 31)))
            for index, (offset, confidence) in enumerate(offsets_and_confidences)]


def test_a_confident_offset_within_bounds_is_kept():
    # (2*4 + 3*6) / (4 + 6) = 2.6 -> 3; the track below min_conf does not vote.
    assert decide(tracks((2, 4.0), (3, 6.0), (-9, 1.0)), 3, 6) == (True, "offset +3 frames, confidence 6.000", 3, 6.0)
    assert decide(tracks((-6, 3.0)), 3, 6)[:3] == (True, "offset -6 frames, confidence 3.000", -6)


def test_rejections_say_why():
    assert decide([], 3, 6) == (False, "no face track", None, None)
    assert decide(tracks((2, 2.9), (1, 0.5)), 3, 6) == (False, "no track has confidence >= 3", None, 2.9)
    assert decide(tracks((2, 5.0), (5, 4.0)), 3, 6) == (False, "the confident tracks disagree on the offset", None, 5.0)
    assert decide(tracks((7, 8.0)), 3, 6) == (False, "offset +7 frames is beyond --max_offset 6", 7, 8.0)


def test_output_names_and_manifest_rows():
    assert output_name("clip-0123abcd", "/in/Clip.MOV") == "clip-0123abcd.mov"
    assert output_name("clip-0123abcd", "/in/clip.webm") == "clip-0123abcd.mkv", "Matroska takes any other"
    rows = manifest_rows([
        {"video": "/in/a.mp4", "reference": "a", "status": "failed", "error": "not a media file", "tracks": []},
        {"video": "/in/b.mp4", "reference": "b", "status": "ok", "error": None, "tracks": [{}, {}],
         "curation": {"decision": "kept", "reason": "offset +1 frames, confidence 4.000", "offset": 1,
                      "confidence": 4.0, "output": "/out/b.mp4"}}])
    assert rows == [
        {"video": "/in/a.mp4", "reference": "a", "decision": "rejected", "reason": "failed: not a media file",
         "offset": None, "confidence": None, "n_tracks": None, "output": None},
        {"video": "/in/b.mp4", "reference": "b", "decision": "kept", "reason": "offset +1 frames, confidence 4.000",
         "offset": 1, "confidence": 4.0, "n_tracks": 2, "output": "/out/b.mp4"}]


@pytest.mark.parametrize("value, refused", [("0", False), ("-0.5", True)])
def test_min_conf_zero_keeps_everything_and_below_is_refused(value, refused, tmp_path):
    """--min_conf 0 (keep every scored clip) passes the option checks; a negative one does not."""
    result = run_command("syncnet.batch", tmp_path / "nowhere", "--data_dir", tmp_path / "work", "--curate",
                         tmp_path / "kept", "--min_conf", value, cwd=REPO_ROOT, check=False)
    message = assert_refused(result, "syncnet.batch: error:")
    assert ("--min_conf" in message) == refused, message
    assert ("nowhere" in message) != refused, message
    assert decide(tracks((1, 0.004)), 0, 6)[:3] == (True, "offset +1 frames, confidence 0.004", 1)

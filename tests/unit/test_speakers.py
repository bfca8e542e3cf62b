"""Who speaks when: the speaker and segment rules, and speakers.json's table on hand-made tracks.
(The shared twoface run's speakers.json: integration/test_speakers.py.)"""
import numpy as np
import pytest

from syncnet.scoring.distances import summarise
from syncnet.scoring.results import track_result
from syncnet.scoring.speakers import speakers_document, speaking_segments, speaking_track


def test_the_speaker_is_the_most_confident_face_above_the_threshold():
    assert speaking_track({0: 4.0, 1: 6.5, 2: 5.0}, 3.0) == 1
    assert speaking_track({0: 2.0, 1: 2.9}, 3.0) is None
    assert speaking_track({0: 3.0}, 3.0) is None, "strictly above the threshold"
    assert speaking_track({1: 5.0, 0: 5.0}, 3.0) == 0, "a tie goes to the lower track"
    assert speaking_track({}, 3.0) is None


def test_segments_are_runs_of_one_speaker():
    assert speaking_segments([None, 0, 0, 1, None, 1, 1]) == [
        {"track": 0, "start_frame": 1, "end_frame": 2},
        {"track": 1, "start_frame": 3, "end_frame": 3},
        {"track": 1, "start_frame": 5, "end_frame": 6}]
    assert speaking_segments([None, None]) == []


def _synthetic_track(index, first, count, best_column, depth, windows=None):
    """A TrackResult over frames first..first+count-1 whose dists dip by `depth` at `best_column`;
    `windows` fewer than count - 5 is a track whose audio ended early."""
    dists = np.full((count - 5 if windows is None else windows, 31), 10.0, dtype=np.float32)
    dists[:, best_column] -= depth
    entry = {"track": {"frame": np.arange(first, first + count), "bbox": np.zeros((count, 4))}}
    return track_result(index, entry, summarise(dists, 15) if len(dists) else None, dists)


def test_speaker_table_on_synthetic_tracks():
    quiet = _synthetic_track(0, 0, 40, 12, 1.0)
    talker = _synthetic_track(1, 10, 40, 15, 6.0)
    table = speakers_document([quiet, talker], 60, 3.0)
    assert table["frame_rate"] == 25 and table["speaker_threshold"] == 3.0
    assert table["tracks"] == [{"track": 0, "file": "00000.avi", "start_frame": 0, "end_frame": 39},
                               {"track": 1, "file": "00001.avi", "start_frame": 10, "end_frame": 49}]
    assert [entry["frame"] for entry in table["frames"]] == list(range(60))
    assert table["frames"][5] == {"frame": 5, "confidence": {"0": pytest.approx(1.0)}, "speaker": None}
    assert table["frames"][20]["speaker"] == 1 and set(table["frames"][20]["confidence"]) == {"0", "1"}
    assert table["frames"][55] == {"frame": 55, "confidence": {}, "speaker": None}
    # run_visualise's padding (3 windows of distance 10) pulls the track's first 3 and last 2 frames to 0.
    assert table["segments"] == [{"track": 1, "start_frame": 13, "end_frame": 47}]


def test_tracks_whose_audio_ended_early():
    """40 frames but 20 windows (the audio stopped): the padding of tens covers the rest, so every
    frame has a value and the speaking run ends where the windows do; no window: no confidence."""
    short = _synthetic_track(0, 0, 40, 15, 6.0, windows=20)
    silent = _synthetic_track(1, 0, 40, 15, 6.0, windows=0)
    assert short.frame_confidence.shape == silent.frame_confidence.shape == (40,)
    assert np.isnan(silent.frame_confidence).all() and not silent.scored
    table = speakers_document([short, silent], 40, 3.0)
    assert all(set(entry["confidence"]) == {"0"} for entry in table["frames"])
    # Frames 3..22 carry windows 0..19 (a median of 9 keeps a run of 20 exactly where it is).
    assert table["segments"] == [{"track": 0, "start_frame": 3, "end_frame": 22}]

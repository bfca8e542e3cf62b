"""Who speaks when: the speaker and segment rules, and speakers.json's table on hand-made tracks.
(The shared twoface run's speakers.json: integration/test_speakers.py.)"""
import numpy as np
import pytest

from syncnet.options import OutputOptions
from syncnet.scoring.distances import summarise
from syncnet.scoring.results import track_result
from syncnet.scoring.speakers import (
    in_sync_column,
    speakers_document,
    speaking_runs,
    speaking_scores,
    speaking_segments,
    speaking_track,
)

# The bare-threshold rule of before (no hysteresis, no minimum run), for the tables below.
BARE = OutputOptions(speaker_threshold=3.0, speaker_release=3.0, min_speaking_frames=1)


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
    table = speakers_document([quiet, talker], 60, BARE)
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
    table = speakers_document([short, silent], 40, BARE)
    assert all(set(entry["confidence"]) == {"0"} for entry in table["frames"])
    # Frames 3..22 carry windows 0..19 (a median of 9 keeps a run of 20 exactly where it is).
    assert table["segments"] == [{"track": 0, "start_frame": 3, "end_frame": 22}]


def test_hysteresis_keeps_a_turn_through_a_dip_and_drops_a_blip():
    # frames:  0    1    2    3    4    5    6    7    8    9   10   11   12   13
    scores = [0.0, 3.5, 2.0, 1.5, 0.5, 4.0, 1.2, 0.9, 0.0, 3.2, 0.0, np.nan, 5.0, 5.0]
    # threshold 3, release 1: on at 1, held through 2-3 (above 1), off at 4; on at 5, held at 6,
    # off at 7; a one-frame run at 9; NaN ends a run; 12-13 a two-frame run.
    assert speaking_runs(scores, 3.0, 1.0, 1).tolist() == [
        False, True, True, True, False, True, True, False, False, True, False, False, True, True]
    # at least 2 frames: the one-frame run at 9 is no turn
    assert np.flatnonzero(speaking_runs(scores, 3.0, 1.0, 2)).tolist() == [1, 2, 3, 5, 6, 12, 13]
    # a release above the threshold is the threshold: the bare rule
    assert np.flatnonzero(speaking_runs(scores, 3.0, 9.0, 1)).tolist() == [1, 5, 9, 12, 13]


def test_a_face_in_sync_only_far_off_scores_where_the_audio_is():
    """A track whose lips meet the audio 8 frames off (beyond the 4-frame tolerance) is scored
    at the best offset within the tolerance, where it barely matches; one 2 frames off is scored
    at its own offset. The score of a window is its median distance minus its in-sync distance."""
    near = _synthetic_track(0, 0, 40, 13, 6.0)   # column 13 = offset +2
    far = _synthetic_track(1, 0, 40, 7, 6.0)     # column 7 = offset +8
    far.dists[:, 14] -= 0.5                      # a slight dip at offset +1, inside the tolerance
    assert in_sync_column(near.dists, 4) == 13 and in_sync_column(far.dists, 4) == 14
    assert np.nanmax(far.frame_confidence) == pytest.approx(6.0), "run_visualise's confidence sees the far dip"
    assert np.nanmax(speaking_scores(near, 4)) == pytest.approx(6.0)
    assert np.nanmax(speaking_scores(far, 4)) == pytest.approx(0.5)
    assert np.nanmax(speaking_scores(far, 8)) == pytest.approx(6.0)
    table = speakers_document([near, far], 40, OutputOptions())
    assert {entry["speaker"] for entry in table["frames"]} == {None, 0}


def test_the_score_ignores_what_the_audio_does_to_every_offset():
    """A still face: every offset of a window is equally (mis)matched, whatever the window's
    level, so its score is 0 and it never speaks; run_visualise's confidence swings with the level."""
    still = _synthetic_track(0, 0, 40, 15, 0.0)
    still.dists[:] = np.linspace(6, 14, len(still.dists))[:, None]
    still = track_result(0, {"track": {"frame": np.arange(40), "bbox": np.zeros((40, 4))}},
                         summarise(still.dists, 15), still.dists)
    assert np.nanmax(still.frame_confidence) > 3
    assert np.abs(speaking_scores(still)).max() == 0
    assert speakers_document([still], 40, OutputOptions())["segments"] == []


def test_in_an_overlap_the_higher_score_is_the_speaker():
    low = _synthetic_track(0, 0, 40, 15, 4.0)
    high = _synthetic_track(1, 0, 40, 15, 6.0)
    table = speakers_document([low, high], 40, OutputOptions())
    assert [segment["track"] for segment in table["segments"]] == [1]

"""The active-speaker formats and metrics by hand: asd.csv's rows and speakers.rttm from made-up
tracks, AVA's average precision on a small case worked out on paper (with ties and unscored
boxes), the official script's matching rules, Columbia's F1 and the given tracks."""
import math

import numpy as np
import pytest

from syncnet.errors import InputError
from syncnet.eval.active_speaker import (
    LabelRow,
    average_precision,
    columbia_summary,
    given_tracks,
    match_predictions,
    read_labels,
)
from syncnet.scoring.asd import UNSCORED, asd_rows, csv_text, rttm_text
from syncnet.scoring.distances import summarise
from syncnet.scoring.results import track_result


def test_average_precision_by_hand_with_ties_and_unscored_rows():
    """Ranked: 0.9 (+), 0.8 (-), 0.8 (+) (a tie, in the given order), 0.5 (-), then two unscored
    rows (+, -). Precision made non-increasing from the right is 1, 2/3 and 3/5 where recall
    steps to 1/3, 2/3 and 1: AP = 1/3 + 2/9 + 1/5 = 34/45."""
    scores = [0.9, 0.8, 0.8, 0.5, UNSCORED, UNSCORED]
    positives = [True, False, True, False, True, False]
    assert average_precision(scores, positives) == pytest.approx(34 / 45)
    # the tie the other way round: the positive first
    assert average_precision([0.9, 0.8, 0.8, 0.5], [True, True, False, False]) == pytest.approx(1.0)
    assert average_precision([0.1, 0.2], [False, False]) == 0.0
    # a positive never scored still counts in recall: it is ranked last
    assert average_precision([0.5, UNSCORED], [True, True]) == pytest.approx(0.5 + 0.5 * 1.0)


def _row(timestamp, entity, label="NOT_SPEAKING", score=None, box=(0.1, 0.1, 0.3, 0.4)):
    return LabelRow("v", timestamp, box, label, entity, score)


def test_predictions_are_matched_as_the_official_script_matches_them():
    truth = [_row("0.04", "a", "SPEAKING_AUDIBLE"), _row("0.08", "a")]
    scores, positives = match_predictions(truth, [_row("0.08", "a", score=0.2), _row("0.04", "a", score=0.7)])
    assert scores.tolist() == [0.7, 0.2] and positives.tolist() == [True, False]
    with pytest.raises(InputError, match="rows and the predictions"):
        match_predictions(truth, [_row("0.04", "a", score=0.7)])
    with pytest.raises(InputError, match="another box"):
        match_predictions(truth, [_row("0.04", "a", score=0.7), _row("0.08", "a", score=0.2, box=(0, 0, 1, 1))])
    with pytest.raises(InputError, match="no prediction for 0.08:a"):
        match_predictions(truth, [_row("0.04", "a", score=0.7), _row("0.12", "a", score=0.2)])


def test_columbia_f1_per_speaker_and_their_mean():
    truth = [_row("0", "Bell", "SPEAKING_AUDIBLE"), _row("1", "Bell", "SPEAKING_AUDIBLE"), _row("2", "Bell"),
             _row("0", "Long", "SPEAKING_AUDIBLE"), _row("1", "Long")]
    summary = columbia_summary(truth, [True, False, True, False, False], seed=0, n_boot=200)
    # Bell: 1 hit, 1 false alarm, 1 miss: 2/4; Long: no hit: 0
    assert summary["F1"] == {"Bell": 0.5, "Long": 0.0} and summary["mean_F1"] == 0.25
    low, high = summary["ci95"]
    assert 0.0 <= low <= high <= 0.5


def test_given_tracks_fill_the_frames_between_boxes_and_split_at_gaps():
    rows = [_row("0.0", "a", box=(0.0, 0.0, 0.5, 0.5)), _row("0.2", "a", box=(0.5, 0.0, 1.0, 0.5)),
            _row("2.0", "a"), _row("0.1", "b")]
    first, second, other = given_tracks(rows, (200, 100))
    assert first["frame"].tolist() == [0, 1, 2, 3, 4, 5] and first["name"] == "a@0.000"
    assert first["bbox"][0].tolist() == [0, 0, 100, 50] and first["bbox"][-1].tolist() == [100, 0, 200, 50]
    assert first["bbox"][2].tolist() == pytest.approx([40, 0, 140, 50])
    assert second["frame"].tolist() == [50] and other["frame"].tolist() == [2]


def test_read_labels_refuses_a_bad_line(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("v,0.04,0.1,0.1,0.3,0.4,SPEAKING_AUDIBLE,v:0\nv,0.08,0.1,0.1,0.3,0.4,TALKING,v:0\n")
    with pytest.raises(InputError, match="line 2: label 'TALKING'"):
        read_labels(path)
    path.write_text("v,0.04,0.1,0.1,0.3,0.4,SPEAKING_AUDIBLE,v:0\n")
    assert read_labels(path)[0].uid == "0.04:v:0"


def _track(index, first, count, depth, windows=None):
    dists = np.full((count - 5 if windows is None else windows, 31), 10.0, dtype=np.float32)
    dists[:, 15] -= depth
    entry = {"track": {"frame": np.arange(first, first + count),
                       "bbox": np.tile([10.0, 20.0, 110.0, 120.0], (count, 1))}}
    return track_result(index, entry, summarise(dists, 15) if len(dists) else None, dists)


def test_asd_rows_and_rttm_of_two_tracks():
    talker, silent = _track(0, 0, 30, 6.0), _track(1, 5, 20, 0.0, windows=0)
    decisions = [(np.full(30, 4.0), np.r_[np.zeros(5, bool), np.ones(20, bool), np.zeros(5, bool)]),
                 (np.full(20, np.nan), np.zeros(20, bool))]
    rows = asd_rows("clip", [talker, silent], decisions, (200, 400))
    assert len(rows) == 50
    assert rows[0] == ["clip", 0.0, 0.05, 0.05, 0.55, 0.3, "SPEAKING_AUDIBLE", "clip:0", 4.0]
    assert rows[30][1] == 0.2 and rows[30][7] == "clip:1" and rows[30][8] == -math.inf
    assert csv_text(rows[30:31]) == "clip,0.2,0.05,0.05,0.55,0.3,SPEAKING_AUDIBLE,clip:1,-inf\n"
    assert rttm_text("clip", [talker, silent], decisions) == \
        "SPEAKER clip 1 0.200 0.800 <NA> <NA> track_0 <NA> <NA>\n"

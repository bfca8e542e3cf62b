"""Protocol rules on hand-made scores: per-video aggregation, dataset means, bootstrap, pairing, text.

Expected numbers are literals worked out by hand from the inputs, not recomputed with the code.
"""
import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncnet.batch.driver import BatchConfig
from syncnet.errors import InputError
from syncnet.eval import stats
from syncnet.eval.evaluate import protocol_config
from syncnet.eval.protocols import PROTOCOLS, TrackScore, VideoOutcome, aggregate_video, get_protocol
from syncnet.eval.report import format_scores_txt, summary_line
from syncnet.eval.stats import dataset_summary, paired_difference
from syncnet.options import PipelineOptions
from tests.helpers import REPO_ROOT


def track(video, index, lse_d, lse_c, offset=0):
    return TrackScore(video=video, track=index, start_frame=0, end_frame=99, lse_d=lse_d, lse_c=lse_c,
                      offset=offset)


def scored(video, lse_d, lse_c, offset=0):
    return VideoOutcome(video, "scored", None, 1, lse_d, lse_c, offset)


# ----------------------------------------------------------------------------- registry

def test_the_protocols_are_the_ones_docs_eval_md_describes():
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", (REPO_ROOT / "docs" / "eval.md").read_text(), re.M)
    assert documented and sorted(PROTOCOLS) == sorted(documented)


# What each published protocol's own script does before scoring (docs/eval.md's table):
# (min_track, container, whole frames). wav2lip-lrs detects no face, so its tracks' options do not matter.
PUBLISHED_PREPROCESSING = [("wav2lip", 100, "avi", False), ("latentsync", 50, "mp4", False),
                           ("mocha", 50, "avi", False), ("wav2lip-lrs", None, None, True)]


@pytest.mark.parametrize("name, min_track, container, whole_frames", PUBLISHED_PREPROCESSING)
def test_each_protocol_prepares_the_videos_as_its_source_does(name, min_track, container, whole_frames, tmp_path):
    config = protocol_config(name, BatchConfig(data_dir=str(tmp_path)))
    assert config.whole_frames is whole_frames
    if not whole_frames:
        assert (config.pipeline.min_track, config.pipeline.container) == (min_track, container)


def test_an_option_the_user_passed_wins_over_the_protocols():
    config = BatchConfig(data_dir="out", pipeline=PipelineOptions(min_track=70))
    assert protocol_config("latentsync", config, passed=("min_track",)).pipeline.min_track == 70
    assert protocol_config("latentsync", config).pipeline.min_track == 50


# One dataset under every face-track protocol: video a has two tracks (LSE-D 8, LSE-C 2 and
# LSE-D 6, LSE-C 4), video b one (LSE-D 7, LSE-C 9). Worked by hand from docs/eval.md's rules:
# wav2lip: the mean over the 3 tracks; latentsync: the mean of each video's mean confidence, no
# LSE-D; mocha: the mean of each video's best confidence and lowest distance.
@pytest.mark.parametrize("name, n, lse_d, lse_c", [("wav2lip", 3, 7.0, 5.0), ("latentsync", 2, None, 6.0),
                                                   ("mocha", 2, 6.5, 6.5)])
def test_one_dataset_gives_each_protocol_its_own_numbers(name, n, lse_d, lse_c):
    tracks = {"a": [track("a", 0, 8.0, 2.0), track("a", 1, 6.0, 4.0)], "b": [track("b", 0, 7.0, 9.0)]}
    outcomes = [aggregate_video(name, video, scores) for video, scores in tracks.items()]
    summary = dataset_summary(name, outcomes, tracks["a"] + tracks["b"], n_boot=100)
    assert summary["n"] == n
    assert (summary["lse_d"]["mean"] if summary["lse_d"] else None) == lse_d
    assert summary["lse_c"]["mean"] == lse_c


def test_the_registry_cannot_be_changed_in_place():
    with pytest.raises(TypeError):
        PROTOCOLS["mine"] = PROTOCOLS["mocha"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROTOCOLS["mocha"].unit = "track"


def test_unknown_protocol_is_an_input_error_naming_the_choices():
    with pytest.raises(InputError, match="unknown protocol 'syncnet'.*wav2lip, wav2lip-lrs, latentsync, mocha"):
        get_protocol("syncnet")


# ----------------------------------------------------------------------------- per video

def test_mocha_takes_max_confidence_and_min_distance_from_different_tracks():
    tracks = [track("v.mp4", 0, 8.0, 3.0, 2), track("v.mp4", 1, 7.5, 2.0, -1), track("v.mp4", 2, 9.0, 5.5, 4)]
    outcome = aggregate_video("mocha", "v.mp4", tracks)
    assert outcome == VideoOutcome("v.mp4", "scored", None, 3, 7.5, 5.5, 4)


def test_mocha_offset_tie_goes_to_the_first_track():
    tracks = [track("v", 0, 8.0, 5.0, 1), track("v", 1, 7.0, 5.0, 3)]
    assert aggregate_video("mocha", "v", tracks).offset == 1


@pytest.mark.parametrize("offsets, expected", [([-3, -2], -2), ([1, 2], 1), ([-1, 0, 0], 0), ([-4, -4], -4)])
def test_latentsync_offset_is_int_of_the_mean_truncated_toward_zero(offsets, expected):
    tracks = [track("v", i, 7.0, 4.0 + 2 * i, o) for i, o in enumerate(offsets)]
    assert aggregate_video("latentsync", "v", tracks).offset == expected


def test_latentsync_confidence_is_the_mean_and_there_is_no_lse_d():
    tracks = [track("v", 0, 9.0, 4.0, -3), track("v", 1, 6.0, 6.0, -2)]
    assert aggregate_video("latentsync", "v", tracks) == VideoOutcome("v", "scored", None, 2, None, 5.0, -2)


@pytest.mark.parametrize("name", ["wav2lip", "latentsync", "mocha"])
def test_a_video_without_a_face_track_is_excluded(name):
    assert aggregate_video(name, "v", []) == VideoOutcome("v", "excluded", "no face track", 0, None, None, None)


def test_an_error_makes_the_video_failed_even_with_tracks():
    outcome = aggregate_video("mocha", "v", [track("v", 0, 7.0, 5.0)], error="ffmpeg: moov atom not found")
    assert outcome == VideoOutcome("v", "failed", "ffmpeg: moov atom not found", 1, None, None, None)


def test_wav2lip_video_row_is_the_mean_of_its_tracks_without_offset():
    tracks = [track("a", 0, 8.0, 2.0, 1), track("a", 1, 8.5, 4.0, 2), track("a", 2, 7.0, 6.0, 3)]
    assert aggregate_video("wav2lip", "a", tracks) == VideoOutcome("a", "scored", None, 3, 7.833333333333333, 4.0, None)


def test_wav2lip_lrs_is_exactly_one_track():
    one = TrackScore("v", 0, None, None, 6.5, 7.25, -1)
    assert aggregate_video("wav2lip-lrs", "v", [one]) == VideoOutcome("v", "scored", None, 1, 6.5, 7.25, -1)
    with pytest.raises(ValueError, match="exactly one track"):
        aggregate_video("wav2lip-lrs", "v", [one, one])
    with pytest.raises(ValueError, match="exactly one track"):
        aggregate_video("wav2lip-lrs", "v", [])


def test_tracks_of_another_video_are_refused():
    with pytest.raises(ValueError, match="tracks of b passed for video a"):
        aggregate_video("mocha", "a", [track("b", 0, 7.0, 5.0)])


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status 'skipped'"):
        VideoOutcome("v", "skipped", None, 0, None, None, None)


# ----------------------------------------------------------------------------- dataset

def _wav2lip_dataset():
    tracks_a = [track("a", 0, 8.0, 2.0), track("a", 1, 8.0, 4.0), track("a", 2, 8.0, 6.0)]
    tracks_b = [track("b", 0, 6.0, 10.0)]
    tracks_d = [track("d", 0, 1.0, 99.0)]  # scored before the failure: must not count
    outcomes = [aggregate_video("wav2lip", "a", tracks_a), aggregate_video("wav2lip", "b", tracks_b),
                aggregate_video("wav2lip", "c", []), aggregate_video("wav2lip", "d", tracks_d, error="crash")]
    return outcomes, tracks_a + tracks_b + tracks_d


def test_wav2lip_dataset_mean_is_over_tracks_not_videos():
    outcomes, tracks = _wav2lip_dataset()
    summary = dataset_summary("wav2lip", outcomes, tracks, n_boot=2000)
    # tracks: conf 2, 4, 6, 10 -> 22 / 4 = 5.5 (over videos it would be (4 + 10) / 2 = 7.0)
    #         dist 8, 8, 8, 6 -> 30 / 4 = 7.5 (over videos (8 + 6) / 2 = 7.0)
    assert summary["lse_c"]["mean"] == 5.5
    assert summary["lse_d"]["mean"] == 7.5
    assert (summary["unit"], summary["n"], summary["n_videos"]) == ("track", 4, 4)
    assert (summary["n_scored"], summary["n_excluded"], summary["n_failed"]) == (2, 1, 1)
    # sample std (ddof=1) of 2, 4, 6, 10: deviations -3.5, -1.5, 0.5, 4.5 -> 35 / 3
    assert summary["lse_c"]["std"] == pytest.approx((35 / 3) ** 0.5)
    assert summary["lse_d"]["std"] == pytest.approx(1.0)  # 8,8,8,6: 0.25*3 + 2.25 = 3, / 3


def test_wav2lip_needs_the_tracks():
    outcomes, _ = _wav2lip_dataset()
    with pytest.raises(ValueError, match="pass the tracks"):
        dataset_summary("wav2lip", outcomes)


def test_video_protocols_average_scored_videos_and_count_the_rest():
    outcomes = [scored("a", 8.0, 3.0), scored("b", 7.0, 6.0), scored("c", 6.0, 9.0),
                VideoOutcome("d", "excluded", "no face track", 0, None, None, None),
                VideoOutcome("e", "failed", "boom", 0, None, None, None)]
    summary = dataset_summary("mocha", outcomes, n_boot=1000)
    assert summary["lse_c"]["mean"] == 6.0
    assert summary["lse_d"]["mean"] == 7.0
    assert summary["lse_c"]["std"] == 3.0  # deviations -3, 0, 3: 18 / 2 = 9
    assert (summary["n"], summary["n_videos"], summary["n_scored"], summary["n_excluded"], summary["n_failed"]) \
        == (3, 5, 3, 1, 1)


def test_latentsync_summary_has_no_lse_d():
    outcomes = [VideoOutcome("a", "scored", None, 2, None, 5.0, -2), VideoOutcome("b", "scored", None, 1, None, 7.0, 0)]
    summary = dataset_summary("latentsync", outcomes, n_boot=500)
    assert summary["lse_d"] is None
    assert summary["lse_c"]["mean"] == 6.0


def test_no_scored_video_is_a_one_line_input_error():
    outcomes = [VideoOutcome("a", "excluded", "no face track", 0, None, None, None),
                VideoOutcome("b", "failed", "boom", 0, None, None, None)]
    with pytest.raises(InputError) as caught:
        dataset_summary("latentsync", outcomes)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in message
    assert message == "no video was scored: 2 videos, 1 excluded (no face track), 1 failed (protocol latentsync)"
    with pytest.raises(InputError, match="no video was scored: 0 videos"):
        dataset_summary("mocha", [])


def test_a_video_listed_twice_is_refused():
    with pytest.raises(ValueError, match="video a is listed twice"):
        dataset_summary("mocha", [scored("a", 7.0, 5.0), scored("a", 7.0, 5.0)])


def test_bad_bootstrap_arguments():
    with pytest.raises(InputError, match="n_boot 0"):
        dataset_summary("mocha", [scored("a", 7.0, 5.0)], n_boot=0)


# ----------------------------------------------------------------------------- bootstrap

SPREAD = [scored(f"v{i}", 10.0 - i, float(i)) for i in range(1, 11)]  # conf 1..10, mean 5.5


def test_bootstrap_is_reproducible_for_a_seed_and_changes_with_it():
    first = dataset_summary("mocha", SPREAD, seed=7, n_boot=3000)
    again = dataset_summary("mocha", SPREAD, seed=7, n_boot=3000)
    other = dataset_summary("mocha", SPREAD, seed=8, n_boot=3000)
    assert first == again
    assert first["lse_c"]["ci95"] != other["lse_c"]["ci95"]
    assert first["lse_c"]["mean"] == other["lse_c"]["mean"] == 5.5


def test_bootstrap_interval_covers_the_mean():
    summary = dataset_summary("mocha", SPREAD)
    lo, hi = summary["lse_c"]["ci95"]
    assert 1.0 < lo < 5.5 < hi < 10.0
    lo, hi = summary["lse_d"]["ci95"]  # dist 9..0, mean 4.5
    assert 0.0 < lo < 4.5 < hi < 9.0


def test_constant_sample_gives_a_point_interval():
    outcomes = [scored(f"v{i}", 0.1, 0.1) for i in range(3)]  # 0.1 * 3 / 3 is not exactly 0.1 in floats
    summary = dataset_summary("mocha", outcomes, n_boot=200)
    assert summary["lse_c"] == {"mean": 0.1, "std": 0.0, "ci95": [0.1, 0.1]}
    assert summary["lse_d"] == {"mean": 0.1, "std": 0.0, "ci95": [0.1, 0.1]}


def test_single_unit_has_no_std():
    summary = dataset_summary("mocha", [scored("a", 7.0, 5.0)], n_boot=100)
    assert summary["lse_c"] == {"mean": 5.0, "std": None, "ci95": [5.0, 5.0]}


def test_bootstrap_in_many_blocks(monkeypatch):
    monkeypatch.setattr(stats, "_BOOTSTRAP_BLOCK", 25)  # 2 resamples of 10 per block
    summary = dataset_summary("mocha", SPREAD, n_boot=1001)
    lo, hi = summary["lse_c"]["ci95"]
    assert 1.0 < lo < 5.5 < hi < 10.0


def test_large_sample_is_fast_and_tight():
    rng = np.random.default_rng(3)
    values = rng.normal(7.0, 1.0, size=20000)
    outcomes = [scored(f"v{i}", 8.0, float(v)) for i, v in enumerate(values)]
    summary = dataset_summary("mocha", outcomes, n_boot=500)
    lo, hi = summary["lse_c"]["ci95"]
    assert hi - lo < 0.05  # about 4 standard errors of 1 / sqrt(20000) = 0.007


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.integers(0, 2**32 - 1))
def test_interval_is_ordered_and_inside_the_sample_range(values, seed):
    outcomes = [scored(f"v{i}", 1.0, v) for i, v in enumerate(values)]
    result = dataset_summary("mocha", outcomes, seed=seed, n_boot=200)["lse_c"]
    lo, hi = result["ci95"]
    assert min(values) <= lo <= hi <= max(values)
    assert min(values) <= result["mean"] <= max(values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-15, 15), min_size=1, max_size=12))
def test_latentsync_offset_lies_between_zero_and_the_mean(offsets):
    tracks = [track("v", i, 7.0, 5.0, o) for i, o in enumerate(offsets)]
    offset = aggregate_video("latentsync", "v", tracks).offset
    mean = sum(offsets) / len(offsets)
    assert abs(offset) <= abs(mean) < abs(offset) + 1
    assert offset == 0 or (offset > 0) == (mean > 0)


# ----------------------------------------------------------------------------- pairing

def test_paired_difference_by_basename():
    a = [scored("/runs/a/v1.mp4", 8.0, 5.0), scored("/runs/a/v2.mp4", 7.0, 6.0), scored("/runs/a/v3.mp4", 6.0, 7.0),
         scored("/runs/a/v4.mp4", 9.0, 1.0)]
    b = [scored("/runs/b/v1.mp4", 7.0, 6.0), scored("/runs/b/v2.mp4", 7.0, 8.0), scored("/runs/b/v3.mp4", 5.0, 7.0),
         VideoOutcome("/runs/b/v4.mp4", "excluded", "no face track", 0, None, None, None),
         scored("/runs/b/v5.mp4", 6.0, 9.0)]
    result = paired_difference(a, b, n_boot=2000)
    assert (result["direction"], result["n_paired"], result["n_only_a"], result["n_only_b"]) == ("b - a", 3, 1, 1)
    # LSE-C: B - A = 1, 2, 0 -> 1.0; means 6.0 and 7.0
    assert result["lse_c"]["mean_diff"] == 1.0
    assert (result["lse_c"]["mean_a"], result["lse_c"]["mean_b"]) == (6.0, 7.0)
    lo, hi = result["lse_c"]["ci95"]
    assert 0.0 <= lo <= 1.0 <= hi <= 2.0
    # LSE-D: B - A = -1, 0, -1 -> -2/3 (B is better)
    assert result["lse_d"]["mean_diff"] == pytest.approx(-2 / 3)
    assert (result["lse_d"]["mean_a"], result["lse_d"]["mean_b"]) == (7.0, pytest.approx(19 / 3))
    assert -1.0 <= result["lse_d"]["ci95"][0] <= result["lse_d"]["ci95"][1] <= 0.0


def test_paired_difference_of_a_run_with_itself_is_zero():
    result = paired_difference(SPREAD, SPREAD, n_boot=300)
    assert result["lse_c"]["mean_diff"] == 0.0 and result["lse_c"]["ci95"] == [0.0, 0.0]
    assert result["lse_d"]["ci95"] == [0.0, 0.0]


def test_paired_difference_without_lse_d():
    a = [VideoOutcome("x/v1", "scored", None, 1, None, 5.0, 0)]
    b = [VideoOutcome("y/v1", "scored", None, 1, None, 6.5, 0)]
    result = paired_difference(a, b, n_boot=100)
    assert result["lse_d"] is None
    assert result["lse_c"]["mean_diff"] == 1.5


def test_paired_difference_with_a_custom_key():
    a = [scored("x/v1.mp4", 7.0, 5.0)]
    b = [scored("y/v1_out.mp4", 7.0, 6.0)]
    result = paired_difference(a, b, n_boot=100, key=lambda v: v.split("/")[-1].replace("_out", ""))
    assert result["n_paired"] == 1 and result["lse_c"]["mean_diff"] == 1.0


def test_nothing_pairs_is_an_input_error():
    with pytest.raises(InputError, match="no video is scored in both runs \\(1 scored in A, 1 in B\\)"):
        paired_difference([scored("a/v1", 7.0, 5.0)], [scored("b/v2", 7.0, 5.0)])


def test_duplicate_keys_are_an_input_error():
    with pytest.raises(InputError, match="two scored videos of A share the key 'v1.mp4'"):
        paired_difference([scored("x/v1.mp4", 7.0, 5.0), scored("y/v1.mp4", 7.0, 5.0)], [scored("z/v1.mp4", 7.0, 5.0)])


# ----------------------------------------------------------------------------- text

def test_wav2lip_scores_txt_matches_the_float32_print():
    tracks = [track("a", 0, 5.353065490722656, 10.0), track("a", 1, 7.25, 1.5), track("b", 0, 0.1, 3.0)]
    assert format_scores_txt("wav2lip", tracks) == "5.3530655 10.0\n7.25 1.5\n0.1 3.0\n"
    assert format_scores_txt("wav2lip", []) == ""


@pytest.mark.parametrize("name", ["wav2lip-lrs", "latentsync", "mocha"])
def test_other_protocols_write_no_scores_txt(name):
    assert format_scores_txt(name, [track("a", 0, 7.0, 5.0)]) is None


def _summary(**changes):
    summary = {"protocol": "mocha", "unit": "video", "n": 100, "n_videos": 100, "n_scored": 100,
               "n_excluded": 0, "n_failed": 0,
               "lse_d": {"mean": 7.0123, "std": 1.0, "ci95": [6.951, 7.0749]},
               "lse_c": {"mean": 7.8449, "std": 1.0, "ci95": [7.8, 7.891]}}
    summary.update(changes)
    return summary


def test_summary_line():
    assert summary_line(_summary()) == "LSE-D 7.012 [6.95, 7.07]  LSE-C 7.845 [7.80, 7.89]  n=100  protocol mocha"


def test_summary_line_without_lse_d_with_counts_and_tracks():
    line = summary_line(_summary(protocol="latentsync", lse_d=None, n=97, n_excluded=2, n_failed=1))
    assert line == "LSE-D n/a  LSE-C 7.845 [7.80, 7.89]  n=97  excluded 2  failed 1  protocol latentsync"
    line = summary_line(_summary(protocol="wav2lip", unit="track", n=120))
    assert line == "LSE-D 7.012 [6.95, 7.07]  LSE-C 7.845 [7.80, 7.89]  n=120 tracks of 100 videos  protocol wav2lip"


def test_summary_line_of_a_real_summary():
    line = summary_line(dataset_summary("latentsync", [VideoOutcome("a", "scored", None, 1, None, 6.0, 0)], n_boot=50))
    assert line == "LSE-D n/a  LSE-C 6.000 [6.00, 6.00]  n=1  protocol latentsync"


def test_an_excluded_video_keeps_the_batch_reason():
    """The batch record says why no track was scored; the per-video outcome carries it."""
    from syncnet.eval.evaluate import outcomes_of

    records = [{"video": "/v/a.mp4", "status": "ok", "error": None, "reason": "no faces detected", "tracks": []},
               {"video": "/v/b.mp4", "status": "ok", "error": None, "tracks": []},  # a record from before reasons
               {"video": "/v/c.mp4", "status": "ok", "error": None, "reason": "clip shorter than one window",
                "tracks": [{"track": 0, "start_frame": 0, "end_frame": 3, "offset": None, "min_dist": None,
                            "confidence": None}]}]
    _, outcomes = outcomes_of(get_protocol("mocha"), records)
    assert [(o.status, o.reason) for o in outcomes] == [("excluded", "no faces detected"),
                                                        ("excluded", "no face track"),
                                                        ("excluded", "clip shorter than one window")]

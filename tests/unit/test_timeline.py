"""The timeline on constructed distances whose per-window minimum is known, its JSON, its options,
the repairs' sample arithmetic on signals made here, and its refusals.

The distances are built so that window i's lowest distance lies at the column of a chosen
offset profile d(t) (a smooth bowl around it), so every segment's true offset is the profile's
value; nothing here restates the timeline's own arithmetic.
"""
import json

import numpy as np
import pytest
from scipy import signal

from syncnet.errors import InputError
from syncnet.options import TimelineOptions, with_options
from syncnet.repair.warp import drift_warp, piecewise_shift
from syncnet.timeline import build_timeline, check_segment_fits
from tests.helpers import lag_at

VSHIFT = 15
RATE = 25


def constructed(profile, seconds, silent=(), seed=0):
    """(dists, energy, n_frames): window i's distances dip at offset profile((i + 2.5) / 25) frames,
    and its energy varies as speech does, but is low and steady in the `silent` spans (where the
    dip is gone: no speech, no match)."""
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * RATE))
    n_windows = n_frames - 5
    centres = (np.arange(n_windows) + 2.5) / RATE
    offsets = np.array([profile(t) for t in centres])
    columns = np.arange(2 * VSHIFT + 1)
    best_column = VSHIFT - offsets
    dists = 10 + 2 * np.sqrt(1 + (columns[None, :] - best_column[:, None]) ** 2) + rng.normal(0, 1.0, (n_windows, 31))
    # Speech's loudness varies by syllable and pause, 17 to 21 (17 dB); a steady level is no speech.
    energy = rng.uniform(17, 21, n_windows)
    for start, stop in silent:
        quiet = (centres >= start) & (centres < stop)
        dists[quiet] = 14 + rng.normal(0, 1.0, (quiet.sum(), 31))
        energy[quiet] = 14 + rng.normal(0, 0.1, quiet.sum())
    return dists.astype(np.float32), energy, n_frames


def timeline_of(profile, seconds=60.0, silent=(), **options):
    dists, energy, n_frames = constructed(profile, seconds, silent)
    return build_timeline(dists, energy, n_frames, VSHIFT, TimelineOptions(**options), min_conf=1.0)


def test_constant_offset_is_found_in_every_segment_and_in_ms():
    timeline = timeline_of(lambda t: 4)
    assert timeline.verdict == "constant_offset"
    assert len(timeline.segments) == 23  # 0-5, 2.5-7.5, ... 55-60
    assert all(segment.reliable and segment.offset_frames == 4 for segment in timeline.segments)
    record = timeline.record()
    assert {segment["offset_ms"] for segment in record["segments"]} == {160.0}
    assert record["offset_ms_at_start"] == pytest.approx(160, abs=20)
    assert record["drift_ms_per_min"] == 0 and record["jumps_s"] == []


def test_in_sync_within_the_tolerance_and_out_of_it_when_narrowed():
    assert timeline_of(lambda t: 1).verdict == "in_sync"            # +40 ms: inside +45/-125
    assert timeline_of(lambda t: -3).verdict == "in_sync"           # -120 ms
    assert timeline_of(lambda t: -4).verdict == "constant_offset"   # -160 ms
    assert timeline_of(lambda t: 1, tolerance_ms="+30/-60").verdict == "constant_offset"


def test_drift_is_a_line_with_its_rate():
    timeline = timeline_of(lambda t: 8 * t / 60)
    assert timeline.verdict == "drift"
    for segment in timeline.segments:
        assert abs(segment.offset_frames - 8 * segment.centre_s / 60) <= 1
    # 8 frames (320 ms) a minute.
    assert timeline.drift_ms_per_min == pytest.approx(320, rel=0.2)
    assert timeline.offset_ms_at_start == pytest.approx(0, abs=40)
    assert timeline.offset_ms_at_end == pytest.approx(320, abs=40)


def test_a_jump_is_found_within_one_hop():
    timeline = timeline_of(lambda t: 0 if t < 30 else -5)
    assert timeline.verdict == "jumps"
    assert len(timeline.jumps_s) == 1 and abs(timeline.jumps_s[0] - 30) <= timeline.hop_s
    assert timeline.offset_ms_at_start == pytest.approx(0, abs=20)
    assert timeline.offset_ms_at_end == pytest.approx(-200, abs=20)


def test_a_silence_is_marked_and_given_no_offset():
    timeline = timeline_of(lambda t: 0, silent=[(25, 35)])
    assert timeline.verdict == "in_sync"
    inside = [segment for segment in timeline.segments if 25 <= segment.start_s and segment.end_s <= 35]
    assert inside, "some segments lie wholly in the silence"
    for segment in inside:
        assert segment.offset_frames is None and segment.offset_ms is None and not segment.reliable
    outside = [segment for segment in timeline.segments if segment.end_s <= 25 or segment.start_s >= 35]
    assert all(segment.offset_frames == 0 and segment.reliable for segment in outside)


def test_too_few_confident_segments_are_unreliable():
    dists, energy, n_frames = constructed(lambda t: 4, 30)
    timeline = build_timeline(dists, energy, n_frames, VSHIFT, TimelineOptions(), min_conf=1000)
    assert timeline.verdict == "unreliable" and timeline.fit is None
    record = timeline.record()
    assert record["drift_ms_per_min"] is None and record["offset_ms_at_start"] is None


def test_one_wrong_segment_does_not_make_a_jump():
    timeline = timeline_of(lambda t: 12 if 30 <= t < 31 else 4)
    assert timeline.verdict == "constant_offset"


def test_the_json_has_the_documented_keys_and_no_nan():
    dists, energy, n_frames = constructed(lambda t: 2, 12)
    dists[:] = np.nan  # every distance unknown: the numbers must come out as null, not NaN
    record = build_timeline(dists, energy, n_frames, VSHIFT).record()
    assert set(record) == {"segment_s", "hop_s", "tolerance_ms", "segments", "verdict", "drift_ms_per_min",
                           "offset_ms_at_start", "offset_ms_at_end", "jumps_s"}
    assert set(record["segments"][0]) == {"start_s", "end_s", "offset_frames", "offset_ms", "min_dist",
                                          "confidence", "reliable", "at_edge"}
    json.dumps(record, allow_nan=False)


def test_segments_cover_the_video_to_its_end():
    timeline = timeline_of(lambda t: 0, seconds=12.0)
    spans = [(segment.start_s, segment.end_s) for segment in timeline.segments]
    assert spans[:3] == [(0, 5), (2.5, 7.5), (5, 10)]
    assert spans[-1] == (7.0, 12.0)  # the hops stop at 7.5-12.5 > 12 s: one more ends at the end


def test_options_have_their_defaults_and_refuse_bad_values():
    assert TimelineOptions() == TimelineOptions(segment_s=5, hop_s=2.5, tolerance_ms=(-125, 45))
    assert TimelineOptions(tolerance_ms="+40/-60").tolerance_ms == (-60, 40)
    assert TimelineOptions(tolerance_ms=50).tolerance_ms == (-50, 50)
    for bad, words in [({"hop_s": 0}, "--hop_s 0: expected a number >= 0.04"),
                       ({"hop_s": -1}, "--hop_s -1: expected a number >= 0.04"),
                       ({"hop_s": 0.039}, "--hop_s 0.039: expected a number >= 0.04"),
                       ({"tolerance_ms": "soon"}, "--tolerance_ms 'soon': expected a tolerance in ms"),
                       ({"tolerance_ms": "nan"}, "--tolerance_ms 'nan'"),
                       ({"tolerance_ms": "10,20"}, "--tolerance_ms '10,20'")]:
        with pytest.raises(InputError, match=words.replace("(", r"\(")):
            TimelineOptions(**bad)
    with pytest.raises(InputError, match=r"--segment_s 20: the video is only 12.50 s long; use --segment_s 12.5"):
        check_segment_fits(TimelineOptions(segment_s=20), 12.5)
    assert with_options((TimelineOptions(),), {"segment_s": 4})[0].segment_s == 4


# --- the repairs' arithmetic, checked by cross-correlation ---------------------------------------


def noise(seconds, rate, seed=1, cutoff_hz=None):
    """int16 noise, low-passed at `cutoff_hz` (its correlation then spans a few samples, so it
    survives the slight stretch of a drift repair)."""
    values = np.random.default_rng(seed).normal(0, 3000, int(seconds * rate))
    if cutoff_hz:
        values = signal.sosfiltfilt(signal.butter(4, cutoff_hz, fs=rate, output="sos"), values) * 4
    return values.astype(np.int16)


def test_drift_warp_brings_every_moment_to_offset_zero():
    rate = 16000
    source = noise(40, rate, cutoff_hz=300)
    # Audio early by d(t) = 1 + 0.2 t frames: at time t it carries what belongs to t + d(t)/25.
    intercept, slope = 1.0, 0.2
    warped, ratio, delay = drift_warp(source, rate, intercept, slope)
    assert warped.shape == source.shape and warped.dtype == source.dtype
    assert ratio == pytest.approx(1 / (1 - slope / RATE), rel=1e-9)
    for t in (5.0, 15.0, 25.0, 35.0):
        # The content at output time t is the source's at t - d(t)/25: a lag of d(t)/25 s.
        expected = (intercept + slope * t) / RATE * rate
        # Within 1 ms (16 samples), far inside one frame (640 samples).
        assert abs(lag_at(source, warped, t - expected / rate, rate, half_s=0.1) - expected) <= 16


def test_piecewise_shift_moves_each_piece_by_its_level():
    rate = 16000
    source = noise(20, rate)
    moved = piecewise_shift(source, rate, [2.0, -3.0], [10.0])
    assert moved.shape == source.shape
    assert lag_at(source, moved, 4.0, rate) == 2 * 640
    assert lag_at(source, moved, 16.0, rate) == -3 * 640




# --- what the verdict may claim (issue 23) -------------------------------------------------------


def scattered(seconds=60.0, silent_level=None, seed=3):
    """(dists, energy, n_frames) with no sync peak anywhere: every column alike but for noise, as an
    unconfident network or a silent clip gives. With `silent_level`, a steady energy at that level
    (silence, hum or noise); else speech-like energy."""
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * RATE))
    dists = 12 + rng.normal(0, 1.0, (n_frames - 5, 2 * VSHIFT + 1))
    energy = (rng.uniform(17, 21, n_frames - 5) if silent_level is None
              else silent_level + rng.normal(0, 0.1, n_frames - 5))
    return dists.astype(np.float32), energy, n_frames


def test_a_drift_past_the_search_range_is_out_of_range_not_jumps():
    # 0 to 25 frames over a minute: from about 36 s the true offset lies beyond +15.
    timeline = timeline_of(lambda t: int(round(25 * t / 60)))
    edge = [segment for segment in timeline.segments if segment.at_edge]
    assert edge and all(segment.offset_frames == VSHIFT and segment.centre_s > 33 for segment in edge)
    assert all(not segment.at_edge for segment in timeline.segments if segment.centre_s < 33)
    assert timeline.verdict == "out_of_range" and timeline.fit is None and timeline.jumps_s == []
    assert all(segment["at_edge"] == (segment["offset_frames"] == VSHIFT)
               for segment in timeline.record()["segments"])


def test_one_segment_at_the_edge_is_left_out_not_out_of_range():
    timeline = timeline_of(lambda t: 15 if 30 <= t < 31 else 4)
    assert sum(segment.at_edge for segment in timeline.segments) <= 2
    assert timeline.verdict == "constant_offset" and timeline.steady_offset_frames == 4


def test_min_conf_zero_on_segments_without_a_peak_is_unreliable():
    dists, energy, n_frames = scattered()
    timeline = build_timeline(dists, energy, n_frames, VSHIFT, TimelineOptions(), min_conf=0)
    assert all(segment.reliable for segment in timeline.segments)  # min_conf 0 trusts every one...
    assert timeline.verdict == "unreliable" and timeline.fit is None  # ...but they follow no course


def test_min_conf_zero_on_an_all_silent_clip_is_unreliable():
    for level in (14.0, -20.0):  # hum and noise; digital silence
        dists, energy, n_frames = scattered(silent_level=level)
        timeline = build_timeline(dists, energy, n_frames, VSHIFT, TimelineOptions(), min_conf=0)
        assert not any(segment.speech for segment in timeline.segments)
        assert timeline.verdict == "unreliable" and timeline.steady_offset_frames is None


def test_a_course_inside_the_tolerance_is_in_sync_even_with_a_stray_segment():
    timeline = timeline_of(lambda t: 12 if 30 <= t < 31 else 0)
    assert timeline.verdict == "in_sync" and timeline.steady_offset_frames == 0


def test_the_steady_offset_is_the_verdicts():
    assert timeline_of(lambda t: -6).steady_offset_frames == -6
    assert timeline_of(lambda t: 8 * t / 60).steady_offset_frames is None  # drift has no one offset


def test_a_hop_below_one_frame_is_refused_and_segments_stay_bounded():
    with pytest.raises(InputError, match=r"--hop_s 1e-06: expected a number >= 0.04"):
        TimelineOptions(hop_s=1e-6)
    timeline = timeline_of(lambda t: 2, seconds=8.0, hop_s=0.04, segment_s=1.0)
    assert len(timeline.segments) <= 8 * RATE


def test_drift_warp_refuses_a_slope_it_cannot_resample():
    from syncnet.repair.resync import RepairRefused

    for slope in (25.0, 40.0, -25.0):  # 25 frames/s: the audio would stand still
        with pytest.raises(RepairRefused, match="too steep to repair by resampling"):
            drift_warp(noise(1, 16000), 16000, 0.0, slope)

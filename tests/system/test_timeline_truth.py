"""The timeline against the synthetic world's truth, with the trained test model.

Each clip is made and scored once (module fixtures) and every assertion reads that one score:
about 4 minutes of clips (3 x 60 s, 1 x 30 s, and the 60 s repaired drift clip scored again),
each second of which costs about a second of CPU through the network.

The repair checks compare samples in this file's own code: cross-correlation of pieces of the
repaired audio with the source warped along the truth's course (no residual beyond one frame),
the decoded lengths, and the video packets' checksums read by stream copy.
"""
import json
from pathlib import Path

import pytest

from syncnet.io import media
from syncnet.repair.warp import drift_warp
from syncnet.synthetic import constant, jump, linear, make_face_clip
from tests.helpers import TEST_DEVICE, decoded_audio, lag_at, run_command, video_packets

# The first test's setup waits for the trained model (tests/conftest.py gives it the time) and scores
# every clip.

# The trained test model's 5 s segments with speech scored 1.0 to 5.0 (3.0 to 4.3 on the constant
# clip, 2.7 to 5.0 on the drift clip; lower where a segment holds the jump or borders the silence)
# and its silent ones under 0.01 (measured 2026-12-07), so reliability is judged at 0.3, well
# between the two, instead of the default 3, which would leave out many speech segments.
MIN_CONF = 0.3
SAMPLES_PER_FRAME = 640


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The synthetic clips, by name: their truths."""
    folder = tmp_path_factory.mktemp("timeline_clips")
    return {
        "constant": make_face_clip(folder / "constant.avi", seconds=60.0, seed=11, offset=constant(4)),
        "drift": make_face_clip(folder / "drift.avi", seconds=60.0, seed=12, offset=linear(0, 8)),
        "jump": make_face_clip(folder / "jump.avi", seconds=60.0, seed=13, offset=jump(0, -5, 30.0)),
        "silence": make_face_clip(folder / "silence.avi", seconds=30.0, seed=14, offset=constant(0),
                                  silences=((10.0, 20.0),)),
    }


def demo(model, video, work, *extra):
    """demo_syncnet.py --timeline on `video`; returns (stdout, the timeline JSON)."""
    timeline = work / f"{Path(video).stem}.timeline.json"  # ClipTruth.path is a str
    result = run_command("demo_syncnet.py", "--initial_model", model, "--videofile", video, "--tmp_dir",
                         work / "tmp", "--device", TEST_DEVICE, "--quiet", "--min_conf", MIN_CONF, "--timeline",
                         timeline, *extra, cwd=work)
    return result.stdout, json.loads(timeline.read_text())


@pytest.fixture(scope="module")
def timelines(clips, trained_syncnet, tmp_path_factory):
    """Each clip's demo run once: name -> (stdout, timeline). The drift clip's run also writes
    its repair and plot, and the repaired clip is scored again ('repaired')."""
    work = tmp_path_factory.mktemp("timeline_runs")
    runs = {name: demo(trained_syncnet, truth.path, work) for name, truth in clips.items() if name != "drift"}
    repaired = work / "drift_synced.avi"
    runs["drift"] = demo(trained_syncnet, clips["drift"].path, work, "--write_synced", repaired,
                         "--plot", work / "drift_plot.png")
    runs["repaired"] = demo(trained_syncnet, repaired, work)
    return runs, repaired, work


def reliable(timeline):
    return [segment for segment in timeline["segments"] if segment["reliable"]]


def centre(segment):
    return (segment["start_s"] + segment["end_s"]) / 2


def test_constant_offset(timelines):
    (_, timeline) = timelines[0]["constant"]
    assert len(reliable(timeline)) >= len(timeline["segments"]) // 2
    for segment in reliable(timeline):
        assert abs(segment["offset_frames"] - 4) <= 1, segment
    assert timeline["verdict"] == "constant_offset"
    assert timeline["offset_ms_at_start"] == pytest.approx(160, abs=20)
    assert timeline["offset_ms_at_end"] == pytest.approx(160, abs=20)
    assert [segment["offset_ms"] for segment in reliable(timeline)].count(160.0) > len(reliable(timeline)) / 2


def test_drift(timelines, clips):
    (_, timeline) = timelines[0]["drift"]
    truth = clips["drift"]
    assert len(reliable(timeline)) >= len(timeline["segments"]) // 2
    for segment in reliable(timeline):
        assert abs(segment["offset_frames"] - truth.offset_at(centre(segment))) <= 1, segment
    assert timeline["verdict"] == "drift"
    true_rate = 8 * 40.0  # 8 frames of 40 ms over the 60 s clip
    assert timeline["drift_ms_per_min"] == pytest.approx(true_rate, rel=0.2)


def test_drift_repair_is_in_sync_everywhere(timelines):
    runs, _, _ = timelines
    stdout, _ = runs["drift"]
    assert "audio drift of +" in stdout and "ms/min removed: resampled by" in stdout
    (_, timeline) = runs["repaired"]
    assert timeline["verdict"] == "in_sync"
    late, early = timeline["tolerance_ms"]
    for segment in reliable(timeline):
        assert late <= segment["offset_ms"] <= early, segment


def test_drift_repair_leaves_no_residual_beyond_one_frame(timelines, clips, tmp_path):
    _, repaired, _ = timelines
    truth = clips["drift"]
    rate, source = decoded_audio(Path(truth.path), tmp_path)
    repaired_rate, output = decoded_audio(repaired, tmp_path)
    assert repaired_rate == rate and output.shape == source.shape, "the copy keeps the input's length"
    # The oracle: the source warped along the truth's own course (the warp is checked on noise in
    # unit/test_timeline.py). Both then run at nearly one speed, so cross-correlating short pieces is
    # exact; the source against a warped copy is not (the stretch smears this speech's peaks).
    # The lag against the oracle is how far the repair's fitted course is from the truth.
    seconds = truth.seconds
    slope = (truth.offset_at(seconds) - truth.offset_at(0.0)) / seconds
    ideal, _, _ = drift_warp(source, rate, truth.offset_at(0.0), slope)
    for time_s in (8.0, 20.0, 32.0, 44.0, 54.0):
        residual = lag_at(ideal, output, time_s, rate, half_s=0.2)
        assert abs(residual) <= SAMPLES_PER_FRAME * rate / media.SAMPLE_RATE, (time_s, residual)


def test_drift_repair_copies_the_video_stream(timelines, clips, tmp_path):
    _, repaired, _ = timelines
    assert video_packets(repaired, tmp_path) == video_packets(Path(clips["drift"].path), tmp_path)


def test_jump(timelines, clips):
    (_, timeline) = timelines[0]["jump"]
    assert timeline["verdict"] == "jumps"
    assert len(timeline["jumps_s"]) == 1
    assert abs(timeline["jumps_s"][0] - 30.0) <= timeline["hop_s"]
    assert timeline["offset_ms_at_start"] == pytest.approx(0, abs=40)
    assert timeline["offset_ms_at_end"] == pytest.approx(-200, abs=40)


def test_silence_is_marked_and_in_sync(timelines, clips):
    (_, timeline) = timelines[0]["silence"]
    assert timeline["verdict"] == "in_sync"
    silent = [segment for segment in timeline["segments"] if segment["start_s"] >= 10 and segment["end_s"] <= 20]
    assert len(silent) == 3  # 10-15, 12.5-17.5, 15-20
    for segment in silent:
        assert segment["offset_frames"] is None and segment["offset_ms"] is None and not segment["reliable"]
    spoken = [segment for segment in timeline["segments"] if segment["end_s"] <= 10 or segment["start_s"] >= 20]
    assert spoken and all(segment["offset_frames"] is not None for segment in spoken)


def test_the_drift_plot_is_drawn(timelines):
    _, _, work = timelines
    image = (work / "drift_plot.png").read_bytes()
    assert image.startswith(b"\x89PNG")

"""Repairing the lag: the exact audio shift, the consensus offset, and the refusals of the repair's
options. (The demo's repaired copies and plots: integration/test_resync.py.)"""
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import demo_syncnet
import run_syncnet
from syncnet.errors import InputError
from syncnet.repair.resync import audio_codec_for, consensus_offset, samples_for_offset, shift_samples, write_synced
from syncnet.scoring.results import TrackResult

# --- the shift itself ---------------------------------------------------------------------------

@given(st.lists(st.integers(-32768, 32767), max_size=50), st.integers(-60, 60))
def test_shift_samples_moves_pads_and_trims(values, shift):
    samples = np.array(values, dtype=np.int16)
    shifted = shift_samples(samples, shift)
    assert shifted.dtype == samples.dtype and shifted.shape == samples.shape
    for index in range(len(samples)):
        source = index - shift
        assert shifted[index] == (samples[source] if 0 <= source < len(samples) else 0)


def test_shift_samples_moves_every_channel_together():
    stereo = np.arange(20, dtype=np.int16).reshape(10, 2)
    np.testing.assert_array_equal(shift_samples(stereo, 3)[3:], stereo[:7])
    np.testing.assert_array_equal(shift_samples(stereo, -3)[:7], stereo[3:])


def test_offsets_become_samples_at_the_audio_rate():
    assert samples_for_offset(3, 16000) == 1920 and samples_for_offset(-4, 16000) == -2560
    assert samples_for_offset(1, 44100) == 1764 and samples_for_offset(-2, 48000) == -3840


def test_containers_get_an_audio_codec_they_accept(tmp_path):
    assert audio_codec_for("out.AVI") == audio_codec_for("out.mkv") == "pcm_s16le"
    assert audio_codec_for("out.mp4") == "aac"
    with pytest.raises(InputError, match="must be .avi"):
        audio_codec_for("out.webm")
    with pytest.raises(InputError, match="that is the input .*clip.avi .the same file., which the run would overwrite"):
        write_synced(tmp_path / "clip.avi", tmp_path / "clip.avi", 1)


# --- the consensus over tracks ------------------------------------------------------------------

def tracks(*offsets_and_confidences):
    return [TrackResult(track=index, file="%05d.avi" % index, offset=offset, min_dist=7.0, confidence=confidence,
                        frames=np.arange(10), boxes=np.zeros((10, 4)), frame_confidence=np.zeros(10),
                        dists=np.zeros((5, 31)))
            for index, (offset, confidence) in enumerate(offsets_and_confidences)]


def test_consensus_is_the_confidence_weighted_mean_of_confident_tracks():
    assert consensus_offset(tracks((3, 8.0))) == 3
    # (3*9 + 4*3) / 12 = 3.25; the unconfident track at 10 has no vote.
    assert consensus_offset(tracks((3, 9.0), (4, 3.0), (10, 2.9))) == 3
    assert consensus_offset(tracks((3, 3.0), (4, 9.0))) == 4
    assert consensus_offset(tracks((-2, 5.0), (-1, 5.0))) == -1  # halves round up
    assert consensus_offset(tracks((0, 0.5), (1, 0.6)), min_conf=0.5) == 1


def test_min_conf_zero_lets_every_scored_track_vote():
    # (2*0.2 + 3*0.6) / 0.8 = 2.75 -> 3; tracks of confidence 0 weigh alike: (4 + 5) / 2 = 4.5 -> 5.
    assert consensus_offset(tracks((2, 0.2), (3, 0.6)), min_conf=0) == 3
    assert consensus_offset(tracks((4, 0.0), (5, 0.0)), min_conf=0) == 5


def test_consensus_refuses_when_no_track_is_confident():
    with pytest.raises(InputError, match=r"no track has confidence >= --min_conf 3 .*00001\.avi.*2\.500"):
        consensus_offset(tracks((3, 1.0), (3, 2.5)))
    with pytest.raises(InputError, match="there are no scored face tracks"):
        consensus_offset([])
    unscored = [dataclasses.replace(track, offset=None) for track in tracks((0, float("nan")))]
    with pytest.raises(InputError, match="there are no scored face tracks"):
        consensus_offset(unscored)


def test_consensus_refuses_when_confident_tracks_disagree():
    with pytest.raises(InputError, match=r"disagree by more than one frame \(00000\.avi \+3 .*00002\.avi \+1"):
        consensus_offset(tracks((3, 8.0), (2, 7.0), (1, 6.0)))


def test_run_syncnet_refuses_with_one_line(tmp_path, capsys):
    data_dir = tmp_path / "work"
    common = ["--data_dir", str(data_dir), "--reference", "r"]
    for extra, message in [(["--offset", "2"], "--offset only applies with --write_synced\n"),
                           (["--write_synced"], "holds no completed run_pipeline.py run (no pipeline.json): "
                                                "run run_pipeline.py with this --data_dir and --reference "
                                                "before run_syncnet.py\n")]:
        with pytest.raises(SystemExit) as exit_info:
            run_syncnet.main(common + extra)
        assert exit_info.value.code == 1
        assert capsys.readouterr().err.endswith(message)
    assert not (data_dir / "pyavi" / "r" / "video_synced.avi").exists()


# --- demo_syncnet --write_synced / --offset / --plot ---------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--write_synced", "out.webm"], "must be .avi"),
    (["--offset", "3"], "--offset only applies with --write_synced"),
    (["--plot", "plot.gif"], "the plot must end with .png"),
    (["--hop_s", "0"], "--hop_s 0: expected a number >= 0.04"),
    (["--hop_s", "-2"], "--hop_s -2: expected a number >= 0.04"),
    (["--hop_s", "1e-6"], "--hop_s 1e-06: expected a number >= 0.04"),
    (["--tolerance_ms", "abc"], "--tolerance_ms 'abc': expected a tolerance in ms"),
    (["--timeline", "out.txt"], "--timeline out.txt: the timeline is written as JSON"),
])
def test_demo_refuses_bad_options_before_scoring(extra, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo_syncnet.main(["--initial_model", str(tmp_path / "missing.model")] + extra)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error

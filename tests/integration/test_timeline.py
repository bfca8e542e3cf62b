"""The timeline through real media: the demo's refusal of a segment longer than the video, and
run_syncnet's drift repair of a late track on a synthetic clip, checked by cross-correlation."""
import numpy as np
import pytest

import demo_syncnet
from syncnet.io.media import FRAME_RATE
from syncnet.repair.warp import drift_warp
from tests.helpers import lag_at


def test_demo_refuses_a_segment_longer_than_the_video(clip, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo_syncnet.main(["--initial_model", str(tmp_path / "missing.model"), "--videofile",
                           str(clip("example.avi")), "--timeline", str(tmp_path / "t.json"), "--segment_s", "60"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--segment_s 60: the video is only" in error[0], error


@pytest.mark.slow
def test_run_syncnets_repair_moves_a_late_tracks_drift_to_the_videos_clock(tmp_path):
    """A track that starts 5 s into the video measures its drift from its own first frame;
    run_syncnet's repair (repair_tracks) must warp the audio for the drift on the video's clock.
    Had it not moved the fit, every moment would be 1.5 frames (960 samples) off."""
    from pathlib import Path

    from syncnet.repair.warp import repair_tracks
    from syncnet.scoring.results import TrackResult, VideoResult
    from syncnet.synthetic import linear, make_face_clip
    from syncnet.timeline import Timeline
    from syncnet.timeline.fits import Fit
    from tests.helpers import decoded_audio

    seconds, start_s = 20.0, 5.0
    truth = make_face_clip(tmp_path / "drift.avi", seconds=seconds, seed=7, offset=linear(0, 6))
    slope = (truth.offset_at(seconds) - truth.offset_at(0.0)) / seconds  # frames per second
    # The track's timeline as a perfect scorer would give it: the truth on the track's clock.
    fit = Fit("linear", ((truth.offset_at(start_s), slope),), (), 0.0)
    timeline = Timeline(segment_s=5.0, hop_s=2.5, tolerance_ms=(-125.0, 45.0), duration_s=seconds - start_s,
                        verdict="drift", fit=fit)
    n_frames = int(seconds * FRAME_RATE)
    frames = np.arange(int(start_s * FRAME_RATE), n_frames)
    track = TrackResult(track=0, file="00000.avi", offset=3, min_dist=5.0, confidence=6.0, frames=frames,
                        boxes=np.zeros((len(frames), 4)), frame_confidence=np.zeros(len(frames)),
                        dists=np.zeros((len(frames) - 4, 31)), timeline=timeline)
    result = VideoResult(video=truth.path, n_frames=n_frames, tracks=[track], converted=truth.path)
    target = tmp_path / "synced.avi"
    assert repair_tracks(result, str(target)).kind == "drift"
    rate, source = decoded_audio(Path(truth.path), tmp_path)
    _, output = decoded_audio(target, tmp_path)
    # The warp itself is checked above (test_drift_warp_...); here, which course it was given:
    # the truth's on the video's clock, offset_at(0) at the video's first frame.
    expected, _, _ = drift_warp(source, rate, truth.offset_at(0.0), slope)
    assert output.shape == source.shape
    for time_s in (6.0, 10.0, 14.0, 18.0):
        assert abs(lag_at(expected, output, time_s, rate, half_s=0.2)) <= 2, time_s

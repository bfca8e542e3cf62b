"""Who speaks when (speakers.json), confidence.png, and run_syncnet --write_synced, on twoface.mp4."""
import json
import pickle

import cv2
import numpy as np
import pytest

from syncnet.scoring.results import track_result
from syncnet.scoring.distances import summarise
from syncnet.scoring.speakers import speakers_document, speaking_segments, speaking_track
from tests.helpers import (TWOFACE, TWOFACE_SPEAKER_THRESHOLD, TWOFACE_SYNC_OFFSET, assert_shifted_exactly,
                           decoded_audio, reference_frame_confidence, run_script, runs_of, video_packets)


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


# --- on the shared twoface run --------------------------------------------------------------------

def _work(data_dir, name):
    return data_dir / "pywork" / TWOFACE / name


@pytest.fixture(scope="module")
def speakers(twoface_run):
    data_dir, _ = twoface_run
    return json.loads(_work(data_dir, "speakers.json").read_text())


@pytest.mark.slow
def test_speakers_json_agrees_with_activesd(twoface_run, speakers):
    data_dir, _ = twoface_run
    with open(_work(data_dir, "activesd.pckl"), "rb") as handle:
        activesd = pickle.load(handle)
    with open(_work(data_dir, "tracks.pckl"), "rb") as handle:
        tracks = pickle.load(handle)
    records = json.loads(_work(data_dir, "offsets.json").read_text())["tracks"]
    n_frames = len(list((data_dir / "pyframes" / TWOFACE).glob("*.jpg")))

    assert speakers["frame_rate"] == 25 and speakers["speaker_threshold"] == TWOFACE_SPEAKER_THRESHOLD
    assert speakers["tracks"] == [{key: r[key] for key in ("track", "file", "start_frame", "end_frame")}
                                  for r in records]
    assert [entry["frame"] for entry in speakers["frames"]] == list(range(n_frames))
    expected = [{} for _ in range(n_frames)]
    for index, (track, dists) in enumerate(zip(tracks, activesd)):
        confidence = reference_frame_confidence(dists)
        for position, frame in enumerate(track["track"]["frame"]):
            expected[frame][str(index)] = pytest.approx(float(confidence[position]), abs=1e-5)
    assert [entry["confidence"] for entry in speakers["frames"]] == expected


@pytest.mark.slow
def test_speaking_track_follows_the_highest_confidence_rule(speakers):
    threshold = speakers["speaker_threshold"]
    named = 0
    for entry in speakers["frames"]:
        confidence = {int(track): value for track, value in entry["confidence"].items()}
        best = max(confidence.values(), default=None)
        if best is None or best <= threshold:
            assert entry["speaker"] is None, entry
        else:
            assert entry["speaker"] == min(t for t, value in confidence.items() if value == best), entry
            named += 1
    assert named > 0, "the twoface run's threshold lets some frames have a speaker"
    runs = runs_of([entry["speaker"] for entry in speakers["frames"]])
    assert speakers["segments"] == [{"track": track, "start_frame": first, "end_frame": last}
                                    for track, first, last in runs]


@pytest.mark.slow
def test_run_syncnet_writes_the_synced_video(twoface_run, tmp_path):
    data_dir, _ = twoface_run
    video = data_dir / "pyavi" / TWOFACE / "video.avi"
    synced = data_dir / "pyavi" / TWOFACE / "video_synced.avi"
    rate, original = decoded_audio(video, tmp_path)
    synced_rate, shifted = decoded_audio(synced, tmp_path)
    assert synced_rate == rate
    assert_shifted_exactly(original, shifted, TWOFACE_SYNC_OFFSET * rate // 25)
    assert video_packets(synced, tmp_path) == video_packets(video, tmp_path)


@pytest.mark.slow
def test_confidence_plot_is_an_image_and_is_redrawn(twoface_run):
    data_dir, _ = twoface_run
    plot = data_dir / "pyavi" / TWOFACE / "confidence.png"
    image = cv2.imread(str(plot))
    assert image is not None
    height, width = image.shape[:2]
    assert 400 <= height <= 3000 and 600 <= width <= 2500  # taller since the offset-over-time panels
    plot.write_bytes(b"stale")
    stale = plot.stat().st_mtime_ns
    run_script("run_visualise.py", "--data_dir", data_dir, "--reference", TWOFACE, cwd=data_dir)
    assert plot.stat().st_mtime_ns != stale
    redrawn = cv2.imread(str(plot))
    assert redrawn is not None and redrawn.shape == image.shape

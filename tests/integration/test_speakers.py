"""Who speaks when (speakers.json), confidence.png, and run_syncnet --write_synced, on the shared
twoface.mp4 run, against SPEC's arithmetic (tests/helpers.py)."""
import json
import pickle
import shutil

import cv2
import pytest

from tests.helpers import (
    TWOFACE,
    TWOFACE_SPEAKER_THRESHOLD,
    TWOFACE_SYNC_OFFSET,
    assert_shifted_exactly,
    decoded_audio,
    reference_speaking_score,
    run_command,
    runs_of,
    speaking_frames_oracle,
    video_packets,
)


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
        confidence = reference_speaking_score(dists)
        for position, frame in enumerate(track["track"]["frame"]):
            expected[frame][str(index)] = pytest.approx(float(confidence[position]), abs=1e-5)
    assert [entry["confidence"] for entry in speakers["frames"]] == expected


@pytest.mark.slow
def test_speaking_track_follows_the_hysteresis_rule(speakers):
    """Each track speaks where speaking_frames_oracle says (the defaults' release and minimum run,
    the run's threshold); the frame's speaker is the speaking track with the highest score."""
    from syncnet.options import OutputOptions

    threshold, defaults = speakers["speaker_threshold"], OutputOptions()
    tracks = {str(entry["track"]): entry for entry in speakers["tracks"]}
    speaking = {}
    for name, entry in tracks.items():
        frames = range(entry["start_frame"], entry["end_frame"] + 1)
        scores = [speakers["frames"][frame]["confidence"].get(name, float("nan")) for frame in frames]
        speaking[name] = dict(zip(frames, speaking_frames_oracle(scores, threshold, defaults.speaker_release,
                                                                 defaults.min_speaking_frames)))
    named = 0
    for entry in speakers["frames"]:
        talking = {int(name): value for name, value in entry["confidence"].items()
                   if speaking[name].get(entry["frame"])}
        if not talking:
            assert entry["speaker"] is None, entry
        else:
            best = max(talking.values())
            assert entry["speaker"] == min(t for t, value in talking.items() if value == best), entry
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
def test_confidence_plot_is_an_image_and_is_redrawn(twoface_run, tmp_path):
    data_dir = tmp_path / "work"
    shutil.copytree(twoface_run[0], data_dir)  # the shared run stays as it was for the other tests
    plot = data_dir / "pyavi" / TWOFACE / "confidence.png"
    image = cv2.imread(str(plot))
    assert image is not None
    height, width = image.shape[:2]
    assert 400 <= height <= 3000 and 600 <= width <= 2500  # taller since the offset-over-time panels
    plot.write_bytes(b"stale")
    stale = plot.stat().st_mtime_ns
    run_command("run_visualise.py", "--data_dir", data_dir, "--reference", TWOFACE, cwd=data_dir)
    assert plot.stat().st_mtime_ns != stale
    redrawn = cv2.imread(str(plot))
    assert redrawn is not None and redrawn.shape == image.shape


@pytest.mark.slow
def test_visualise_speakers_draws_speaking_faces_green_and_silent_ones_red(twoface_run, tmp_path):
    """run_visualise --speakers: on a frame, the box of a face that speakers.rttm has speaking is
    green, any other red (read back from video_out.avi on the box's left edge)."""
    data_dir = tmp_path / "work"
    shutil.copytree(twoface_run[0], data_dir)
    run_command("run_visualise.py", "--data_dir", data_dir, "--reference", TWOFACE, "--speakers", cwd=data_dir)
    with open(_work(data_dir, "tracks.pckl"), "rb") as handle:
        tracks = pickle.load(handle)
    speaking = {}
    for line in _work(data_dir, "speakers.rttm").read_text().splitlines():
        fields = line.split()
        first = round(float(fields[3]) * 25)
        speaking.setdefault(int(fields[7][len("track_"):]), set()).update(
            range(first, first + round(float(fields[4]) * 25)))
    capture = cv2.VideoCapture(str(data_dir / "pyavi" / TWOFACE / "video_out.avi"))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    seen = set()
    for index, track in enumerate(tracks):
        frames_of_track, smoothed = track["track"]["frame"].tolist(), track["proc_track"]
        for position in range(10, len(frames_of_track) - 10, 15):
            frame = frames_of_track[position]
            x, y, s = (int(smoothed[key][position]) for key in ("x", "y", "s"))
            blue, green, red = frames[frame][y, max(x - s, 1)].astype(int)
            is_speaking = frame in speaking.get(index, set())
            assert (green > 150 and red < 100) if is_speaking else (red > 150 and green < 100), (index, frame)
            seen.add(is_speaking)
    assert seen == {True, False}, "the run shows both a speaking and a silent face"

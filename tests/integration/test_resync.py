"""demo_syncnet's repair outputs on a real clip: --write_synced with --offset moves the audio to the
sample and copies the video stream, and --plot draws (and redraws) an image."""
import cv2
import pytest

from tests.helpers import TEST_DEVICE, assert_shifted_exactly, decoded_audio, run_command, video_packets


@pytest.fixture(scope="module")
def demo_runs(clip, syncnet_weights, tmp_path_factory):
    """demo_syncnet on synced_example.avi with --offset +3, then -4, writing the same plot twice."""
    out = tmp_path_factory.mktemp("resync")
    video = clip("synced_example.avi")
    plot = out / "plot.png"
    runs = {}
    for offset in (3, -4):
        if plot.exists():  # a stale file that the rerun must replace
            plot.write_bytes(b"not a picture")
        before = plot.stat().st_mtime_ns if plot.exists() else None
        synced = out / f"synced_{offset:+d}.avi"
        result = run_command("demo_syncnet.py", "--initial_model", syncnet_weights, "--videofile", video,
                             "--tmp_dir", out / "pytmp", "--device", TEST_DEVICE, "--write_synced", synced,
                             "--offset", offset, "--plot", plot, cwd=out)
        runs[offset] = {"synced": synced, "stdout": result.stdout, "plot_before": before,
                        "plot_after": plot.stat().st_mtime_ns, "image": cv2.imread(str(plot))}
    return video, plot, runs


@pytest.mark.slow
@pytest.mark.parametrize("offset", [3, -4])
def test_demo_writes_audio_shifted_to_the_sample(demo_runs, offset, tmp_path):
    video, _, runs = demo_runs
    synced = runs[offset]["synced"]
    rate, original = decoded_audio(video, tmp_path)
    synced_rate, shifted = decoded_audio(synced, tmp_path)
    assert rate == synced_rate == 16000
    assert_shifted_exactly(original, shifted, offset * 640)
    assert video_packets(synced, tmp_path) == video_packets(video, tmp_path)
    way = "delayed" if offset > 0 else "advanced"
    expected = f"audio {way} by {abs(offset)} frame(s) ({abs(offset) * 640} samples at 16000 Hz)"
    assert expected in runs[offset]["stdout"]
    assert "AV offset:" in runs[offset]["stdout"], "the demo still scores and prints"


@pytest.mark.slow
def test_demo_plot_is_an_image_and_is_redrawn(demo_runs):
    _, plot, runs = demo_runs
    for run in runs.values():
        assert run["image"] is not None
        height, width = run["image"].shape[:2]
        assert 400 <= height <= 2000 and 600 <= width <= 2500
    assert runs[-4]["plot_before"] is not None and runs[-4]["plot_after"] != runs[-4]["plot_before"]
    assert plot.read_bytes().startswith(b"\x89PNG"), "the stale file was replaced"

"""syncnet-monitor on real media with the stand-in weights: the JSON lines' schema, the closing
timeline in demo_syncnet.py --timeline's format, the metrics scrape, and bad input as one line."""
import json
import socket
import urllib.request

import pytest

from syncnet.io import media
from syncnet.synthetic import make_face_clip
from tests.helpers import TEST_DEVICE, run_command

pytestmark = [pytest.mark.timeout(300), pytest.mark.extras("monitor")]
HOP_FIELDS = {"type", "schema", "source", "time_s", "window_s", "offset_frames", "offset_ms", "confidence",
              "min_dist", "face", "state"}


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    return make_face_clip(tmp_path_factory.mktemp("monitor") / "face.avi", seconds=4.0, seed=21)


@pytest.fixture(scope="module")
def monitored(face_clip, syncnet_weights, tmp_path_factory):
    """One run over the 4 s clip: (records, timeline, the demo's timeline of the same clip)."""
    work = tmp_path_factory.mktemp("monitor_run")
    lines, timeline = work / "out.jsonl", work / "timeline.json"
    run_command("syncnet.monitor", face_clip.path, "--initial_model", syncnet_weights, "--device", TEST_DEVICE,
                "--window_s", 2, "--hop_s", 0.4, "--jsonl", lines, "--timeline", timeline, "--quiet",
                "--name", "studio-1")
    demo_timeline = work / "demo.json"
    run_command("demo_syncnet.py", "--initial_model", syncnet_weights, "--videofile", face_clip.path, "--tmp_dir",
                work / "tmp", "--device", TEST_DEVICE, "--quiet", "--timeline", demo_timeline,
                "--segment_s", 2, "--hop_s", 0.4, cwd=work)
    return ([json.loads(line) for line in lines.read_text().splitlines()], json.loads(timeline.read_text()),
            json.loads(demo_timeline.read_text()))


def test_json_lines_follow_the_schema(monitored):
    records, _, _ = monitored
    hops = [record for record in records if record["type"] == "hop"]
    # A 4 s file, 2 s windows every 0.4 s (10 frames): windows end at 2.0, 2.4, ... 4.0.
    assert [hop["time_s"] for hop in hops] == [2.0, 2.4, 2.8, 3.2, 3.6, 4.0]
    for hop in hops:
        assert set(hop) == HOP_FIELDS and hop["schema"] == "syncnet-monitor/1" and hop["source"] == "studio-1"
        assert hop["face"] == {"track": 0, "box": [0, 0, 224, 224]}
        assert hop["state"] in ("in_sync", "out_of_sync", "no_face", "no_speech", "unreliable")
    assert records[-1]["type"] == "summary" and records[-1]["reason"] == "end of source"
    assert records[-1]["hops"] == len(hops) and records[-1]["frames_dropped"] == 0


def test_the_timeline_has_the_demos_format(monitored):
    _, timeline, demo = monitored
    assert set(timeline) == set(demo) and timeline["segment_s"] == demo["segment_s"] == 2
    assert [set(segment) for segment in timeline["segments"]] == [set(segment) for segment in demo["segments"]]
    # The monitor's segments end where its hops do (the demo's start at 0 every hop).
    assert [segment["end_s"] for segment in timeline["segments"]] == [2.0, 2.4, 2.8, 3.2, 3.6, 4.0]


def test_metrics_are_served_in_the_prometheus_format():
    from syncnet.monitor.metrics import Metrics

    metrics = Metrics("cam-2")
    try:
        metrics.serve("127.0.0.1", 0)
        port = metrics._server.server_address[1]
        metrics.update({"type": "hop", "state": "out_of_sync", "offset_ms": 200.0, "confidence": 4.5}, 1.25)
        metrics.update({"type": "alarm", "raised": True})
        metrics.update({"type": "drops", "frames": 25})
        metrics.update({"type": "gap"})
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        metrics.close()
    for line in ['syncnet_monitor_offset_ms{source="cam-2"} 200.0', 'syncnet_monitor_confidence{source="cam-2"} 4.5',
                 'syncnet_monitor_state{source="cam-2",state="out_of_sync"} 1.0',
                 'syncnet_monitor_state{source="cam-2",state="in_sync"} 0.0',
                 'syncnet_monitor_alarm{source="cam-2"} 1.0',
                 'syncnet_monitor_frames_dropped_total{source="cam-2"} 25.0',
                 'syncnet_monitor_reconnects_total{source="cam-2"} 1.0',
                 'syncnet_monitor_realtime_factor{source="cam-2"} 1.25']:
        assert line in text.splitlines(), line


@pytest.fixture(scope="module")
def no_audio_clip(face_clip, tmp_path_factory):
    path = tmp_path_factory.mktemp("monitor_bad") / "silent_film.mp4"
    media.run_ffmpeg(["-i", face_clip.path, "-an", "-c:v", "copy", str(path)], "strip the audio")
    return path


def bad_input_cases(face_clip, no_audio_clip, busy_port, tmp_path):
    return [
        ([tmp_path / "missing.ts"], "no such file"),
        ([no_audio_clip], "has no audio stream"),
        ([face_clip.path, "--http", f"127.0.0.1:{busy_port}"], "cannot listen"),
        ([face_clip.path, "--metrics", f"127.0.0.1:{busy_port}"], "cannot listen"),
        ([face_clip.path, "--preset", "smpte"], "--preset 'smpte': expected one of bt1359"),
        ([face_clip.path, "--tolerance_ms", "40/60"], "--tolerance_ms"),
        (["rtmp://bob:hunter2@127.0.0.1:9/live"], "cannot"),  # nothing listens on port 9
    ]


def test_bad_input_is_one_line_and_keeps_secrets(face_clip, no_audio_clip, syncnet_weights, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        for args, expected in bad_input_cases(face_clip, no_audio_clip, busy.getsockname()[1], tmp_path):
            result = run_command("syncnet.monitor", *args, "--initial_model", syncnet_weights, "--device",
                                 TEST_DEVICE, "--exit_on_eof", check=False)
            assert result.returncode != 0, args
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr, (args, lines)
            assert "hunter2" not in result.stderr + result.stdout and "bob" not in result.stderr + result.stdout

"""syncnet-monitor's pure parts: presets, the alarm's hold, steps, credentials, the lossy buffer."""
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from syncnet.errors import InputError
from syncnet.monitor.alarms import Alarm, StepDetector, hop_state
from syncnet.monitor.live import _Buffer
from syncnet.monitor.options import MonitorOptions
from syncnet.monitor.records import redact_source, scrubbed


def test_presets_are_the_standards_windows():
    # The standards' numbers, typed from docs/monitor.md's citations: (late, early) in ms.
    expected = {"bt1359": (-125, 45), "bt1359-accept": (-185, 90), "ebu-r37": (-60, 40), "atsc-is191": (-45, 15)}
    for name, window in expected.items():
        options = MonitorOptions(preset=name)
        assert options.tolerance == window and options.tolerance_name == name
    assert MonitorOptions(tolerance_ms="+30/-50").tolerance == (-50, 30)
    assert MonitorOptions(tolerance_ms="20").tolerance_name == "custom"


@pytest.mark.parametrize("changes", [{"preset": "bt601"}, {"tolerance_ms": "+abc"}, {"tolerance_ms": "10/20"},
                                     {"window_s": 0.4}, {"hop_s": 0}, {"stride": 0}])
def test_bad_options_are_one_line(changes):
    with pytest.raises(InputError) as caught:
        MonitorOptions(**changes)
    assert "\n" not in str(caught.value) and "--" in str(caught.value)


def test_states():
    tolerance = (-125.0, 45.0)
    assert hop_state(False, True, True, 0, tolerance) == "no_face"
    assert hop_state(True, False, False, None, tolerance) == "no_speech"
    assert hop_state(True, True, False, 400, tolerance) == "unreliable"
    assert hop_state(True, True, True, 40, tolerance) == "in_sync"
    assert hop_state(True, True, True, -160, tolerance) == "out_of_sync"


def test_the_alarm_holds_over_reliable_hops_only():
    alarm = Alarm(hold_hops=3)
    states = ["in_sync", "out_of_sync", "out_of_sync", "unreliable", "no_speech", "out_of_sync",  # raised here (5)
              "out_of_sync", "in_sync", "in_sync", "out_of_sync", "in_sync", "in_sync", "in_sync"]  # cleared (12)
    changes = [(time, change.raised) for time, state in enumerate(states)
               if (change := alarm.update(time, state, 0.0)) is not None]
    assert changes == [(5, True), (12, False)]


def test_a_step_is_reported_once_with_its_size():
    steps = StepDetector(length=3, min_frames=2, window_s=5.0)
    offsets = [0, 0, 1, 0, 0, 3, 5, 5, 5, 5, 5, 5, 5]
    found = [step for time, offset in enumerate(offsets) if (step := steps.update(float(time), True, offset))]
    assert len(found) == 1 and found[0].size_frames == 5 and found[0].before_frames == 0
    assert steps.update(20.0, False, None) is None
    drift = StepDetector(length=3, min_frames=2, window_s=5.0)
    assert not [t for t, offset in enumerate(np.linspace(0, 8, 60).round()) if drift.update(float(t), True, offset)]


@pytest.mark.parametrize("source, secrets", [
    ("rtmp://alice:s3cret@example.com/live/key", ["alice", "s3cret"]),
    ("srt://10.0.0.1:9000?mode=caller&passphrase=longpassphrase1", ["longpassphrase1"]),
    ("https://cdn.example.com/a.m3u8?token=abcdef123&x=1", ["abcdef123"]),
])
def test_credentials_never_show(source, secrets):
    shown = redact_source(source)
    line = scrubbed(f"[in#0] Error opening input {source}: denied for {secrets[-1]}", source)
    for secret in secrets:
        assert secret not in shown and secret not in line
    assert shown.split("://")[0] == source.split("://")[0] and "***" in shown
    assert redact_source("/media/feed.ts") == "/media/feed.ts"


def test_a_full_lossy_buffer_drops_the_oldest_half_and_counts_it():
    stop = threading.Event()
    buffer = _Buffer(max_frames=20, lossy=True)
    chunks = [SimpleNamespace(frames=np.zeros(5), index=index) for index in range(6)]
    for chunk in chunks:
        buffer.put(chunk, stop)
    first, dropped = buffer.get(timeout=1)
    # 20 frames fit; the fifth chunk made room by dropping down to 10, keeping the newest.
    assert dropped == 15 and first.index == 3
    kept = [buffer.get(timeout=1)[0].index for _ in range(2)]
    assert kept == [4, 5] and buffer.get(timeout=0.01) == (None, 0)


def test_a_blank_frame_is_no_face_and_frames_become_bgr_face_crops():
    from syncnet.monitor.faces import FullFrame

    rng = np.random.default_rng(0)
    frames = np.stack([np.full((36, 64, 3), 16, np.uint8), rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)])
    frames[1, ..., 0] = 255  # red in RGB
    faces = FullFrame()
    crops, present = faces.crops(frames)
    assert present == [False, True] and crops.shape == (2, 224, 224, 3) and faces.box == [0, 0, 64, 36]
    assert (crops[1, ..., 2] == 255).all()  # red is the last channel in the network's BGR

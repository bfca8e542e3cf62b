"""syncnet-monitor against the synthetic world's truth, with the trained test model: a step of +5
frames at 20 s and a silence read from files as fast as they score, a stream over UDP on loopback
that drops and comes back, and the live page in a real browser (Debian's chromium driven by
Playwright) while a stream steps."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from syncnet.io.media import ffmpeg_exe
from syncnet.synthetic import constant, jump, linear, make_face_clip
from tests.helpers import IN_CI, REPO_ROOT, TEST_DEVICE, run_command

pytestmark = [pytest.mark.extras("monitor")]
# The trained test model's 5 s windows with speech score about 1.3 to 2.3 (measured on the step
# clip), its silent ones far less; the default 3 is the official weights' scale.
MIN_CONF = 0.5
STEP_AT_S, STEP_FRAMES = 20.0, 5


@pytest.fixture(scope="module")
def step_run(trained_syncnet, tmp_path_factory):
    """The step clip (30 s, 0 then +5 frames at 20 s) through the monitor once, every second window
    scored (--stride 2): the records."""
    work = tmp_path_factory.mktemp("monitor_step")
    truth = make_face_clip(work / "step.avi", seconds=30.0, seed=31, offset=jump(0, STEP_FRAMES, STEP_AT_S))
    lines = work / "out.jsonl"
    run_command("syncnet.monitor", truth.path, "--initial_model", trained_syncnet, "--device", TEST_DEVICE,
                "--min_conf", MIN_CONF, "--stride", 2, "--jsonl", lines, "--quiet")
    return truth, [json.loads(line) for line in lines.read_text().splitlines()]


@pytest.mark.timeout(900)
def test_a_step_is_measured_and_raises_the_alarm(step_run):
    # Measured (this machine, loaded): 26 of 26 hops reliable, 25 within a frame (the one wrong, at
    # 23 s, is a window that straddles the step); the alarm at 26.0 s (6 s after the step); one step,
    # +5 frames, placed at 21.5 s. With the random stand-in weights no hop is reliable: it fails.
    truth, records = step_run
    hops = [record for record in records if record["type"] == "hop"]
    reliable = [hop for hop in hops if hop["state"] in ("in_sync", "out_of_sync")]
    # The truth of a window is the offset over most of it: that at its middle.
    right = [abs(hop["offset_frames"] - truth.offset_at(hop["time_s"] - 2.5)) <= 1 for hop in reliable]
    assert len(reliable) >= 0.8 * len(hops) and sum(right) >= 0.9 * len(right), (len(reliable), sum(right))
    alarms = [record for record in records if record["type"] == "alarm"]
    assert alarms and alarms[0]["raised"] and all(alarm["time_s"] > STEP_AT_S for alarm in alarms)
    # raised within window + hold + 2 s of the step
    assert alarms[0]["time_s"] <= STEP_AT_S + 5.0 + 3.0 + 2.0, alarms[0]
    steps = [record for record in records if record["type"] == "step"]
    assert len(steps) == 1 and steps[0]["size_frames"] == STEP_FRAMES and abs(steps[0]["time_s"] - STEP_AT_S) <= 2.5


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.timeout(600)
def test_the_live_page_in_a_real_browser(trained_syncnet, tmp_path):
    """The page, in headless chromium, while the monitor reads a clip whose offset steps: the number
    and the state change, the chart draws, and the page asks nothing of any other host."""
    if not os.path.exists(CHROMIUM) and not IN_CI:  # under CI the launch fails instead: never skipped
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api") if not IN_CI else __import__(
        "playwright.sync_api", fromlist=["sync_playwright"])
    truth = make_face_clip(tmp_path / "step.avi", seconds=16.0, seed=32, offset=jump(0, 6, 7.0))
    port = _free_port()
    monitor = subprocess.Popen([sys.executable, "-m", "syncnet.monitor", truth.path, "--http", f"127.0.0.1:{port}",
                                "--initial_model", str(trained_syncnet), "--device", TEST_DEVICE, "--min_conf",
                                str(MIN_CONF), "--stride", "4", "--window_s", "3", "--hold_s", "2", "--quiet",
                                "--jsonl", str(tmp_path / "out.jsonl")], cwd=REPO_ROOT)
    requests = []
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 620})
                page.on("request", lambda request: requests.append(request.url))
                deadline = time.monotonic() + 60
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/", timeout=5000)
                        break
                    except playwright.Error:
                        assert time.monotonic() < deadline and monitor.poll() is None, "the page never came up"
                        time.sleep(0.5)
                seen = []
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline and monitor.poll() is None:
                    shown = (page.text_content("#offset"), page.text_content("#state"))
                    if not seen or seen[-1] != shown:
                        seen.append(shown)
                    if any(state == "out of sync" for _, state in seen):
                        break
                    time.sleep(0.2)
                page.wait_for_timeout(500)
                points = int(page.get_attribute("#chart", "data-points") or 0)
                page.screenshot(path=str(tmp_path / "page.png"))
            finally:
                browser.close()
    finally:
        monitor.terminate()
        monitor.wait(timeout=30)
    states = [state for _, state in seen]
    assert "in sync" in states and "out of sync" in states, seen
    assert states.index("in sync") < states.index("out of sync"), seen
    numbers = {offset for offset, state in seen if state in ("in sync", "out of sync")}
    assert len(numbers) >= 2, seen  # the offset shown changed with the step
    assert points >= 2
    assert requests and all(url.startswith(f"http://127.0.0.1:{port}/") for url in requests), requests


@pytest.mark.timeout(900)
def test_a_drift_is_followed_and_raises_the_alarm_once_out_of_tolerance(trained_syncnet, tmp_path):
    """0 to +8 frames over 60 s, every fourth window scored: the offsets follow the truth, and the
    alarm is raised once the drift has left bt1359's +45 ms (an offset of 2 frames, from about
    11 s at a window's middle), and stays raised."""
    # Measured: 56 of 56 hops reliable and within a frame of the truth; the alarm at 19.0 s, once.
    truth = make_face_clip(tmp_path / "drift.avi", seconds=60.0, seed=35, offset=linear(0, 8))
    lines = tmp_path / "out.jsonl"
    run_command("syncnet.monitor", truth.path, "--initial_model", trained_syncnet, "--device", TEST_DEVICE,
                "--min_conf", MIN_CONF, "--stride", 4, "--jsonl", lines, "--quiet")
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    reliable = [r for r in records if r["type"] == "hop" and r["state"] in ("in_sync", "out_of_sync")]
    right = [abs(hop["offset_frames"] - truth.offset_at(hop["time_s"] - 2.5)) <= 1 for hop in reliable]
    assert len(reliable) >= 40 and sum(right) >= 0.8 * len(right), (len(reliable), sum(right))
    alarms = [r for r in records if r["type"] == "alarm"]
    assert len(alarms) == 1 and alarms[0]["raised"] and 12 <= alarms[0]["time_s"] <= 26, alarms


@pytest.mark.timeout(600)
def test_silence_says_no_speech_and_raises_no_alarm(trained_syncnet, tmp_path):
    """18 s in sync, silent from 5 to 13 s: the windows inside the silence say no_speech. (Measured:
    the hops ending at 8 to 14 s say no_speech, the others in_sync. Silence is told from the audio's
    energy, not the network: the stand-in weights pass this too, with every speech hop unreliable.)"""
    truth = make_face_clip(tmp_path / "quiet.avi", seconds=18.0, seed=33, offset=constant(0), silences=((5.0, 13.0),))
    lines = tmp_path / "out.jsonl"
    run_command("syncnet.monitor", truth.path, "--initial_model", trained_syncnet, "--device", TEST_DEVICE,
                "--min_conf", MIN_CONF, "--stride", 4, "--jsonl", lines, "--quiet")
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    hops = [record for record in records if record["type"] == "hop"]
    inside = [hop for hop in hops if 5.0 + 0.5 <= hop["time_s"] - 5.0 and hop["time_s"] <= 13.0]
    assert inside and all(hop["state"] == "no_speech" for hop in inside), [(h["time_s"], h["state"]) for h in hops]
    assert not [record for record in records if record["type"] == "alarm"]
    assert records[-1]["type"] == "summary" and records[-1]["states"]["out_of_sync"] == 0


def _push(clip, port, seconds):
    """Stream `seconds` of `clip` at its own pace to udp://127.0.0.1:port, as MPEG-TS (ffmpeg -re)."""
    return subprocess.Popen([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", clip,
                             "-t", str(seconds), "-c:v", "copy", "-c:a", "mp2", "-f", "mpegts",
                             f"udp://127.0.0.1:{port}?pkt_size=1316"])


@pytest.mark.timeout(600)
def test_a_udp_stream_that_drops_is_reconnected_and_the_gap_reported(trained_syncnet, tmp_path):
    truth = make_face_clip(tmp_path / "live.avi", seconds=8.0, seed=34, offset=constant(0))
    port = _free_port()
    lines = tmp_path / "out.jsonl"
    monitor = subprocess.Popen([sys.executable, "-m", "syncnet.monitor", f"udp://127.0.0.1:{port}",
                                "--initial_model", str(trained_syncnet), "--device", TEST_DEVICE, "--min_conf",
                                str(MIN_CONF), "--stride", "4", "--window_s", "2", "--quiet", "--jsonl", str(lines)],
                               cwd=REPO_ROOT)
    pushers = []
    try:
        time.sleep(4)  # the monitor loads its model and listens
        pushers.append(_push(truth.path, port, 7))
        pushers[-1].wait(timeout=60)
        time.sleep(8)  # longer than the monitor's read timeout (5 s): the source is gone
        pushers.append(_push(truth.path, port, 7))
        pushers[-1].wait(timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(1 for _ in lines.open()) < 1 + _hops_before(lines) + 3:
            time.sleep(1)
    finally:
        for pusher in pushers:
            pusher.kill()
            pusher.wait()
        monitor.send_signal(signal.SIGINT)
        monitor.wait(timeout=60)
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    kinds = [record["type"] for record in records]
    assert "gap" in kinds, kinds
    gap = records[kinds.index("gap")]
    assert gap["reconnects"] >= 1 and gap["seconds"] >= 3, gap
    assert "hop" in kinds[:kinds.index("gap")] and "hop" in kinds[kinds.index("gap"):], kinds
    times = [record["time_s"] for record in records if record["type"] == "hop"]
    assert times == sorted(times)
    assert kinds[-1] == "summary" and records[-1]["reason"] == "stopped"


def _hops_before(lines):
    """Records up to the first gap (all of them while there is none)."""
    records = [json.loads(line) for line in lines.read_text().splitlines()] if lines.exists() else []
    kinds = [record["type"] for record in records]
    return kinds.index("gap") if "gap" in kinds else len(records) + 1000

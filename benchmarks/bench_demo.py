"""The demo workloads of bench.py (demo, loop, long): demo_syncnet.py on a video in a child
process, its units the scored windows.

Importing this module runs nothing.
"""
import re
import sys
import wave
from pathlib import Path

from benchmarks.harness import FRAME_RATE, REPO_ROOT, count_jpgs, ensure_repo_on_path, log_tail, run_child


def _wav_samples(path):
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes()


def _parse_demo_output(path):
    text = Path(path).read_text(errors="replace")
    found = {}
    for key, pattern, kind in (("offset", r"AV offset:\s*(-?\d+)", int),
                               ("min_dist", r"Min dist:\s*(-?[\d.]+)", float),
                               ("confidence", r"Confidence:\s*(-?[\d.]+)", float),
                               ("compute_s", r"Compute time ([\d.]+) sec", float)):
        match = re.search(pattern, text)
        if match:
            found[key] = kind(match.group(1))
    return found


def run_demo(name, video, cfg):
    """demo_syncnet.py on `video`; units are the scored windows."""
    ensure_repo_on_path()
    from syncnet.scoring.distances import window_count

    tmp_dir = cfg["work"] / "run" / "pytmp"
    command = [sys.executable, REPO_ROOT / "demo_syncnet.py", "--initial_model", cfg["syncnet_model"],
               "--videofile", video, "--tmp_dir", tmp_dir, "--reference", name,
               "--device", cfg["device"], "--quiet"]
    run = run_child(command, cfg["work"] / "logs" / name, cfg["env"])
    result = {"workload": name, "script": "demo_syncnet.py", "input": str(video), **run}
    if run["rc"] != 0:
        result["error"] = log_tail(run["stderr"]) or "exit status %d" % run["rc"]
        return result
    frames_dir = tmp_dir / name
    frames = count_jpgs(frames_dir)
    samples = _wav_samples(frames_dir / "audio.wav")
    windows = window_count(frames, samples)
    gflop = cfg["flops"]["syncnet"]["window"] / 1e9
    result.update(_parse_demo_output(run["stdout"]))
    result.update({
        "frames": frames, "audio_samples": samples, "units": windows, "unit": "windows",
        "media_s": frames / FRAME_RATE,
        "gflop_per_unit": gflop,
    })
    return result

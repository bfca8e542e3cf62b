#!/usr/bin/env python3
"""What the timeline costs on the 127 s clip (example.avi looped 10 times): the demo with and
without --timeline, and the timeline's own arithmetic on a table of that size.

    python benchmarks/bench_timeline.py [--work DIR] [--syncnet_model PATH] [--repeats N] [--device cpu]

The demo runs are child processes (the harness's run_child: wall time and peak memory), alternated
so that a change in the machine's load hits both. The arithmetic is timed in this process on
distances built so that every segment is reliable, the case where all three fits run.

Importing this module runs nothing.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402


def demo_command(cfg, video, name, timeline):
    command = [sys.executable, harness.REPO_ROOT / "demo_syncnet.py", "--initial_model", cfg["syncnet_model"],
               "--videofile", video, "--tmp_dir", cfg["work"] / "run" / "pytmp", "--reference", name,
               "--device", cfg["device"], "--quiet"]
    return command + (["--timeline", cfg["work"] / "run" / "timeline.json"] if timeline else [])


def time_arithmetic(n_windows, reps=20):
    """Median seconds of build_timeline on an n-window table whose every segment is reliable."""
    import numpy as np

    from syncnet.timeline import build_timeline

    rng = np.random.default_rng(0)
    columns = np.arange(31)
    best = 15 - 8 * np.arange(n_windows) / n_windows  # a drift, so the fits have work to do
    dists = (10 + np.abs(columns[None, :] - best[:, None]) + rng.normal(0, 0.5, (n_windows, 31))).astype(np.float32)
    energy = 20 + rng.normal(0, 0.3, n_windows)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        timeline = build_timeline(dists, energy, n_windows + 5, 15, min_conf=0.1)
        times.append(time.perf_counter() - started)
    return statistics.median(times), timeline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=None,
                        help="inputs, logs and scratch (default data/work/bench_timeline in the checkout, git-ignored)")
    parser.add_argument("--syncnet_model", default=None, help="SyncNet weights (default: the shared stand-in)")
    parser.add_argument("--repeats", type=int, default=1, help="demo runs of each kind (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    opt = parser.parse_args(argv)
    work = Path(opt.work).resolve() if opt.work else harness.REPO_ROOT / "data" / "work" / "bench_timeline"
    video = harness.build_loop(harness.find_example(), harness.LOOP_REPEATS, work / "inputs")
    weights = Path(opt.syncnet_model) if opt.syncnet_model else harness.stand_in_weights("syncnet", work / "weights")
    cfg = {"work": work, "syncnet_model": weights, "device": opt.device, "env": harness.child_env(opt.threads)}
    walls = {False: [], True: []}
    for index in range(opt.repeats):
        for timeline in (False, True) if index % 2 == 0 else (True, False):
            name = "timeline" if timeline else "plain"
            run = harness.run_child(demo_command(cfg, video, name, timeline), work / "logs" / f"{name}{index}",
                                  cfg["env"])
            if run["rc"] != 0:
                raise SystemExit(f"demo ({name}) failed: {harness.log_tail(run['stderr'])}")
            walls[timeline].append(run["wall_s"])
    arithmetic, timeline = time_arithmetic(int(harness.LOOP_REPEATS * 12.7 * harness.FRAME_RATE) - 5)
    plain, with_timeline = statistics.median(walls[False]), statistics.median(walls[True])
    print(f"127 s clip ({video.name}), {opt.threads} threads, {opt.device}, {opt.repeats} run(s) each:")
    print(f"| run | wall (s) |\n|---|---|\n| demo | {plain:.1f} |\n| demo --timeline | {with_timeline:.1f} |")
    print(f"| difference | {with_timeline - plain:+.1f} ({(with_timeline / plain - 1) * 100:+.1f}%) |")
    print(f"| build_timeline alone ({len(timeline.segments)} segments, all reliable) | {arithmetic * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""syncnet-monitor's speed, step-to-alarm latency and memory, on synthetic feeds with known truth.

    python benchmarks/bench_monitor.py --syncnet_model PATH [--strides 1,2,4] [--seconds 60]
                                       [--long_s 300] [--work DIR] [--device cpu]

- one face in a 640x360 feed (a synthetic face crop scaled up; --face_box full, as a feed cropped
  to a face): for each --stride (every Nth 5-frame window's lips scored), the real-time factor
  read as fast as it scores, and the latency from a +5-frame step at half time to its alarm, on
  the stream's clock (add the scoring lag when the factor is below 1);
- a long in-sync stream (--long_s; the face clip looped by ffmpeg) at the largest stride: the
  resident memory every 30 s of the stream, its growth, and the false alarms (should be none).

Everything runs in this process through the library (syncnet.monitor.live.MonitorRun). Give the
trained synthetic model (tests' trained_syncnet): the official weights do not know drawn faces.
Importing this module runs nothing.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402


def rss_mb():
    """This process's resident memory now, MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def feed(work, name, seconds, offset, size=(640, 360), loops=1):
    """A synthetic face clip scaled to `size` (ffmpeg), looped `loops` times: its path."""
    from syncnet.synthetic import make_face_clip

    face = work / f"{name}_face.avi"
    make_face_clip(face, seconds=seconds, seed=41, offset=offset)
    path = work / f"{name}.mkv"
    harness.ffmpeg(["-stream_loop", str(loops - 1), "-i", str(face), "-vf", f"scale={size[0]}:{size[1]}",
                    "-c:v", "mpeg4", "-qscale:v", "3", "-c:a", "pcm_s16le", str(path)], f"scale {face}")
    return path


def watch(network, path, options, on_hop=None):
    """Every record of one run over `path`, and the wall seconds it took."""
    from syncnet.monitor.live import MonitorRun

    started = time.perf_counter()
    records = []
    for record in MonitorRun(network, path, options).records():
        records.append(record)
        if on_hop and record["type"] == "hop":
            on_hop(record)
    return records, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--syncnet_model", required=True)
    parser.add_argument("--strides", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long_s", type=float, default=300.0)
    parser.add_argument("--min_conf", type=float, default=0.5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", default=None)
    args = parser.parse_args(argv)

    from syncnet.models.loading import load_syncnet
    from syncnet.monitor.options import MonitorOptions
    from syncnet.synthetic import constant, jump

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-monitor-"))
    work.mkdir(parents=True, exist_ok=True)
    network = load_syncnet(args.syncnet_model, args.device)
    strides = [int(stride) for stride in args.strides.split(",")]
    step_at = args.seconds / 2
    step_feed = feed(work, "step", args.seconds, jump(0, 5, step_at))
    print(f"load average at start: {harness.loadavg()}")
    print("\none face, 640x360, --face_box full; step of +5 frames at %.0f s" % step_at)
    print(f"{'stride':>6} {'real-time factor':>16} {'alarm after step (stream s)':>28} {'hops within 1 frame':>20}")
    for stride in strides:
        options = MonitorOptions(stride=stride, min_conf=args.min_conf)
        records, wall = watch(network, step_feed, options)
        hops = [r for r in records if r["type"] == "hop" and r["state"] in ("in_sync", "out_of_sync")]
        truth = [0 if r["time_s"] - options.window_s / 2 < step_at else 5 for r in hops]
        right = sum(abs(r["offset_frames"] - t) <= 1 for r, t in zip(hops, truth))
        alarms = [r["time_s"] - step_at for r in records if r["type"] == "alarm" and r["raised"]]
        print(f"{stride:>6} {args.seconds / wall:>16.2f} {alarms[0] if alarms else float('nan'):>28.1f} "
              f"{right:>9}/{len(hops):<10}")

    loops = max(1, int(round(args.long_s / 30)))
    long_feed = feed(work, "long", 30.0, constant(0), loops=loops)
    samples = []

    def sample(record):
        if record["time_s"] % 30 < 1e-6 or not samples:
            samples.append((record["time_s"], rss_mb()))

    options = MonitorOptions(stride=max(strides), min_conf=args.min_conf)
    records, wall = watch(network, long_feed, options, sample)
    alarms = [r for r in records if r["type"] == "alarm" and r["raised"]]
    print(f"\nlong in-sync stream: {loops * 30:.0f} s at stride {max(strides)}, real-time factor "
          f"{loops * 30 / wall:.2f}, false alarms {len(alarms)}")
    print("stream s   RSS MB")
    for time_s, rss in samples:
        print(f"{time_s:>8.0f} {rss:>8.1f}")
    later = [rss for time_s, rss in samples if time_s >= 60]
    if len(later) >= 2:
        print(f"growth after the first minute: {later[-1] - later[0]:+.1f} MB over {samples[-1][0] - 60:.0f} s")
    print(f"load average at end: {harness.loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Time syncnet-batch on one set of clips: the local engine and the Ray engine, 1 and 2 workers.

    python benchmarks/bench_batch.py [--clips N] [--seconds S] [--work DIR] [--device cpu|cuda]
                                     [--ray_num_gpus G] [--syncnet_model PATH] [--s3fd_model PATH]

The clips are N copies of a 1280x720 still of two faces (fixtures/frames/twoface_200.png) with
pink noise, S seconds each; the stand-in S3FD at --facedet_conf 0.5 tracks both faces, so every
video goes through detection, tracking, cropping and scoring. Each run is the real command in a
child process, on a fresh data folder. The Ray runs start a private local runtime (as
`--engine ray` does without --ray_address), with every Ray address on loopback.

Printed: wall time, videos/min, the workers' mean time per video (from the records), and for
Ray its overhead per video against the local engine with as many workers, and its start-up.
Then the estimate for 100,000 10-second clips. Importing this module runs nothing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import REPO_ROOT, ffmpeg, shared_dir, stand_in_weights  # noqa: E402

FACES = ["--facedet_conf", "0.5", "--min_face_size", "10", "--min_track", "25"]
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))
SIZING_CLIPS, SIZING_SECONDS = 100_000, 10.0


def make_clips(folder, count, seconds):
    still = shared_dir() / "fixtures" / "frames" / "twoface_200.png"
    first = folder / "clip000.mkv"
    ffmpeg(["-loop", "1", "-framerate", "25", "-t", seconds, "-i", still, "-f", "lavfi", "-i",
            f"anoisesrc=duration={seconds}:color=pink:sample_rate=16000:amplitude=0.3", "-c:v", "mpeg4",
            "-q:v", "2", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", first], "make the benchmark clip")
    for index in range(1, count):
        os.link(first, folder / f"clip{index:03d}.mkv")


def run(engine, workers, clips, work, models, device, num_gpus):
    data_dir = work / f"{engine}-{workers}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **RAY_ENV)
    command = [sys.executable, "-m", "syncnet.batch", str(clips), "--data_dir", str(data_dir), "--engine", engine,
               "--workers", str(workers), "--initial_model", str(models[0]), "--s3fd_model", str(models[1]),
               "--device", device, "--quiet", "--scratch_dir", str(work / "scratch"), *FACES]
    if engine == "ray":
        # As many CPUs (torch threads) per actor as the local engine gives each worker process.
        command += ["--ray_num_cpus", str(max(1, (os.cpu_count() or 1) // workers))]
        if num_gpus:
            command += ["--ray_num_gpus", str(num_gpus)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{engine} x{workers} failed: {result.stderr.strip().splitlines()[-1:]}")
    records = [json.loads(line) for line in (data_dir / "batch_state.jsonl").read_text().splitlines()]
    return {"engine": engine, "workers": workers, "videos": len(records), "wall_s": wall,
            "per_video_s": sum(r["seconds"] for r in records) / len(records),
            "tracks": sum(len(r["tracks"]) for r in records)}


def ray_startup_seconds():
    """How long `ray.init(address="local")` plus shutdown takes here (the Ray engine's fixed cost)."""
    code = ("import time, ray; t = time.perf_counter(); ray.init(address='local', include_dashboard=False, "
            "object_store_memory=256 << 20); ray.shutdown(); print(time.perf_counter() - t)")
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **RAY_ENV), capture_output=True,
                            text=True, check=True)
    return float(result.stdout.split()[-1])


def table(results, startup, seconds):
    local = {r["workers"]: r for r in results if r["engine"] == "local"}
    lines = ["| engine | workers | videos | wall s | videos/min | worker s/video | Ray overhead s/video |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        overhead = "-"
        if r["engine"] == "ray" and r["workers"] in local:
            overhead = "%.2f" % ((r["wall_s"] - local[r["workers"]]["wall_s"]) / r["videos"])
        lines.append("| %s | %d | %d | %.1f | %.2f | %.2f | %s |" % (
            r["engine"], r["workers"], r["videos"], r["wall_s"], 60 * r["videos"] / r["wall_s"], r["per_video_s"],
            overhead))
    lines.append(f"\nRay runtime start + stop: {startup:.1f} s (in the Ray rows' wall time once per run).")
    one = local[1]["per_video_s"] * SIZING_SECONDS / seconds
    lines.append(f"\nEstimate (not measured): {SIZING_CLIPS:,} clips of {SIZING_SECONDS:g} s at {one:.1f} s a clip "
                 "per worker (this machine's measured cost, scaled by length):")
    lines.append("| workers | hours |\n|---:|---:|")
    for count in (1, 8, 32, 100):
        lines.append("| %d | %.1f |" % (count, SIZING_CLIPS * one / count / 3600))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=6, help="videos in the set (default 6)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each video (default 4)")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ray_num_gpus", type=float, default=0.0, help="GPUs per Ray worker (on a GPU machine)")
    parser.add_argument("--syncnet_model", default=None)
    parser.add_argument("--s3fd_model", default=None)
    opt = parser.parse_args(argv)
    work = Path(opt.work or tempfile.mkdtemp(prefix="syncnet-bench-batch-"))
    clips = work / "clips"
    if not clips.is_dir():
        clips.mkdir(parents=True)
        make_clips(clips, opt.clips, opt.seconds)
    models = (opt.syncnet_model or stand_in_weights("syncnet", work), opt.s3fd_model or stand_in_weights("s3fd", work))
    results = []
    for engine, workers in RUNS:
        results.append(run(engine, workers, clips, work, models, opt.device, opt.ray_num_gpus))
        print("%s x%d: %.1f s" % (engine, workers, results[-1]["wall_s"]), file=sys.stderr)
    print(f"{opt.clips} clips of {opt.seconds:g} s, 1280x720, two faces; {os.cpu_count()} CPU cores; "
          f"device {opt.device}\n")
    print(table(results, ray_startup_seconds(), opt.seconds))
    (work / "bench_batch.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

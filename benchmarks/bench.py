#!/usr/bin/env python3
"""Time the demo and the face-track pipeline against the FLOP floor of their networks.

    python benchmarks/bench.py [--workloads demo,loop,pipeline,long] [--device cpu|cuda] [--threads N]
                               [--work DIR] [--syncnet_model PATH] [--s3fd_model PATH]
                               [--stages] [--quick]
    python benchmarks/bench.py --startup [--repeats N]

Each workload runs the real script (demo_syncnet.py, run_pipeline.py) in a child process, so its
wall time and peak memory are that process's own. The floor of a workload is its network
arithmetic (counted with torch's FlopCounterMode) divided by the fp32 matmul rate measured in
this same run with the same thread count; a second ratio uses a 3x3 convolution's measured rate
when that is higher. benchmarks/NOTES.md says what each number means.

--startup times what a user waits for before anything is done instead: every console command's
`--help` and `import syncnet`, each in a fresh interpreter, and lists which of the heavy modules
(torch, ray, cv2, ...) each imported; none should.

Importing this module runs nothing.
"""
import argparse
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FRAME_RATE = 25
WORKLOADS = ("demo", "loop", "pipeline", "long")
# "long", the 10-minute memory spot check, runs only when asked for.
DEFAULT_WORKLOADS = ("demo", "loop", "pipeline")
STAGE_CHILD_FLAG = "--_stage-child"

# Full-size and --quick inputs.
FULL = {"loop_repeats": 10, "pipeline_seconds": 30, "long_repeats": 48}  # 48 x 12.7 s: 10.1 min
QUICK = {"loop_repeats": 2, "pipeline_seconds": 4, "long_repeats": 3}

# The 720p clip: example.avi's 224x224 face scaled to 448 and centred on a 1280x720 canvas.
CLIP_FILTER = "scale=448:448,pad=1280:720:(ow-iw)/2:(oh-ih)/2"

# Targets from the issue: reported, never asserted.
TARGETS = {
    "demo": {"ratio": 1.30, "rss_mb": 600},
    "loop": {"ratio": 1.25, "rss_mb": 1000},
    "long": {"ratio": 1.25, "rss_mb": 1000},
    "pipeline": {"detect_ratio": 1.30, "other_share": 0.15},
}
# The reference implementation on the 2-core CPU machine (torch 2.13, 2 threads).
REFERENCE = {
    "demo": "16.9 s, 1.5 GB peak RSS (313 windows)",
    "loop": "178 s, 6.9 GB peak RSS",
    "long": "not run: its memory grows with length (6.9 GB at 127 s); a 10-minute video does not fit in 24 GB",
    "pipeline": "388 s",
}

# Stages of run_pipeline timed by --stages: (stage, module, attribute). Each attribute is looked
# up by run_pipeline at call time, so wrapping it there times the real run's own calls.
PIPELINE_STAGES = (
    ("convert", "syncnet.pipeline.stage", "convert_input"),
    ("load_detector", "syncnet.detection", "load_detector"),
    ("detect", "syncnet.pipeline.detection", "detect_faces_in_frames"),
    ("scenes", "syncnet.pipeline.stage", "detect_scenes"),
    ("track", "syncnet.pipeline.stage", "track_faces"),
    ("crop", "syncnet.pipeline.stage", "crop_track"),
)


class BenchError(Exception):
    """A problem with the benchmark's own inputs or options, reported as one line."""


# --------------------------------------------------------------------------------------------
# Paths and inputs


def _ensure_repo_on_path():
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def shared_dir():
    configured = os.environ.get("SYNCNET_SHARED")
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def find_example(explicit=None):
    candidates = [Path(explicit)] if explicit else [shared_dir() / "data" / "example.avi",
                                                    REPO_ROOT / "data" / "example.avi"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise BenchError("example.avi not found (looked in %s): set SYNCNET_SHARED to the shared "
                     "folder or run `bash download_model.sh`" % ", ".join(map(str, candidates)))


def _fresh(target, *sources):
    """True when target exists, is not empty and is newer than every source."""
    if not target.is_file() or target.stat().st_size == 0:
        return False
    return all(target.stat().st_mtime >= Path(s).stat().st_mtime for s in sources)


def _build(target, make, *sources):
    """Build target through a temporary file unless a fresh copy is cached; returns target."""
    if _fresh(target, *sources):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.stem + ".partial" + target.suffix)
    try:
        make(temporary)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()
    return target


def _ffmpeg(args, what):
    _ensure_repo_on_path()
    from syncnet.io.media import run_ffmpeg

    run_ffmpeg([str(a) for a in args], what)


def build_loop(example, repeats, inputs_dir):
    """example.avi played `repeats` times, stream-copied (no re-encode)."""
    target = inputs_dir / ("example_loop%d.avi" % repeats)
    return _build(target, lambda out: _ffmpeg(
        ["-stream_loop", repeats - 1, "-i", example, "-c", "copy", out],
        "loop %s %d times" % (example, repeats)), example)


def build_720p_clip(example, seconds, inputs_dir):
    """example.avi scaled to 448, padded to 1280x720 and looped to `seconds`, with its audio."""
    target = inputs_dir / ("example_720p_%ds.avi" % seconds)
    return _build(target, lambda out: _ffmpeg(
        ["-stream_loop", "-1", "-i", example, "-t", seconds, "-vf", CLIP_FILTER,
         "-c:v", "mpeg4", "-q:v", "2", "-c:a", "pcm_s16le", out],
        "build a %d s 720p clip from %s" % (seconds, example)), example)


def stand_in_weights(kind, weights_dir):
    """Deterministic stand-in weights from the shared make_weights.py (same shapes, same FLOPs)."""
    maker = shared_dir() / "fixtures" / "make_weights.py"
    if not maker.is_file():
        raise BenchError("%s not found: set SYNCNET_SHARED to the shared folder, or pass "
                         "--syncnet_model and --s3fd_model" % maker)
    name = {"syncnet": "syncnet_standin.model", "s3fd": "sfd_face_standin.pth"}[kind]

    def make(out):
        result = subprocess.run([sys.executable, str(maker), kind, str(out)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if result.returncode != 0:
            raise BenchError("make_weights.py %s failed: %s"
                             % (kind, result.stderr.decode("utf-8", "replace").strip()[-500:]))

    return _build(weights_dir / name, make, maker)


def video_size(path):
    """(width, height) of a video's frames."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    if width <= 0 or height <= 0:
        raise BenchError("cannot read the frame size of %s" % path)
    return width, height


def detection_input_size(width, height, scale):
    """(width, height) that S3FD sees: the frame resized exactly as the detector resizes it."""
    import cv2
    import numpy as np

    resized = cv2.resize(np.zeros((height, width, 3), np.uint8), dsize=(0, 0), fx=scale, fy=scale,
                         interpolation=cv2.INTER_LINEAR)
    return resized.shape[1], resized.shape[0]


# --------------------------------------------------------------------------------------------
# The floor: FLOPs per unit of work and the machine's matmul rate


def _count_flops(build_model, make_input, call):
    """FLOPs of call(model, input) with torch's FlopCounterMode, on the meta device when it can
    (shapes only: instant and load-free), else on the CPU with zeros."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                model = build_model().eval()
            counter = FlopCounterMode(display=False)
            with torch.inference_mode(), counter:
                call(model, make_input(device))
            return int(counter.get_total_flops())
        except Exception:  # an op without a meta kernel: count on real (zero) tensors instead
            if device == "cpu":
                raise
    raise AssertionError("unreachable")


def syncnet_window_flops():
    """FLOPs of one SyncNet window: forward_lip on 1x3x5x224x224 and forward_aud on 1x1x13x20."""
    import torch

    _ensure_repo_on_path()
    from syncnet.models.network import S

    lip = _count_flops(S, lambda d: torch.zeros(1, 3, 5, 224, 224, device=d),
                       lambda m, x: m.forward_lip(x))
    audio = _count_flops(S, lambda d: torch.zeros(1, 1, 13, 20, device=d),
                         lambda m, x: m.forward_aud(x))
    return {"lip": lip, "audio": audio, "window": lip + audio}


def s3fd_frame_flops(width, height):
    """FLOPs of one S3FD forward on a width x height input."""
    import torch

    _ensure_repo_on_path()
    from syncnet.detection.s3fd.nets import S3FDNet

    return _count_flops(S3FDNet, lambda d: torch.zeros(1, 3, height, width, device=d),
                        lambda m, x: m(x))


def _rate(operation, flop, device, warmup, reps):
    """GFLOP/s of `operation()` on `device`: `warmup` untimed calls, then the median and the best
    of `reps` timed ones (synchronised on CUDA), with the load average when it was measured."""
    import torch

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        for _ in range(warmup):
            operation()
        sync()
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            operation()
            sync()
            times.append(time.perf_counter() - started)
    return {"reps": reps, "gflops": flop / statistics.median(times) / 1e9,
            "best_gflops": flop / min(times) / 1e9, "at": time.time(), "loadavg": _loadavg()}


def measure_matmul(device, size=None, warmup=3, reps=10):
    """fp32 torch.mm GFLOP/s on `device` with the current thread count: median and best of reps."""
    import torch

    device = torch.device(device)
    size = size or (8192 if device.type == "cuda" else 2048)
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(size, size, generator=generator).to(device)
    b = torch.rand(size, size, generator=generator).to(device)
    c = torch.empty(size, size, device=device)
    return {"size": size, **_rate(lambda: torch.mm(a, b, out=c), 2.0 * size ** 3, device, warmup, reps)}


def measure_conv(device, warmup=3, reps=10):
    """fp32 GFLOP/s of a 3x3, 256-to-256-channel convolution at 56x56 (channels-last, inference):
    the dense rate oneDNN/cuDNN reach on layers like these networks' own. On some CPUs it is well
    above the matmul rate (MKL's sgemm runs its AVX2 code on AMD processors, oneDNN uses AVX-512)."""
    import torch

    device = torch.device(device)
    batch = 64 if device.type == "cuda" else 8
    generator = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    x = torch.rand(batch, 256, 56, 56, generator=generator).to(device).to(memory_format=torch.channels_last)
    flop = 2.0 * batch * 256 * 256 * 9 * 56 * 56
    return {"shape": [batch, 256, 56, 56], **_rate(lambda: conv(x), flop, device, warmup, reps)}


def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


# --------------------------------------------------------------------------------------------
# Running one workload in a child process


class _PeakPoller(threading.Thread):
    """Polls a live process's own VmHWM (peak RSS, grandchildren excluded) from /proc."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.path = "/proc/%d/status" % pid
        self.interval = interval
        self.peak_kb = None
        self._stop_event = threading.Event()

    def run(self):
        while True:
            self.sample()
            if self._stop_event.wait(self.interval):
                return

    def sample(self):
        try:
            with open(self.path) as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        kb = int(line.split()[1])
                        self.peak_kb = kb if self.peak_kb is None else max(self.peak_kb, kb)
                        return
        except (OSError, ValueError, IndexError):
            pass

    def stop(self):
        self._stop_event.set()
        self.join()


def run_child(command, log_stem, env):
    """Run `command` from the repository root with stdout/stderr in log files.

    Returns rc, wall_s (perf_counter around the child), peak_rss_mb (the child's own peak,
    polled from /proc until it exits, without reaping it), tree_maxrss_mb (wait4's ru_maxrss:
    the max over the child and the processes it waited for, i.e. its ffmpeg runs) and cpu_s
    (user + system of the child and its waited-for children).
    """
    log_stem.parent.mkdir(parents=True, exist_ok=True)
    stdout_path = log_stem.with_suffix(".stdout")
    stderr_path = log_stem.with_suffix(".stderr")
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen([str(c) for c in command], cwd=str(REPO_ROOT), env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        poller = _PeakPoller(process.pid)
        poller.start()
        try:
            # Wait for the exit without reaping, so that /proc/PID is still the child's while
            # the poller takes its last sample.
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            wall = time.perf_counter() - started
            poller.stop()
            poller.sample()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        except BaseException:
            poller.stop()
            if process.returncode is None and process.poll() is None:
                process.terminate()
                process.wait()
            raise
    own = poller.peak_kb / 1024 if poller.peak_kb is not None else None
    tree = usage.ru_maxrss / 1024  # kB on Linux
    return {
        "command": [str(c) for c in command],
        "rc": process.returncode,
        "wall_s": wall,
        "peak_rss_mb": own if own is not None else tree,
        "peak_rss_source": "VmHWM" if own is not None else "wait4",
        "tree_maxrss_mb": tree,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stdout": str(stdout_path),
        "stderr": str(stderr_path),
    }


def _tail(path, lines=3):
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _child_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _count_jpgs(folder):
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".jpg"))
    except OSError:
        return 0


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


# --------------------------------------------------------------------------------------------
# Workloads


def run_demo(name, video, cfg):
    """demo_syncnet.py on `video`; units are the scored windows."""
    _ensure_repo_on_path()
    from syncnet.scoring.distances import window_count

    tmp_dir = cfg["work"] / "run" / "pytmp"
    command = [sys.executable, REPO_ROOT / "demo_syncnet.py", "--initial_model", cfg["syncnet_model"],
               "--videofile", video, "--tmp_dir", tmp_dir, "--reference", name,
               "--device", cfg["device"], "--quiet"]
    run = run_child(command, cfg["work"] / "logs" / name, cfg["env"])
    result = {"workload": name, "script": "demo_syncnet.py", "input": str(video), **run}
    if run["rc"] != 0:
        result["error"] = _tail(run["stderr"]) or "exit status %d" % run["rc"]
        return result
    frames_dir = tmp_dir / name
    frames = _count_jpgs(frames_dir)
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


def run_pipeline_workload(clip, cfg):
    """run_pipeline.py on the 720p clip; units are the extracted frames (pyframes)."""
    name = "pipeline"
    data_dir = cfg["work"] / "run" / "pipeline"
    reference = "bench"
    args = ["--videofile", clip, "--data_dir", data_dir, "--reference", reference,
            "--s3fd_model", cfg["s3fd_model"], "--device", cfg["device"], "--quiet"]
    stages_path = cfg["work"] / "logs" / (name + ".stages.json")
    if cfg["stages"]:
        if stages_path.exists():
            stages_path.unlink()
        command = [sys.executable, Path(__file__).resolve(), STAGE_CHILD_FLAG, stages_path, *args]
    else:
        command = [sys.executable, REPO_ROOT / "run_pipeline.py", *args]
    run = run_child(command, cfg["work"] / "logs" / name, cfg["env"])
    result = {"workload": name, "script": "run_pipeline.py", "input": str(clip), **run}
    if run["rc"] != 0:
        result["error"] = _tail(run["stderr"]) or "exit status %d" % run["rc"]
        return result
    frames = _count_jpgs(data_dir / "pyframes" / reference)
    crops = len([f for f in os.listdir(data_dir / "pycrop" / reference) if f.endswith(".avi")])
    result.update({
        "frames": frames, "units": frames, "unit": "frames", "media_s": frames / FRAME_RATE,
        "tracks": crops, "gflop_per_unit": cfg["flops"]["s3fd_frame"] / 1e9,
        "detection_input": list(cfg["flops"]["s3fd_input"]),
    })
    if cfg["stages"]:
        result["stages"] = json.loads(stages_path.read_text())
    return result


def add_floor(result, gflops, conv_gflops):
    """Floor seconds, ratios and real-time factor for a finished workload.

    The floor is the issue's: network FLOPs at the fp32 matmul rate. The "vs conv" ratio takes
    the convolution probe's rate instead when that is higher, a tighter floor on machines whose
    convolutions outrun their matmul.
    """
    result["matmul_gflops"] = gflops
    result["conv_gflops"] = conv_gflops
    if "units" not in result:
        return result
    floor = result["units"] * result["gflop_per_unit"] / gflops
    tight_floor = result["units"] * result["gflop_per_unit"] / max(gflops, conv_gflops)
    result["floor_s"] = floor
    result["tight_floor_s"] = tight_floor
    result["per_unit_ms"] = 1000 * result["wall_s"] / result["units"] if result["units"] else None
    result["ratio"] = result["wall_s"] / floor if floor else None
    result["tight_ratio"] = result["wall_s"] / tight_floor if tight_floor else None
    result["rtf"] = result["media_s"] / result["wall_s"] if result["wall_s"] else None
    stages = result.get("stages")
    if stages:
        timed = {k: v["s"] for k, v in stages["stages"].items()}
        detect = timed.get("detect")
        result["stage_rows"] = []
        for stage, seconds in timed.items():
            row = {"stage": stage, "s": seconds, "calls": stages["stages"][stage]["calls"],
                   "share": seconds / result["wall_s"]}
            if stage == "detect":
                row.update({"floor_s": floor, "ratio": seconds / floor if floor else None,
                            "tight_ratio": seconds / tight_floor if tight_floor else None,
                            "per_unit_ms": 1000 * seconds / result["units"] if result["units"] else None})
            result["stage_rows"].append(row)
        other = result["wall_s"] - sum(timed.values())
        result["stage_rows"].append({"stage": "other", "s": other, "calls": None,
                                     "share": other / result["wall_s"]})
        if detect is not None:
            result["detect_ratio"] = detect / floor if floor else None
            result["detect_tight_ratio"] = detect / tight_floor if tight_floor else None
            result["other_share"] = (result["wall_s"] - detect) / result["wall_s"]
    return result


# --------------------------------------------------------------------------------------------
# The --stages child: run_pipeline.main with its library steps timed


def _stage_child(argv):
    """bench.py --_stage-child OUT.json RUN_PIPELINE_ARGS...: run_pipeline.main(args) with each
    step of PIPELINE_STAGES timed; writes the timings to OUT.json and exits with main's status."""
    import importlib

    started = time.perf_counter()
    out_path, args = Path(argv[0]), argv[1:]
    _ensure_repo_on_path()
    totals = {}

    def record(stage, seconds):
        entry = totals.setdefault(stage, {"s": 0.0, "calls": 0})
        entry["s"] += seconds
        entry["calls"] += 1

    def timed(stage, func):
        @functools.wraps(func)
        def wrapper(*a, **k):
            begun = time.perf_counter()
            try:
                return func(*a, **k)
            finally:
                record(stage, time.perf_counter() - begun)
        return wrapper

    missing = []
    for stage, module_name, attribute in PIPELINE_STAGES:
        module = importlib.import_module(module_name)
        if not hasattr(module, attribute):
            missing.append("%s.%s" % (module_name, attribute))
            continue
        setattr(module, attribute, timed(stage, getattr(module, attribute)))
    import run_pipeline

    imported = time.perf_counter()
    status = 0
    try:
        status = run_pipeline.main(args) or 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    finished = time.perf_counter()
    import resource

    # A wrapped stage that never ran (crop when no track is kept) is listed with 0 calls.
    report = {
        "stages": {stage: totals.get(stage, {"s": 0.0, "calls": 0})
                   for stage, module_name, attribute in PIPELINE_STAGES
                   if "%s.%s" % (module_name, attribute) not in missing},
        "missing": missing,
        "import_s": imported - started,
        "main_s": finished - imported,
        "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out_path.write_text(json.dumps(report, indent=2))
    return status


# --------------------------------------------------------------------------------------------
# Output


def _fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


COLUMNS = (("workload", 16, "<"), ("wall s", 9, ">"), ("per-unit ms", 12, ">"), ("units", 15, ">"),
           ("peak RSS MB", 12, ">"), ("floor s", 9, ">"), ("ratio", 8, ">"), ("vs conv", 8, ">"),
           ("share", 7, ">"), ("RTF", 7, ">"))


def _row(cells):
    return "  ".join(format(str(cell), align + str(width)) for cell, (_, width, align) in zip(cells, COLUMNS))


def format_table(result, cuda):
    name = result["workload"]
    media = " (%.1f s)" % result["media_s"] if "media_s" in result else ""
    lines = ["== %s: %s on %s%s ==" % (name, result["script"], Path(result["input"]).name, media),
             _row([c[0] for c in COLUMNS])]
    if "error" in result:
        lines.append(_row([name, _fmt(result["wall_s"], ".2f"), "-", "-",
                           _fmt(result["peak_rss_mb"], ".0f"), "-", "-", "-", "-", "-"]))
        lines.append("FAILED (exit %s): %s" % (result["rc"], result["error"]))
        return "\n".join(lines)
    rtf = _fmt(result["rtf"], ".2f") if cuda else "-"
    lines.append(_row([name, _fmt(result["wall_s"], ".2f"), _fmt(result["per_unit_ms"], ".1f"),
                       "%d %s" % (result["units"], result["unit"]), _fmt(result["peak_rss_mb"], ".0f"),
                       _fmt(result["floor_s"], ".2f"), _fmt(result["ratio"], ".2f") + "x",
                       _fmt(result["tight_ratio"], ".2f") + "x", "100%", rtf]))
    for row in result.get("stage_rows", []):
        ratio = _fmt(row.get("ratio"), ".2f") + "x" if row.get("ratio") is not None else "-"
        tight_ratio = _fmt(row.get("tight_ratio"), ".2f") + "x" if row.get("tight_ratio") is not None else "-"
        units = "-"
        if row["stage"] == "detect":
            units = "%d %s" % (result["units"], result["unit"])
        elif row["calls"] is not None and row["stage"] != "load_detector":
            units = "%d call%s" % (row["calls"], "" if row["calls"] == 1 else "s")
        lines.append(_row(["  " + row["stage"], _fmt(row["s"], ".2f"), _fmt(row.get("per_unit_ms"), ".1f"),
                           units, "-", _fmt(row.get("floor_s"), ".2f"), ratio, tight_ratio,
                           "%.1f%%" % (100 * row["share"]), "-"]))
    if "tracks" in result:
        lines.append("face tracks kept: %d%s" % (result["tracks"], "" if result["tracks"] else
                     " (no face passed the detector's threshold: track and crop had nothing to do)"))
    if result.get("stages", {}).get("missing"):
        lines.append("not timed (no longer in the code): %s" % ", ".join(result["stages"]["missing"]))
    lines.append("floor: %d %s x %.3f GFLOP / %.1f GFLOP/s (fp32 matmul, this run); vs conv: the same "
                 "at %.1f GFLOP/s (the higher of matmul and the 3x3 conv probe, %.1f)"
                 % (result["units"], result["unit"], result["gflop_per_unit"], result["matmul_gflops"],
                    max(result["matmul_gflops"], result["conv_gflops"]), result["conv_gflops"]))
    lines.append("peak RSS: the python process's own (VmHWM); with its ffmpeg children (wait4) %.0f MB; "
                 "CPU %.1f s (%.0f%% of wall)" % (result["tree_maxrss_mb"], result["cpu_s"],
                                                   100 * result["cpu_s"] / result["wall_s"]))
    lines.append("target: " + describe_target(result))
    lines.append("reference (2-core CPU, 2 threads): %s" % REFERENCE[name])
    return "\n".join(lines)


def _verdict(ok):
    return "met" if ok else "MISSED"


def describe_target(result):
    name = result["workload"]
    target = TARGETS[name]
    if name in ("demo", "loop", "long"):
        return ("<= %.2fx floor and < %d MB: ratio %.2fx %s, RSS %.0f MB %s"
                % (target["ratio"], target["rss_mb"], result["ratio"], _verdict(result["ratio"] <= target["ratio"]),
                   result["peak_rss_mb"], _verdict(result["peak_rss_mb"] < target["rss_mb"])))
    text = ("detection <= %.2fx its floor, everything else < %d%% of total: "
            % (target["detect_ratio"], round(100 * target["other_share"])))
    if result.get("detect_ratio") is None:
        return text + "not measured (run with --stages for the stage times; whole run %.2fx the detection floor)" \
            % result["ratio"]
    return text + "detection %.2fx %s, rest %.1f%% %s" % (
        result["detect_ratio"], _verdict(result["detect_ratio"] <= target["detect_ratio"]),
        100 * result["other_share"], _verdict(result["other_share"] < target["other_share"]))


# --------------------------------------------------------------------------------------------
# Start-up: --help and import syncnet

HEAVY_MODULES = ("torch", "ray", "cv2", "pyarrow", "boto3", "scipy", "matplotlib")
STARTUP_CHILD = """
import json, sys, time
start = time.perf_counter()
if {module!r} == "syncnet":
    import syncnet
else:
    sys.argv = [{name!r}, "--help"]
    import importlib, io, contextlib
    main = getattr(importlib.import_module({module!r}), {function!r})
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main()
        except SystemExit:
            pass
print(json.dumps([time.perf_counter() - start, [m for m in {heavy!r} if m in sys.modules]]))
"""


def console_commands():
    """(command, module, function) of every console command in pyproject.toml."""
    import tomllib

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return [(name, *target.split(":")) for name, target in scripts.items()]


def time_startup(repeats):
    """Rows of (what, median wall s of the whole child process, median in-process s, median CPU s
    of the child (user + system: what an idle machine's wall time would be, near enough),
    heavy modules)."""
    import resource

    probes = [("import syncnet", "syncnet", None)] + \
        [(f"{name} --help", module, function) for name, module, function in console_commands()]
    rows = []
    for what, module, function in probes:
        code = STARTUP_CHILD.format(module=module, name=what.split()[0], function=function, heavy=HEAVY_MODULES)
        walls, inside, cpu, heavy = [], [], [], set()
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                                  check=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            seconds, imported = json.loads(done.stdout.strip().splitlines()[-1])
            inside.append(seconds)
            heavy.update(imported)
        rows.append((what, statistics.median(walls), statistics.median(inside), statistics.median(cpu),
                     sorted(heavy)))
    return rows


def startup_table(repeats):
    lines = ["Start-up (%s, %d CPU(s), load %s; median of %d fresh interpreters; target < 1 s idle)"
             % (platform.node(), os.cpu_count(), _loadavg(), repeats),
             "%-26s %9s %12s %7s  %s" % ("command", "wall s", "in-process s", "CPU s", "heavy modules imported")]
    for what, wall, inside, cpu, heavy in time_startup(repeats):
        lines.append("%-26s %9.3f %12.3f %7.3f  %s" % (what, wall, inside, cpu, ", ".join(heavy) or "none"))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main


def build_parser():
    parser = argparse.ArgumentParser(description="Time the SyncNet demo and pipeline against their FLOP floor.")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                        help="comma-separated subset of %s (default %s; long is the 10-minute memory "
                             "spot check)" % (",".join(WORKLOADS), ",".join(DEFAULT_WORKLOADS)))
    parser.add_argument("--device", default="cpu", help="cpu or cuda (also cuda:N); default cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the matmul and the children (OMP_NUM_THREADS); "
                             "default torch's own default here")
    parser.add_argument("--work", default=None,
                        help="folder for inputs, weights, runs, logs and bench.json "
                             "(default data/work/bench in the checkout)")
    parser.add_argument("--syncnet_model", default=None,
                        help="SyncNet weights (default: stand-in weights made with make_weights.py)")
    parser.add_argument("--s3fd_model", default=None,
                        help="S3FD weights (default: stand-in weights made with make_weights.py)")
    parser.add_argument("--example", default=None,
                        help="example.avi (default $SYNCNET_SHARED/data/example.avi, else data/example.avi)")
    parser.add_argument("--stages", action="store_true",
                        help="time run_pipeline's stages (convert, detect, scenes, track, crop) within its run")
    parser.add_argument("--quick", action="store_true",
                        help="small workloads for a smoke test: 2x loop, 4 s pipeline clip, 3x long")
    parser.add_argument("--startup", action="store_true",
                        help="only time every console command's --help and `import syncnet` (a table)")
    parser.add_argument("--repeats", type=int, default=5, help="with --startup: runs of each (default 5)")
    return parser


def _parse_workloads(text):
    chosen = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown or not chosen:
        raise BenchError("--workloads %r: expected a comma-separated subset of %s"
                         % (text, ",".join(WORKLOADS)))
    return [w for w in WORKLOADS if w in chosen]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == STAGE_CHILD_FLAG:
        return _stage_child(argv[1:])
    opt = build_parser().parse_args(argv)
    if opt.startup:
        print(startup_table(max(1, opt.repeats)))
        return 0
    try:
        return _bench(opt)
    except BenchError as error:
        print("bench.py: error: %s" % error, file=sys.stderr)
        return 2


def _bench(opt):
    workloads = _parse_workloads(opt.workloads)
    _ensure_repo_on_path()
    import torch

    from syncnet.errors import SyncNetError

    device = opt.device
    cuda = device.startswith("cuda")
    if device != "cpu" and not cuda:
        raise BenchError("--device %r: expected cpu or cuda" % device)
    if cuda and not torch.cuda.is_available():
        raise BenchError("--device %s: no CUDA device is available here" % device)
    if opt.threads is not None and opt.threads < 1:
        raise BenchError("--threads must be at least 1")
    threads = opt.threads or torch.get_num_threads()
    torch.set_num_threads(threads)

    work = Path(opt.work).resolve() if opt.work else REPO_ROOT / "data" / "work" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if opt.quick else FULL
    try:
        example = find_example(opt.example)
        inputs = work / "inputs"
        syncnet_model = Path(opt.syncnet_model).resolve() if opt.syncnet_model else \
            stand_in_weights("syncnet", work / "weights")
        s3fd_model = Path(opt.s3fd_model).resolve() if opt.s3fd_model else None
        if "pipeline" in workloads and s3fd_model is None:
            s3fd_model = stand_in_weights("s3fd", work / "weights")
        for path in (syncnet_model, s3fd_model):
            if path is not None and not path.is_file():
                raise BenchError("weights not found: %s" % path)
        videos = {"demo": example}
        for name in ("loop", "long"):
            if name in workloads:
                videos[name] = build_loop(example, sizes[name + "_repeats"], inputs)
        if "pipeline" in workloads:
            videos["pipeline"] = build_720p_clip(example, sizes["pipeline_seconds"], inputs)
    except SyncNetError as error:
        raise BenchError(str(error)) from None

    flops = {"syncnet": syncnet_window_flops()}
    facedet_scale = None
    if "pipeline" in workloads:
        import run_pipeline

        facedet_scale = run_pipeline.build_parser().get_default("facedet_scale")
        frame_size = video_size(videos["pipeline"])
        det_size = detection_input_size(*frame_size, facedet_scale)
        flops.update({"s3fd_frame": s3fd_frame_flops(*det_size), "s3fd_input": det_size,
                      "pipeline_frame_size": frame_size, "facedet_scale": facedet_scale})

    cfg = {"work": work, "device": device, "env": _child_env(threads), "flops": flops, "sizes": sizes,
           "syncnet_model": syncnet_model, "s3fd_model": s3fd_model, "stages": opt.stages}
    header = [
        "SyncNet benchmark%s: %s, %s, torch %s, device %s, %d thread(s), %d CPU(s)"
        % (" (--quick)" if opt.quick else "", platform.node(), platform.machine(), torch.__version__,
           torch.cuda.get_device_name(torch.device(device)) if cuda else "cpu", threads, os.cpu_count()),
        "SyncNet window: %.2f GFLOP (lip %.2f, audio %.2f)"
        % tuple(flops["syncnet"][k] / 1e9 for k in ("window", "lip", "audio")),
    ]
    if "s3fd_frame" in flops:
        header.append("S3FD frame: %.1f GFLOP at %dx%d (%dx%d x %g)"
                      % ((flops["s3fd_frame"] / 1e9,) + tuple(flops["s3fd_input"])
                         + tuple(flops["pipeline_frame_size"]) + (facedet_scale,)))
    print("\n".join(header), flush=True)

    matmul = [measure_matmul(device)]
    conv = [measure_conv(device)]
    print("fp32 matmul %dx%d: %.1f GFLOP/s (median of %d; best %.1f)"
          % (matmul[0]["size"], matmul[0]["size"], matmul[0]["gflops"], matmul[0]["reps"],
             matmul[0]["best_gflops"]), flush=True)
    print("fp32 3x3 conv %s: %.1f GFLOP/s (median of %d; best %.1f)"
          % ("x".join(map(str, conv[0]["shape"])), conv[0]["gflops"], conv[0]["reps"],
             conv[0]["best_gflops"]), flush=True)
    results = {}
    for name in workloads:
        print("\nrunning %s ..." % name, flush=True)
        if name == "pipeline":
            result = run_pipeline_workload(videos[name], cfg)
        else:
            result = run_demo(name, videos[name], cfg)
        matmul.append(measure_matmul(device))
        conv.append(measure_conv(device))
        # The floor uses the rates measured just before and just after this workload.
        result = add_floor(result, (matmul[-2]["gflops"] + matmul[-1]["gflops"]) / 2,
                           (conv[-2]["gflops"] + conv[-1]["gflops"]) / 2)
        result["loadavg_after"] = _loadavg()
        results[name] = result
        print(format_table(result, cuda), flush=True)

    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": opt.quick, "stages": opt.stages, "device": device, "threads": threads,
        "host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "torch": torch.__version__, "sizes": sizes, "example": str(example),
        "syncnet_model": str(syncnet_model), "s3fd_model": str(s3fd_model) if s3fd_model else None,
        "flops": flops, "matmul": matmul, "conv": conv, "targets": TARGETS, "workloads": results,
    }
    out = work / "bench.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print("\nwrote %s" % out)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

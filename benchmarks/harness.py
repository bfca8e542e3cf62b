"""What every benchmark script shares: the inputs (example.avi's loops and clips, stand-in
weights), the FLOPs of the networks, the machine's measured fp32 rates, a child process's
wall time and peak memory, the load average, and table cells.

Importing this module runs nothing.
"""
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FRAME_RATE = 25
LOOP_REPEATS = 10  # example.avi played 10 times: the 127 s clip of the loop workload

# The 720p clip: example.avi's 224x224 face scaled to 448 and centred on a 1280x720 canvas.
CLIP_FILTER = "scale=448:448,pad=1280:720:(ow-iw)/2:(oh-ih)/2"


class BenchError(Exception):
    """A problem with the benchmark's own inputs or options, reported as one line."""


# --------------------------------------------------------------------------------------------
# Paths and inputs


def ensure_repo_on_path():
    """The checkout's packages importable (syncnet, detectors, the scripts), once."""
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


def ffmpeg(args, what):
    ensure_repo_on_path()
    from syncnet.io.media import run_ffmpeg

    run_ffmpeg([str(a) for a in args], what)


def build_loop(example, repeats, inputs_dir):
    """example.avi played `repeats` times, stream-copied (no re-encode)."""
    target = inputs_dir / ("example_loop%d.avi" % repeats)
    return _build(target, lambda out: ffmpeg(
        ["-stream_loop", repeats - 1, "-i", example, "-c", "copy", out],
        "loop %s %d times" % (example, repeats)), example)


def build_720p_clip(example, seconds, inputs_dir):
    """example.avi scaled to 448, padded to 1280x720 and looped to `seconds`, with its audio."""
    target = inputs_dir / ("example_720p_%ds.avi" % seconds)
    return _build(target, lambda out: ffmpeg(
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

    ensure_repo_on_path()
    from syncnet.models.network import S

    lip = _count_flops(S, lambda d: torch.zeros(1, 3, 5, 224, 224, device=d),
                       lambda m, x: m.forward_lip(x))
    audio = _count_flops(S, lambda d: torch.zeros(1, 1, 13, 20, device=d),
                         lambda m, x: m.forward_aud(x))
    return {"lip": lip, "audio": audio, "window": lip + audio}


def s3fd_frame_flops(width, height):
    """FLOPs of one S3FD forward on a width x height input."""
    import torch

    ensure_repo_on_path()
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
            "best_gflops": flop / min(times) / 1e9, "at": time.time(), "loadavg": loadavg()}


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


def loadavg():
    """The 1, 5 and 15 minute load averages (None where the system has none): printed beside
    every timing, since the machine is shared."""
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


def log_tail(path, lines=3):
    """The last lines of a child's log, on one line: why it failed."""
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def child_env(threads):
    """This environment, with `threads` torch threads for the child and its output unbuffered."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def count_jpgs(folder):
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".jpg"))
    except OSError:
        return 0


def cell_text(value, spec, missing="-"):
    """A table cell: `value` formatted by `spec`, or `missing` when there is none."""
    return missing if value is None else format(value, spec)


def table_row(cells, columns):
    """One fixed-width line of a table; columns are (title, width, alignment '<' or '>')."""
    return "  ".join(format(str(cell), align + str(width)) for cell, (_, width, align) in zip(cells, columns))

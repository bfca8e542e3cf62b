"""The pipeline workload of bench.py: run_pipeline.py on the 720p clip in a child process, its
units the extracted frames; with --stages the child is this module, which times
run_pipeline's stages within its run.

    python benchmarks/bench_pipeline.py --_stage-child OUT.json RUN_PIPELINE_ARGS...

Importing this module runs nothing.
"""
import functools
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import FRAME_RATE, REPO_ROOT, BenchError, count_jpgs, ensure_repo_on_path, log_tail, run_child  # noqa: E402

STAGE_CHILD_FLAG = "--_stage-child"

# Stages of run_pipeline timed by --stages: (stage, module, attribute). Each attribute is looked
# up by run_pipeline at call time, so wrapping it there times the real run's own calls.
PIPELINE_STAGES = (
    ("convert", "syncnet.pipeline.stage", "convert_input"),
    ("load_detector", "syncnet.detection", "load_detector"),
    ("detect", "syncnet.pipeline.stage", "detect_faces_in_frames"),
    ("scenes", "syncnet.pipeline.stage", "detect_scenes"),
    ("track", "syncnet.pipeline.stage", "track_faces"),
    ("crop", "syncnet.pipeline.stage", "crop_track"),
)


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
        result["error"] = log_tail(run["stderr"]) or "exit status %d" % run["rc"]
        return result
    frames = count_jpgs(data_dir / "pyframes" / reference)
    crops = len([f for f in os.listdir(data_dir / "pycrop" / reference) if f.endswith(".avi")])
    result.update({
        "frames": frames, "units": frames, "unit": "frames", "media_s": frames / FRAME_RATE,
        "tracks": crops, "gflop_per_unit": cfg["flops"]["s3fd_frame"] / 1e9,
        "detection_input": list(cfg["flops"]["s3fd_input"]),
    })
    if cfg["stages"]:
        result["stages"] = json.loads(stages_path.read_text())
    return result


# --------------------------------------------------------------------------------------------
# The --stages child: run_pipeline.main with its library steps timed


def _stage_child(argv):
    """bench.py --_stage-child OUT.json RUN_PIPELINE_ARGS...: run_pipeline.main(args) with each
    step of PIPELINE_STAGES timed; writes the timings to OUT.json and exits with main's status."""
    import importlib

    started = time.perf_counter()
    out_path, args = Path(argv[0]), argv[1:]
    ensure_repo_on_path()
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


if __name__ == "__main__" and sys.argv[1:2] == [STAGE_CHILD_FLAG]:
    sys.exit(_stage_child(sys.argv[2:]))

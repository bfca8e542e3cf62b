#!/usr/bin/env python3
"""The faithful path and the stream path side by side on the same synthetic clips, one table:

    python benchmarks/bench_stream.py [--work DIR] [--seconds 60] [--long_seconds 600]
                                      [--faithful_long] [--detect_every 5] [--device cpu]

Clips (made once, kept under --work): a --seconds 1280x720 two-face scene, and a --long_seconds
640x360 two-face scene for the memory comparison (through the stream path only, unless
--faithful_long: the faithful path on a long clip costs hours of this machine's CPU). Each run is a
child process (the harness's run_child: wall time and peak RSS). The face detector is S3FD with
stand-in weights (the official file's FLOPs) on the frames each path hands it; the boxes it reports
are the clip's drawn ones, so that both paths track and score the same faces. Inside the child the
detector's and SyncNet's calls are timed; "outside" is the rest: decoding, JPEG and pickle I/O,
scenes, tracking, cropping, MFCC.

Columns: wall s; real-time factor (video s / wall s); seconds outside the networks per video
second; peak RSS; wall over the FLOP floor (the networks' FLOPs at the machine's measured
convolution rate).

Importing this module runs nothing.
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402

COLUMNS = [("clip", 22, "<"), ("path", 9, "<"), ("wall s", 8, ">"), ("x real time", 11, ">"),
           ("outside s/s", 11, ">"), ("outside %", 9, ">"), ("peak RSS MB", 11, ">"), ("x floor", 8, ">")]


def make_clips(work, seconds, long_seconds):
    """(720p two-face clip, long clip), each with its drawn boxes in a .json beside it."""
    from syncnet.synthetic import make_scene_clip

    clips = []
    for name, length, size in (("twoface_720p_%ds" % seconds, seconds, (1280, 720)),
                               ("twoface_360p_%ds" % long_seconds, long_seconds, (640, 360))):
        path = work / "inputs" / (name + ".mp4")
        boxes = path.with_suffix(".json")
        if not boxes.is_file():
            truth = make_scene_clip(path, seconds=float(length), seed=24, size=size, speaker=1)
            boxes.write_text(json.dumps(truth.faces))
        clips.append((name, path, boxes, length, size))
    return clips


def child(args):
    """One path on one clip, in this process; writes the timings as JSON to args.out."""
    import torch

    from syncnet import score_video
    from syncnet.detection import register_detector
    from syncnet.detection.s3fd import S3FD
    from syncnet.models.inference import InferenceSyncNet

    truth = json.loads(Path(args.boxes).read_text())
    timers = {"detector": 0.0, "syncnet": 0.0, "detections": 0, "windows": 0}
    lead = args.lead

    class DrawnBoxes(S3FD):
        """S3FD's cost on every frame it is given; the clip's drawn boxes as its answer."""
        calls = 0

        def detect_faces_batch(self, images, conf_th, scales):
            started = time.perf_counter()
            super().detect_faces_batch(images, conf_th, scales)
            timers["detector"] += time.perf_counter() - started
            found = []
            for _ in images:
                count = DrawnBoxes.calls
                frame = count - lead if args.mode == "faithful" else count * args.detect_every
                frame = min(max(frame, 0), len(truth) - 1)
                found.append(torch.tensor([[*f["bbox"], f["conf"]] for f in truth[frame]]).reshape(-1, 5).numpy())
                DrawnBoxes.calls += 1
            timers["detections"] += len(images)
            return found

    def timed(method, counts):
        def call(self, x):
            started = time.perf_counter()
            result = method(self, x)
            timers["syncnet"] += time.perf_counter() - started
            if counts:
                timers["windows"] += len(x)
            return result
        return call

    InferenceSyncNet.forward_lip = timed(InferenceSyncNet.forward_lip, True)
    InferenceSyncNet.forward_aud = timed(InferenceSyncNet.forward_aud, False)
    register_detector("drawn-boxes", DrawnBoxes)
    started = time.perf_counter()
    result = score_video(args.video, mode=args.mode, detector="drawn-boxes", s3fd_model=args.s3fd_model,
                         syncnet_model=args.syncnet_model, device=args.device,
                         **({"detect_every": args.detect_every} if args.mode == "stream" else {}))
    timers["seconds"] = time.perf_counter() - started
    timers["tracks"] = len(result.tracks)
    timers["n_frames"] = result.n_frames
    Path(args.out).write_text(json.dumps(timers))


def lead_of(video, work):
    """How many frames run_pipeline's conversion adds in front (SPEC step 2)."""
    from syncnet.io import media

    folder = work / "lead"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    media.convert_video(video, folder / "converted.avi")
    media.extract_frames(folder / "converted.avi", folder, quality=2)
    return harness.count_jpgs(folder)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("data/work/bench_stream"))
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--long_seconds", type=int, default=600)
    parser.add_argument("--faithful_long", action="store_true", help="also the long clip through the faithful path")
    parser.add_argument("--detect_every", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--syncnet_model", default=None)
    parser.add_argument("--s3fd_model", default=None)
    # The child's own arguments.
    parser.add_argument("--child", dest="mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    parser.add_argument("--boxes", help=argparse.SUPPRESS)
    parser.add_argument("--lead", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    harness.ensure_repo_on_path()
    if args.mode:
        return child(args)

    work = args.work.resolve()
    weights = work / "weights"
    syncnet_model = args.syncnet_model or harness.stand_in_weights("syncnet", weights)
    s3fd_model = args.s3fd_model or harness.stand_in_weights("s3fd", weights)
    clips = make_clips(work, args.seconds, args.long_seconds)
    import torch

    torch.set_num_threads(args.threads)
    rate = harness.measure_conv(args.device)["gflops"] * 1e9
    window_flops = harness.syncnet_window_flops()["window"]
    env = harness.child_env(args.threads)
    print("load average at the start: %s; conv rate %.0f GFLOP/s" % (harness.loadavg(), rate / 1e9))
    print(harness.table_row([title for title, _, _ in COLUMNS], COLUMNS))
    for index, (name, video, boxes, seconds, size) in enumerate(clips):
        paths = ["faithful", "stream"] if index == 0 or args.faithful_long else ["stream"]
        lead = len(json.loads(boxes.read_text()))
        lead = lead_of(video, work) - lead if "faithful" in paths else 0
        detection_flops = harness.s3fd_frame_flops(round(size[0] * 0.25), round(size[1] * 0.25))
        for mode in paths:
            out = work / "runs" / ("%s_%s.json" % (name, mode))
            out.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, Path(__file__).resolve(), "--child", mode, "--video", video, "--boxes", boxes,
                       "--lead", lead, "--out", out, "--detect_every", args.detect_every, "--device", args.device,
                       "--syncnet_model", syncnet_model, "--s3fd_model", s3fd_model]
            run = harness.run_child(command, work / "logs" / ("%s_%s" % (name, mode)), env)
            if run["rc"] != 0:
                print("%s %s failed: %s" % (name, mode, harness.log_tail(run["stderr"])))
                continue
            timers = json.loads(out.read_text())
            outside = run["wall_s"] - timers["detector"] - timers["syncnet"]
            floor = (timers["windows"] * window_flops + timers["detections"] * detection_flops) / rate
            print(harness.table_row([name, mode, "%.0f" % run["wall_s"], "%.2f" % (seconds / run["wall_s"]),
                                     "%.3f" % (outside / seconds), "%.0f%%" % (100 * outside / run["wall_s"]),
                                     "%.0f" % run["peak_rss_mb"], "%.1f" % (run["wall_s"] / floor)], COLUMNS))
            print("    detector %.0f s (%d frames), SyncNet %.0f s (%d windows), %d tracks"
                  % (timers["detector"], timers["detections"], timers["syncnet"], timers["windows"], timers["tracks"]))
    print("load average at the end: %s" % (harness.loadavg(),))


if __name__ == "__main__":
    main()

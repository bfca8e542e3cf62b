"""syncnet-batch: the whole pipeline and SyncNet on many videos, resumable, with one summary.

    syncnet-batch videos/ --data_dir runs
    syncnet-batch 'clips/**/*.mp4' more.txt --data_dir runs --workers 2 --keep pywork

Each video gets its own folders under --data_dir, named by layout.reference_for. What has been
done is appended to DATA_DIR/batch_state.jsonl, one JSON line per video, keyed on the video's
absolute path, size and mtime: a rerun skips those videos (and failed ones too, unless
--retry_failed), and redoes any that changed. A video that fails is recorded with its error and
the batch goes on. DATA_DIR/summary.csv and summary.json list every input video: one 'video'
row each, then one 'track' row per face track.
"""
import argparse
import concurrent.futures
import copy
import csv
import glob
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time

from .cli import add_common_options, add_model_options, describe_error, reported_errors, setup_logging
from .errors import InputError, WeightsError
from .fileio import atomic_path, save_json
from .layout import FOLDERS, reference_for
from .progress import progress_bar

log = logging.getLogger("syncnet.batch")  # by name: under `python -m` __name__ is __main__

PROG = "syncnet-batch"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                    ".ts", ".3gp")
LIST_EXTENSIONS = (".txt", ".lst", ".list")
STATE_FILE = "batch_state.jsonl"
SUMMARY_FILES = ("summary.csv", "summary.json")
DEFAULT_KEEP = "pyavi,pycrop,pywork"
TRACK_FIELDS = ("track", "start_frame", "end_frame", "offset", "min_dist", "confidence")
COLUMNS = ("video", "reference", "kind") + TRACK_FIELDS + ("n_tracks", "status", "error")


def build_parser():
    import run_pipeline

    parser = argparse.ArgumentParser(
        prog=PROG, description="Find and score the face tracks of many videos, resumably, with N workers.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="a video, a folder of videos, a quoted glob pattern (** allowed), or a "
                             f"text file ({', '.join(LIST_EXTENSIONS)}) with one path per line")
    parser.add_argument("--data_dir", type=str, default="data/work",
                        help="folder for every video's folders, the state file and the summaries")
    parser.add_argument("--workers", type=int, default=None,
                        help="videos processed at once (default: 1 on CUDA, else half the CPU cores, at most 4)")
    parser.add_argument("--keep", type=str, default=DEFAULT_KEEP,
                        help=f"folders kept after each video, comma-separated from {','.join(FOLDERS)}, "
                             f"or all or none (default {DEFAULT_KEEP}: pyframes and pytmp are deleted)")
    parser.add_argument("--retry_failed", action="store_true",
                        help="run again the videos that failed in an earlier run")
    add_model_options(parser)
    run_pipeline.add_pipeline_options(parser)
    add_common_options(parser)
    return parser


def parse_keep(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return set(FOLDERS)
    if names == ["none"]:
        return set()
    unknown = [name for name in names if name not in FOLDERS]
    if unknown:
        raise InputError(f"--keep {text!r}: unknown folder {unknown[0]!r}; expected names from "
                         f"{', '.join(FOLDERS)}, or all or none")
    return set(names)


def default_workers(device):
    if device.type == "cuda":
        return 1
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def _videos_in(item):
    """The videos that one INPUT names, in a stable order."""
    if os.path.isdir(item):
        return sorted(os.path.join(item, name) for name in os.listdir(item)
                      if name.lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(os.path.join(item, name)))
    if os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
        with open(item, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
        return [line for line in lines if line and not line.startswith("#")]
    if os.path.isfile(item):
        return [item]
    if any(char in item for char in "*?["):
        return sorted(path for path in glob.glob(item, recursive=True) if os.path.isfile(path))
    raise InputError(f"{item}: no such video, folder, list file or glob pattern")


def collect_videos(inputs):
    """Absolute paths of the videos the inputs name, each once, in the order given.

    Paths in a list file are taken from the current folder; a missing one is kept, to be
    recorded as failed.
    """
    videos = []
    seen = set()
    for item in inputs:
        found = _videos_in(item)
        if not found:
            log.warning("%s: no video found", item)
        for path in found:
            path = os.path.abspath(path)
            if path not in seen:
                seen.add(path)
                videos.append(path)
    if not videos:
        raise InputError(f"no video found in {' '.join(inputs)}")
    return videos


def video_key(path):
    """(path, size, mtime_ns): what a done video is recognised by. Size and mtime are None when
    the file cannot be read."""
    try:
        status = os.stat(path)
    except OSError:
        return (path, None, None)
    return (path, status.st_size, status.st_mtime_ns)


def _record_key(record):
    return (record["video"], record["size"], record["mtime_ns"])


def read_state(path):
    """The latest record of every video in the state file; a damaged line (a run killed while
    writing it) is skipped."""
    state = {}
    if not os.path.isfile(path):
        return state
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                state[_record_key(record)] = record
            except (ValueError, KeyError, TypeError):
                continue
    return state


def append_state(path, record):
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# One scorer per process, made at its first video, so the networks load once per worker.
_scorers = {}


def _is_fatal(error):
    """A missing or damaged model file fails every video alike: stop the batch instead."""
    from detectors.s3fd import WeightsError as S3FDWeightsError

    return isinstance(error, (WeightsError, S3FDWeightsError))


def process_video(opt, keep, key):
    """Run the pipeline and SyncNet on one video; returns its state record.

    Any failure but a model-file one is recorded in the record. Folders not in `keep` are
    deleted afterwards, whatever happened.
    """
    from .api import VideoScorer

    video, size, mtime_ns = key
    reference = reference_for(video)
    record = {"video": video, "size": size, "mtime_ns": mtime_ns, "reference": reference,
              "status": "ok", "error": None, "n_frames": None, "tracks": []}
    started = time.time()
    try:
        models = (opt.device, opt.initial_model, opt.s3fd_model)
        if models not in _scorers:
            _scorers.clear()
            _scorers[models] = VideoScorer(device=opt.device, syncnet_model=opt.initial_model,
                                           s3fd_model=opt.s3fd_model)
        video_opt = copy.copy(opt)
        video_opt.videofile, video_opt.reference = video, reference
        result = _scorers[models].run(video_opt)
        record["n_frames"] = result.n_frames
        record["tracks"] = [{"track": t.track, "start_frame": int(t.frames[0]), "end_frame": int(t.frames[-1]),
                             "offset": t.offset, "min_dist": t.min_dist, "confidence": t.confidence}
                            for t in result.tracks]
    except Exception as error:
        if _is_fatal(error):
            raise
        record["status"], record["error"] = "failed", describe_error(error)
        log.debug("%s failed", video, exc_info=True)  # the traceback, with --debug
    finally:
        for name in set(FOLDERS) - keep:
            shutil.rmtree(os.path.join(opt.data_dir, name, reference), ignore_errors=True)
    record["seconds"] = round(time.time() - started, 3)
    return record


def _start_worker(threads, quiet, debug):
    import torch

    torch.set_num_threads(threads)
    setup_logging(PROG, quiet, debug)


def run_videos(opt, keep, keys, workers):
    """Yield the record of each video as it finishes: in this process with one worker, else
    in `workers` spawned processes that share the CPU cores."""
    if workers == 1:
        for key in keys:
            yield process_video(opt, keep, key)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    worker_opt = copy.copy(opt)
    worker_opt.quiet = True  # one bar for the batch: the workers' own bars would tangle with it
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker, initargs=(threads, opt.quiet, opt.debug))
    try:
        futures = [pool.submit(process_video, worker_opt, keep, key) for key in keys]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def summary_rows(records):
    """A 'video' row per record, then a 'track' row per face track. The video row carries the
    track with the highest confidence (the likeliest speaker) and the number of tracks."""
    rows = []
    for record in records:
        base = dict.fromkeys(COLUMNS)
        base.update(video=record["video"], reference=record["reference"])
        tracks = record["tracks"]
        video_row = dict(base, kind="video", status=record["status"], error=record["error"])
        if record["status"] == "ok":
            video_row["n_tracks"] = len(tracks)
        if tracks:
            best = max(tracks, key=lambda track: track["confidence"])
            video_row.update((name, best[name]) for name in TRACK_FIELDS)
        rows.append(video_row)
        rows.extend(dict(base, kind="track", status="ok", **{name: track[name] for name in TRACK_FIELDS})
                    for track in tracks)
    return rows


def write_summary(data_dir, rows):
    csv_path, json_path = (os.path.join(data_dir, name) for name in SUMMARY_FILES)
    with atomic_path(csv_path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    save_json(rows, json_path)
    return csv_path, json_path


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors(PROG, opt.debug, opt.quiet):
        import run_pipeline
        from tqdm.contrib.logging import logging_redirect_tqdm

        from .devices import resolve_device
        from .paths import find_s3fd_weights, find_syncnet_model

        keep = parse_keep(opt.keep)
        run_pipeline.check_pipeline_options(opt)
        if opt.workers is not None and opt.workers < 1:
            raise InputError(f"--workers {opt.workers}: expected at least 1")
        workers = opt.workers or default_workers(resolve_device(opt.device))
        # Missing model files stop the batch now, not once per video.
        opt.initial_model = find_syncnet_model(opt.initial_model)
        opt.s3fd_model = find_s3fd_weights(opt.s3fd_model)
        videos = collect_videos(opt.inputs)
        os.makedirs(opt.data_dir, exist_ok=True)
        state_path = os.path.join(opt.data_dir, STATE_FILE)
        state = read_state(state_path)
        keys = [video_key(video) for video in videos]
        todo = [key for key in keys if key not in state
                or (opt.retry_failed and state[key]["status"] != "ok")]
        log.info("%d video(s): %d to run with %d worker(s), %d done before",
                 len(keys), len(todo), workers, len(keys) - len(todo))

        failed = 0
        with progress_bar(len(todo), "videos", "video", opt.quiet) as bar, logging_redirect_tqdm():
            for record in run_videos(opt, keep, todo, workers):
                append_state(state_path, record)
                state[_record_key(record)] = record
                if record["status"] == "ok":
                    log.info("%s: %d face track(s), %.1f s", record["video"], len(record["tracks"]),
                             record["seconds"])
                else:
                    failed += 1
                    log.warning("%s: failed: %s", record["video"], record["error"])
                bar.update(1)
        csv_path, json_path = write_summary(opt.data_dir, summary_rows([state[key] for key in keys]))
        print("%d video(s): %d run, %d failed, %d skipped as done before; summary in %s and %s"
              % (len(keys), len(todo), failed, len(keys) - len(todo), csv_path, json_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

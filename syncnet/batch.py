"""The batch runner: the whole pipeline and SyncNet on many videos, resumable, with one summary.

Each video gets its own folders under the data folder, named by layout.reference_for, and
runs through the same orchestrator as the scripts (syncnet.api.VideoScorer). What has been
done is appended to DATA_DIR/batch_state.jsonl, one JSON line per video, keyed on the video's
absolute path, size and mtime: a rerun skips those videos (and failed ones too, unless
retry_failed), and redoes any that changed. A video that fails is recorded with its error and
the batch goes on. DATA_DIR/summary.csv and summary.json list every input video: one 'video'
row each, then one 'track' row per face track. The command is syncnet.cli.batch.
"""
import concurrent.futures
import csv
import glob
import json
import logging
import multiprocessing
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field

from .errors import InputError, WeightsError, describe_error
from .fileio import atomic_path, save_json
from .layout import FOLDERS, Layout, reference_for, remove_abandoned, remove_owned_dir
from .options import ModelOptions, OutputOptions, PipelineOptions, ScoringOptions

log = logging.getLogger("syncnet.batch")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                    ".ts", ".3gp")
LIST_EXTENSIONS = (".txt", ".lst", ".list")
STATE_FILE = "batch_state.jsonl"
SUMMARY_FILES = ("summary.csv", "summary.json")
DEFAULT_KEEP = ("pyavi", "pycrop", "pywork")
TRACK_FIELDS = ("track", "start_frame", "end_frame", "offset", "min_dist", "confidence")
COLUMNS = ("video", "reference", "kind") + TRACK_FIELDS + ("n_tracks", "status", "error")


@dataclass(frozen=True)
class BatchConfig:
    """Everything a batch run needs, for the driver and for every worker."""
    data_dir: str
    pipeline: PipelineOptions = PipelineOptions()
    scoring: ScoringOptions = ScoringOptions()
    outputs: OutputOptions = OutputOptions()
    models: ModelOptions = ModelOptions()
    keep: frozenset = frozenset(DEFAULT_KEEP)
    workers: int = 1
    retry_failed: bool = False
    reuse_faces: bool = False
    quiet: bool = True
    debug: bool = False


@dataclass
class BatchReport:
    """What a batch run did; `records` are the state records of every input, in input order."""
    n_videos: int
    n_run: int
    n_failed: int
    n_skipped: int
    records: list = field(default_factory=list)
    summary_files: tuple = ()
    interrupted: bool = False   # stopped before every video had run


def parse_keep(text):
    """The folders to keep after each video, from 'pyavi,pywork', 'all' or 'none'."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return frozenset(FOLDERS)
    if names == ["none"]:
        return frozenset()
    unknown = [name for name in names if name not in FOLDERS]
    if unknown:
        raise InputError(f"--keep {text!r}: unknown folder {unknown[0]!r}; expected names from "
                         f"{', '.join(FOLDERS)}, or all or none")
    return frozenset(names)


def default_workers(device):
    if device.type == "cuda":
        return 1
    return max(1, min(4, (os.cpu_count() or 1) // 2))


# A comment starts at a '#' that begins the line or follows a space, so 'take#2.mp4' is a path.
_COMMENT = re.compile(r"(^|\s)#.*$")


def read_list_file(path):
    """The paths a list file names, one per line; '#' starts a comment. Bytes that are not UTF-8
    are kept as the file system would take them; a line that cannot be a path (a NUL byte) is
    kept too, to be recorded as failed."""
    with open(path, "rb") as handle:
        lines = handle.read().splitlines()
    paths = []
    for raw in lines:
        line = _COMMENT.sub("", os.fsdecode(raw)).strip()
        if line:
            paths.append(line)
    return paths


def _videos_in(item):
    """The videos that one INPUT names, in a stable order."""
    if os.path.isdir(item):
        return sorted(os.path.join(item, name) for name in os.listdir(item)
                      if name.lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(os.path.join(item, name)))
    if os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
        return read_list_file(item)
    if os.path.isfile(item):
        return [item]
    if any(char in item for char in "*?["):
        return sorted(path for path in glob.glob(item, recursive=True) if os.path.isfile(path))
    raise InputError(f"{item}: no such video, folder, list file or glob pattern")


def _identity(path):
    """What makes two names one file: its real path (symlinks, '..' and loops resolved)."""
    if "\0" in path:
        return path
    return os.path.realpath(path)


def collect_videos(inputs):
    """Absolute paths of the videos the inputs name, each file once, in the order given.

    Paths in a list file are taken from the current folder; a missing or impossible one is
    kept, to be recorded as failed.
    """
    videos = []
    seen = set()
    for item in inputs:
        found = _videos_in(item)
        if not found:
            log.warning("%s: no video found", item)
        for path in found:
            path = path if "\0" in path else os.path.abspath(path)
            identity = _identity(path)
            if identity not in seen:
                seen.add(identity)
                videos.append(path)
    if not videos:
        raise InputError(f"no video found in {' '.join(inputs)}")
    return videos


def video_key(path):
    """(path, size, mtime_ns): what a done video is recognised by. Size and mtime are None when
    the file cannot be read."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
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
    """Append one record as one line. A line cut short by a killed run is closed first, so it
    cannot swallow this record."""
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write(json.dumps(record).encode("ascii") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


# One scorer per process, made at its first video, so the networks load once per worker.
_scorers = {}


def _scorer_for(models):
    from .api import VideoScorer

    if models not in _scorers:
        _scorers.clear()
        _scorers[models] = VideoScorer.from_options(models)
    return _scorers[models]


def is_fatal(error):
    """A missing or damaged model file fails every video alike: stop the batch instead."""
    from detectors.s3fd import WeightsError as S3FDWeightsError

    return isinstance(error, (WeightsError, S3FDWeightsError))


def process_video(config, key):
    """Run the pipeline and SyncNet on one video; returns its state record.

    Any failure but a model-file one is recorded in the record. Folders not in `keep` are
    deleted afterwards, whatever happened.
    """
    video, size, mtime_ns = key
    reference = reference_for(video)
    record = {"video": video, "size": size, "mtime_ns": mtime_ns, "reference": reference,
              "status": "ok", "error": None, "n_frames": None, "tracks": []}
    started = time.time()
    log.info("%s: started", video)
    try:
        result = _scorer_for(config.models).score(
            video, work_dir=config.data_dir, reference=reference, pipeline=config.pipeline,
            scoring=config.scoring, outputs=config.outputs, reuse_faces=config.reuse_faces, quiet=True)
        record["n_frames"] = result.n_frames
        record["tracks"] = [{"track": t.track, "start_frame": t.start_frame, "end_frame": t.end_frame,
                             "offset": t.offset, "min_dist": _plain(t.min_dist),
                             "confidence": _plain(t.confidence)}
                            for t in result.tracks]
    except Exception as error:
        if is_fatal(error):
            raise
        record["status"], record["error"] = "failed", describe_error(error)
        log.debug("%s failed", video, exc_info=True)  # the traceback, with --debug
    finally:
        for name in set(FOLDERS) - config.keep:
            remove_owned_dir(os.path.join(config.data_dir, name, reference))
    record["seconds"] = round(time.time() - started, 3)
    return record


def _plain(value):
    return None if value != value else value  # NaN (an unscored track) is null in JSON


def _start_worker(threads, quiet, debug, parent):
    import signal

    import torch

    from .cli import setup_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the batch decides
    _die_with(parent)
    torch.set_num_threads(threads)
    setup_logging("syncnet-batch", quiet, debug)


def _die_with(parent):
    """End this worker, and the ffmpeg it runs, when the batch that started it ends, however it
    ends (even SIGKILL).

    The worker leads a process group of its own, which its ffmpeg processes join; the kernel's
    parent-death signal (SIGTERM) makes it kill that group, and a watcher thread does the same
    where there is no such signal. The batch stops a worker the same way: SIGKILL to its group.
    """
    import ctypes
    import signal
    import threading

    def end_group(*_):
        os.killpg(0, signal.SIGKILL)

    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, end_group)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the batch died before the signal was armed
        end_group()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        end_group()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_TRACKER_NOISE = "ignore::UserWarning:multiprocessing.resource_tracker"


def run_videos(config, keys, stop=None):
    """Yield the record of each video as it finishes: in this process with one worker, else
    in `config.workers` spawned processes that share the CPU cores.

    At most two videos per worker are queued at a time, so a list of 100,000 videos costs no
    more than a few. Once `stop` (a threading.Event) is set, nothing new starts: the videos that
    finished are still yielded, the workers are stopped, and the folders of the videos that did
    not finish are removed.
    """
    stop = stop or threading.Event()
    if config.workers == 1:
        for key in keys:
            if stop.is_set():
                return
            try:
                record = process_video(config, key)
            except BaseException:  # interrupted, or a model file that fails every video
                remove_video_folders(config.data_dir, reference_for(key[0]))
                raise
            yield record
        return
    threads = max(1, (os.cpu_count() or 1) // config.workers)
    # Stopping kills the workers, which leaves their queues' semaphores to multiprocessing's
    # resource tracker; its warning about that, printed after our last line, is only noise.
    if _TRACKER_NOISE not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_NOISE)
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=config.workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker, initargs=(threads, config.quiet, config.debug, os.getpid()))
    pending = {}
    todo = iter(keys)

    def fill():
        while not stop.is_set() and len(pending) < 2 * config.workers:
            key = next(todo, None)
            if key is None:
                return
            pending[pool.submit(process_video, config, key)] = key

    try:
        fill()
        while pending and not stop.is_set():
            done, _ = concurrent.futures.wait(pending, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                del pending[future]
                yield future.result()
            fill()
        for future in [future for future in pending if future.done() and future.exception() is None]:
            del pending[future]  # finished while stopping: still recorded
            yield future.result()
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        if pending:
            _stop_workers(pool)
            for key in pending.values():
                remove_video_folders(config.data_dir, reference_for(key[0]))
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool):
    """Kill the pool's workers and their ffmpeg now (each leads its own process group, see
    _die_with): an interrupted batch does not wait for their videos."""
    import signal

    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    for process in processes:
        process.join(timeout=10)


def remove_video_folders(data_dir, reference):
    """Remove the folders of a video that did not finish, staging folders of a killed worker
    included (only those the suite made)."""
    for name in FOLDERS:
        remove_owned_dir(os.path.join(data_dir, name, reference))
    remove_abandoned(Layout(data_dir, reference))


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
        scored = [track for track in tracks if track["confidence"] is not None]
        if scored:
            best = max(scored, key=lambda track: track["confidence"])
            video_row.update((name, best[name]) for name in TRACK_FIELDS)
        rows.append(video_row)
        rows.extend(dict(base, kind="track", status="ok", **{name: track[name] for name in TRACK_FIELDS})
                    for track in tracks)
    return rows


def write_summary(data_dir, rows):
    csv_path, json_path = (os.path.join(data_dir, name) for name in SUMMARY_FILES)
    # A name that is not UTF-8 is written with backslash escapes rather than failing the summary.
    with atomic_path(csv_path) as temporary, \
            open(temporary, "w", newline="", encoding="utf-8", errors="backslashreplace") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    save_json(rows, json_path)
    return csv_path, json_path


def run_batch(videos, config, on_plan=None, on_record=None, stop=None):
    """Score `videos` (absolute paths, see collect_videos) as `config` says; returns a BatchReport.

    `on_plan(n_to_run)` is called once the state file has been read, and `on_record(record)` as
    each video finishes (for progress). Setting `stop` (a threading.Event) ends the run early:
    the report then says `interrupted`, and holds what finished. A missing model file
    stops the batch before any video; so does a damaged one, found when the networks load.
    """
    if config.workers == 1:
        _scorer_for(config.models).load()  # this process is the worker
    else:
        from .paths import find_s3fd_weights, find_syncnet_model

        find_syncnet_model(config.models.syncnet_model)
        find_s3fd_weights(config.models.s3fd_model)
    os.makedirs(config.data_dir, exist_ok=True)
    state_path = os.path.join(config.data_dir, STATE_FILE)
    state = read_state(state_path)
    keys = [video_key(video) for video in videos]
    todo = [key for key in keys if key not in state or (config.retry_failed and state[key]["status"] != "ok")]
    log.info("%d video(s): %d to run with %d worker(s), %d done before",
             len(keys), len(todo), config.workers, len(keys) - len(todo))
    if on_plan is not None:
        on_plan(len(todo))
    failed = done = 0
    try:
        for record in run_videos(config, todo, stop):
            done += 1
            append_state(state_path, record)
            state[_record_key(record)] = record
            failed += record["status"] != "ok"
            if on_record is not None:
                on_record(record)
    finally:  # interrupted too: the summary holds every video recorded so far
        records = [state[key] for key in keys if key in state]
        files = write_summary(config.data_dir, summary_rows(records))
    return BatchReport(n_videos=len(keys), n_run=done, n_failed=failed, n_skipped=len(keys) - len(todo),
                       records=records, summary_files=files, interrupted=done < len(todo))


if __name__ == "__main__":  # `python -m syncnet.batch` is the syncnet-batch command
    import sys

    from .cli.batch import main

    sys.exit(main())

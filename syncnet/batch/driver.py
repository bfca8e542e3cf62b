"""The batch runner: the whole pipeline and SyncNet on many videos, resumable, with one summary.

Each video gets its own folders under the data folder, named by layout.reference_for, and runs
through the same orchestrator as the scripts (syncnet.api.VideoScorer; see batch_worker). An
engine hands the videos to workers: `local` (this machine, local_engine) or `ray` (a Ray
cluster, ray_engine). What has been done is recorded per video, keyed on its path (or URI),
size and version (mtime, or an object's ETag), with a fingerprint of the options: a rerun
skips those videos (and failed ones too, unless retry_failed), and redoes any that changed or
were scored with other options. A video that fails is recorded with its error and the batch
goes on. The data folder gets summary.csv, summary.json and summary.parquet: one 'video' row
per input, then one 'track' row per face track. The command is syncnet.cli.batch.
"""
import csv
import glob
import hashlib
import io
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from syncnet.io import storage
from syncnet.runtime import extras
from syncnet.batch.curation import (MANIFEST_COLUMNS, MANIFEST_FILES, CurationOptions, kept_clips, manifest_rows,
                                   remove_unkept)
from syncnet.errors import InputError
from syncnet.io.fileio import json_text
from syncnet.io.layout import FOLDERS
from syncnet.options import ModelOptions, OutputOptions, PipelineOptions, ScoringOptions, as_path, checked_number

log = logging.getLogger("syncnet.batch")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                    ".ts", ".3gp")
LIST_EXTENSIONS = (".txt", ".lst", ".list")
STATE_FILE = "batch_state.jsonl"      # in a local data folder: one JSON line per video
STATE_PREFIX = "batch_state"          # in object storage: one object per video (objects cannot grow)
SUMMARY_FILES = ("summary.csv", "summary.json", "summary.parquet")
PARQUET_LEFT_OUT = "the .parquet tables are left out (the .csv and .json ones are written)"
DEFAULT_KEEP = ("pyavi", "pycrop", "pywork")
TRACK_FIELDS = ("track", "start_frame", "end_frame", "offset", "min_dist", "confidence")
# reason: why a video has no scored track (syncnet.pipeline.tracking reasons, or
# syncnet.scoring.results.CLIP_TOO_SHORT); empty when one is scored.
# The timeline column group (syncnet.timeline.Timeline.columns); null in a record made before it.
TIMELINE_FIELDS = ("offset_ms", "verdict", "drift_ms_per_min", "offset_ms_at_start", "offset_ms_at_end", "n_jumps")
COLUMNS = ("video", "reference", "kind") + TRACK_FIELDS + TIMELINE_FIELDS + ("n_tracks", "status", "reason", "error")
ENGINES = ("local", "ray")
MAX_WORKERS = 4096  # videos at once: one actor slot (or worker process) each
# The exit status of a batch in which some video failed (0 with --allow_failures).
EXIT_SOME_FAILED = 3


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray engine runs its workers, and what each worker actor asks the cluster for."""
    address: Optional[str] = None   # None: a private local runtime for this run; 'auto', HOST:PORT, ray://HOST:PORT
    num_cpus: float = 1.0           # per worker actor
    num_gpus: float = 0.0           # per worker actor; fractions share a GPU

    def __post_init__(self):
        object.__setattr__(self, "num_cpus", checked_number("ray_num_cpus", self.num_cpus, above=0))
        object.__setattr__(self, "num_gpus", checked_number("ray_num_gpus", self.num_gpus, minimum=0))


@dataclass(frozen=True)
class BatchConfig:
    """Everything a batch run needs, for the driver and for every worker."""
    data_dir: str
    pipeline: PipelineOptions = PipelineOptions()
    scoring: ScoringOptions = ScoringOptions()
    outputs: OutputOptions = OutputOptions()
    models: ModelOptions = ModelOptions()
    keep: frozenset = frozenset(DEFAULT_KEEP)
    workers: Optional[int] = None   # None: the engine's default
    retry_failed: bool = False
    reuse_faces: bool = False
    engine: str = "local"
    max_retries: int = 2            # how often a video is retried after its worker died
    scratch_dir: Optional[str] = None  # workers' local disk for each video's folders (default: the system's)
    curate: Optional[CurationOptions] = None
    whole_frames: bool = False      # no face tracks: every frame resized to 224x224, one "track" (wav2lip-lrs)
    ray: RayOptions = RayOptions()
    quiet: bool = True
    debug: bool = False

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise InputError(f"--engine {self.engine!r}: expected one of {', '.join(ENGINES)}")
        checked = {"data_dir": as_path(self.data_dir, "--data_dir"),
                   "max_retries": checked_number("max_retries", self.max_retries, int, minimum=0, maximum=1000)}
        if self.workers is not None:
            checked["workers"] = checked_number("workers", self.workers, int, minimum=1, maximum=MAX_WORKERS)
        if self.scratch_dir is not None:
            checked["scratch_dir"] = as_path(self.scratch_dir, "--scratch_dir")
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.whole_frames and self.curate is not None:
            raise InputError("curation needs face tracks; it cannot run on whole frames")

    @property
    def in_place(self):
        """True when videos are built right in the data folder (the local engine on a local
        folder); else each worker builds in its scratch and publishes what `keep` keeps."""
        return self.engine == "local" and not storage.is_uri(self.data_dir)

    def fingerprint(self):
        """A short hash of everything that changes a video's results: a record made with
        other options is not reused."""
        settings = {"pipeline": asdict(self.pipeline), "scoring": asdict(self.scoring),
                    "outputs": asdict(self.outputs), "models": [self.models.syncnet_model, self.models.s3fd_model],
                    # The default detector goes unnamed, so the records of earlier runs stay valid.
                    **({"detector": self.models.detector} if self.models.detector != ModelOptions.detector else {}),
                    "curate": asdict(self.curate) if self.curate else None, "whole_frames": self.whole_frames}
        return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class BatchReport:
    """What a batch run did; `records` are the state records of every input, in input order."""
    n_videos: int
    n_run: int
    n_failed: int
    n_skipped: int
    records: list = field(default_factory=list)
    summary_files: tuple = ()
    manifest_files: tuple = ()
    interrupted: bool = False   # stopped before every video had run

    @property
    def n_failed_total(self):
        """Inputs whose latest record is a failure, from this run or an earlier one: what the
        exit status is computed from."""
        return sum(record["status"] != "ok" for record in self.records)

    @property
    def any_failed(self):
        """Whether any input's record, from this run or an earlier one, is a failure."""
        return self.n_failed_total > 0


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


# ------------------------------------------------------------------ inputs

# A comment starts at a '#' that begins the line or follows a space, so 'take#2.mp4' is a path.
_COMMENT = re.compile(r"(^|\s)#.*$")


def read_list_file(path):
    """The paths a list file names, one per line; '#' starts a comment. Bytes that are not UTF-8
    are kept as the file system would take them; a line that cannot be a path (a NUL byte) is
    kept too, to be recorded as failed."""
    data = storage.read_bytes(path)
    paths = []
    for raw in data.splitlines():
        line = _COMMENT.sub("", os.fsdecode(raw)).strip()
        if line:
            paths.append(line)
    return paths


def _is_video(name):
    return name.lower().endswith(VIDEO_EXTENSIONS)


def _videos_in(item):
    """The videos that one INPUT names, in a stable order."""
    if storage.is_uri(item):
        return _objects_in(item)
    if os.path.isdir(item):
        return sorted(os.path.join(item, name) for name in os.listdir(item)
                      if _is_video(name) and os.path.isfile(os.path.join(item, name)))
    if os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
        return read_list_file(item)
    if os.path.isfile(item):
        return [item]
    if any(char in item for char in "*?["):
        return sorted(path for path in glob.glob(item, recursive=True) if os.path.isfile(path))
    raise InputError(f"{item}: no such video, folder, list file or glob pattern")


def _objects_in(uri):
    """An object-storage INPUT: a video object, a list-file object, a prefix of videos, or a glob."""
    import fnmatch

    if any(char in uri for char in "*?["):
        prefix = re.split(r"[*?\[]", uri, maxsplit=1)[0].rpartition("/")[0]
        return [found for found in storage.list_files(prefix) if fnmatch.fnmatchcase(found, uri)]
    if uri.lower().endswith(LIST_EXTENSIONS) and storage.stat(uri)[0] is not None:
        return read_list_file(uri)
    if _is_video(uri) and storage.stat(uri)[0] is not None:
        return [uri]
    found = [path for path in storage.list_files(uri.rstrip("/")) if _is_video(path)]
    if not found:
        raise InputError(f"{uri}: no such video object, list file or prefix of videos")
    return found


def _identity(path):
    """What makes two names one file: its real path (symlinks, '..' and loops resolved)."""
    if "\0" in path or storage.is_uri(path):
        return path
    return os.path.realpath(path)


def collect_videos(inputs):
    """Absolute paths (or URIs) of the videos the inputs name, each file once, in the order given.

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
            path = path if storage.is_uri(path) else os.path.abspath(path)
            identity = _identity(path)
            if identity not in seen:
                seen.add(identity)
                videos.append(path)
    if not videos:
        raise InputError(f"no video found in {' '.join(inputs)}")
    return videos


def video_key(path):
    """(path, size, version): what a done video is recognised by. The version is the mtime of
    a file, the ETag of an object; size and version are None when it cannot be read."""
    if storage.is_uri(path):
        try:
            return (path, *storage.stat(path))
        except storage.NotAnObject:  # a list file's line: recorded as failed, with why
            return (path, None, None)
    try:
        status = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL byte in the name
        return (path, None, None)
    return (path, status.st_size, status.st_mtime_ns)


def record_key(record):
    return (record["video"], record["size"], record.get("etag") if "etag" in record else record.get("mtime_ns"))


# ------------------------------------------------------------------ state


def read_state(path):
    """The latest record of every video in a state file; a damaged line (a run killed while
    writing it) is skipped, with a warning."""
    state, damaged = {}, 0
    if not os.path.isfile(path):
        return state
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                state[record_key(record)] = record
            except (ValueError, KeyError, TypeError):
                damaged += 1
    if damaged:
        log.warning("%s: skipped %d unreadable line(s) (a run killed while writing): their videos run again",
                    path, damaged)
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
        handle.write(json_text(record).encode("ascii") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


class StateStore:
    """The records of a data folder: a JSON-lines file locally, one object per video in object
    storage (where nothing can be appended to)."""

    def __init__(self, data_dir):
        self.data_dir = data_dir

    def read(self):
        if not storage.is_uri(self.data_dir):
            return read_state(os.path.join(self.data_dir, STATE_FILE))
        state = {}
        for uri in storage.list_files(storage.join(self.data_dir, STATE_PREFIX)):
            try:
                record = json.loads(storage.read_bytes(uri))
                state[record_key(record)] = record
            except (ValueError, KeyError, TypeError):
                continue
        return state

    def append(self, record):
        if not storage.is_uri(self.data_dir):
            append_state(os.path.join(self.data_dir, STATE_FILE), record)
            return
        name = hashlib.sha1(record["video"].encode("utf-8", "surrogateescape")).hexdigest() + ".json"
        storage.write_bytes(storage.join(self.data_dir, STATE_PREFIX, name), json_text(record).encode("ascii"))


# ------------------------------------------------------------------ summaries


def summary_rows(records):
    """A 'video' row per record, then a 'track' row per face track. The video row carries the
    track with the highest confidence (the likeliest speaker) and the number of tracks."""
    rows = []
    for record in records:
        base = dict.fromkeys(COLUMNS)
        base.update(video=record["video"], reference=record["reference"])
        tracks = record["tracks"]
        video_row = dict(base, kind="video", status=record["status"], reason=record.get("reason"),
                         error=record["error"])
        if record["status"] == "ok":
            video_row["n_tracks"] = len(tracks)
        scored = [track for track in tracks if track["confidence"] is not None]
        if scored:
            best = max(scored, key=lambda track: track["confidence"])
            video_row.update((name, best.get(name)) for name in TRACK_FIELDS + TIMELINE_FIELDS)
        rows.append(video_row)
        rows.extend(dict(base, kind="track", status="ok",
                         **{name: track.get(name) for name in TRACK_FIELDS + TIMELINE_FIELDS})
                    for track in tracks)
    return rows


# The Parquet types of the summary's columns (docs/batch.md, "Summary"); every column may be null.
SUMMARY_TYPES = {"video": "string", "reference": "string", "kind": "string", "track": "int32",
                 "start_frame": "int32", "end_frame": "int32", "offset": "int32", "min_dist": "float64",
                 "confidence": "float64", "offset_ms": "int32", "verdict": "string", "drift_ms_per_min": "float64",
                 "offset_ms_at_start": "float64", "offset_ms_at_end": "float64", "n_jumps": "int32",
                 "n_tracks": "int32", "status": "string", "reason": "string", "error": "string"}
MANIFEST_TYPES = {"video": "string", "reference": "string", "decision": "string", "reason": "string",
                  "offset": "int32", "confidence": "float64", "n_tracks": "int32", "output": "string"}


def table_bytes(rows, columns, kind):
    """`rows` as CSV, JSON or Parquet (typed by SUMMARY_TYPES / MANIFEST_TYPES) bytes."""
    if kind == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows({name: _text_value(value) for name, value in row.items()} for row in rows)
        return text.getvalue().encode("utf-8")
    if kind == "json":
        return (json_text(rows, indent=2) + "\n").encode("ascii")
    pa = extras.require("parquet", "a .parquet table", "pyarrow")
    pq = extras.require("parquet", "a .parquet table", "pyarrow.parquet")
    types = {**SUMMARY_TYPES, **MANIFEST_TYPES}
    schema = pa.schema([(name, pa.type_for_alias(types[name])) for name in columns])
    table = pa.Table.from_pylist([{name: _text_value(row[name]) for name in columns} for row in rows], schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _text_value(value):
    """A cell as any reader takes it: bytes that are not UTF-8 and NUL bytes as escapes."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\0", "\\x00")
    return value


def write_tables(folder, names, rows, columns):
    """rows as names[i]'s format (.csv, .json, .parquet) in a folder or object prefix.

    Without pyarrow (the parquet extra) the .parquet tables are left out, said once, and one
    an earlier run wrote is removed, so that no table there disagrees with the others."""
    paths = []
    for name in names:
        path = storage.join(folder, name)
        if name.endswith(".parquet") and not extras.available("parquet"):
            extras.warn_missing("parquet", PARQUET_LEFT_OUT)
            storage.remove(path)
            continue
        storage.write_bytes(path, table_bytes(rows, columns, name.rsplit(".", 1)[1]))
        paths.append(path)
    return tuple(paths)


# ------------------------------------------------------------------ the run


def engine_runner(config):
    """The engine's `run(config, keys, stop)`, which yields a record per video."""
    if config.engine == "ray":
        from syncnet.batch.ray_engine import run_ray

        return run_ray
    from syncnet.batch.local_engine import run_local

    return run_local


def check_models(config):
    """A missing model file stops the batch now; in this process (the local engine's single
    worker) a damaged one too, as the networks load."""
    if config.engine == "local" and config.workers == 1:
        from syncnet.batch.worker import scorer_for

        scorer_for(config.models).load(detector=not config.whole_frames)
        return
    from syncnet.detection import get_detector
    from syncnet.models.paths import find_syncnet_model

    needed = [(find_syncnet_model, config.models.syncnet_model)]
    if not config.whole_frames:
        needed.append((get_detector(config.models.detector).find_weights, config.models.s3fd_model))
    for find, path in needed:
        if path is None or not storage.is_uri(path):
            find(path)


def check_outputs(config):
    """Every folder the run writes to is writable, before the first video: the data folder, the
    curation folder, and the local engine's scratch folder."""
    storage.check_writable(config.data_dir, "--data_dir")
    if config.curate is not None:
        storage.check_writable(config.curate.out_dir, "--curate")
    if config.engine == "local" and (not config.in_place or config.curate is not None or config.whole_frames):
        import tempfile

        storage.check_writable(config.scratch_dir or tempfile.gettempdir(), "--scratch_dir")


def run_batch(videos, config, on_plan=None, on_record=None, stop=None):
    """Score `videos` (see collect_videos) as `config` says; returns a BatchReport.

    `on_plan(n_to_run)` is called once the records have been read, and `on_record(record)` as
    each video finishes (for progress). Setting `stop` (a threading.Event) ends the run early:
    the report then says `interrupted`, and holds what finished.
    """
    if config.engine == "local" and config.workers is None:
        from syncnet.runtime.devices import resolve_device

        config = replace(config, workers=default_workers(resolve_device(config.models.device)))
    check_models(config)
    if not extras.available("parquet"):  # said before the run, not only after it
        extras.warn_missing("parquet", PARQUET_LEFT_OUT)
    check_outputs(config)
    earlier_clips = kept_clips(config.curate.out_dir) if config.curate is not None else set()
    store = StateStore(config.data_dir)
    state = store.read()
    keys = [video_key(video) for video in videos]
    fingerprint = config.fingerprint()
    redo = [key for key in keys if key in state and state[key].get("options") != fingerprint]
    todo = [key for key in keys if key not in state or key in redo
            or (config.retry_failed and state[key]["status"] != "ok")]
    if redo:
        log.warning("%d video(s) were scored with other options: running them again", len(redo))
    log.info("%d video(s): %d to run, %d done before", len(keys), len(todo), len(keys) - len(todo))
    if on_plan is not None:
        on_plan(len(todo))
    failed = done = 0
    try:
        for record in engine_runner(config)(config, todo, stop):
            done += 1
            store.append(record)
            state[record_key(record)] = record
            failed += record["status"] != "ok"
            if on_record is not None:
                on_record(record)
    finally:  # interrupted too: the summary holds every video recorded so far
        records = [state[key] for key in keys if key in state]
        summary = write_tables(config.data_dir, SUMMARY_FILES, summary_rows(records), COLUMNS)
        manifest = ()
        if config.curate is not None:
            rows = manifest_rows(records)
            manifest = write_tables(config.curate.out_dir, MANIFEST_FILES, rows, MANIFEST_COLUMNS)
            remove_unkept(config.curate.out_dir, earlier_clips, rows)
    return BatchReport(n_videos=len(keys), n_run=done, n_failed=failed, n_skipped=len(keys) - len(todo),
                       records=records, summary_files=summary, manifest_files=manifest,
                       interrupted=done < len(todo))


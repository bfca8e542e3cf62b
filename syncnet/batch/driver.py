"""The batch runner: the whole pipeline and SyncNet on many videos, resumable, with one summary.

Each video gets its own folders under the data folder, named by layout.reference_for, and runs
through the same orchestrator as the scripts (syncnet.api.VideoScorer; see batch.worker). An
engine hands the videos to workers: `local` (this machine, local_engine) or `ray` (a Ray
cluster, ray_engine). What has been done is recorded per video (batch.state), keyed on its path
(or URI), size and version (mtime, or an object's ETag), with a fingerprint of the options: a
rerun skips those videos (and failed ones too, unless retry_failed), and redoes any that changed
or were scored with other options. A video that fails is recorded with its error and the batch
goes on. The data folder gets summary.csv, summary.json and summary.parquet (batch.tables): one
'video' row per input, then one 'track' row per face track. The inputs are found by
syncnet.io.inputs; the command is syncnet.cli.batch.
"""
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from syncnet.batch.curation import (
    MANIFEST_COLUMNS,
    MANIFEST_FILES,
    CurationOptions,
    kept_clips,
    manifest_rows,
    remove_unkept,
)
from syncnet.batch.state import StateStore, record_key, video_key
from syncnet.batch.tables import COLUMNS, PARQUET_LEFT_OUT, SUMMARY_FILES, summary_rows, write_tables
from syncnet.errors import InputError
from syncnet.io import storage
from syncnet.io.layout import FOLDERS
from syncnet.options import (
    MODES,
    ModelOptions,
    OutputOptions,
    PipelineOptions,
    RayOptions,
    ScoringOptions,
    StreamOptions,
    as_path,
    checked_number,
)
from syncnet.runtime import extras

log = logging.getLogger("syncnet.batch")

DEFAULT_KEEP = ("pyavi", "pycrop", "pywork")
ENGINES = ("local", "ray")
MAX_WORKERS = 4096  # videos at once: one actor slot (or worker process) each
# The exit status of a batch in which some video failed (0 with --allow_failures).
EXIT_SOME_FAILED = 3


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
    mode: str = "faithful"          # or "stream": syncnet.stream's path (docs/stream.md)
    stream: StreamOptions = StreamOptions()
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
        if self.mode not in MODES:
            raise InputError(f"--mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.mode == "stream" and self.reuse_faces:
            raise InputError("--reuse_faces reads a faithful run's faces.pckl: the stream path writes none; "
                             "drop --reuse_faces or use --mode faithful")

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
                    "curate": asdict(self.curate) if self.curate else None, "whole_frames": self.whole_frames,
                    # The faithful path goes unnamed, so the records of earlier runs stay valid.
                    **({"mode": self.mode, **asdict(self.stream)} if self.mode != "faithful" else {})}
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

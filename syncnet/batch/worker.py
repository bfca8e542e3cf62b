"""One video of a batch, as a worker runs it, whichever engine hands it out.

The video goes through the one orchestrator (syncnet.api.VideoScorer). Where its folders are
built depends on the run:
- the local engine with a local data folder works in place, in DATA_DIR/*/REFERENCE;
- otherwise (the Ray engine, or a data folder in object storage) the worker builds them in a
  scratch folder on its own disk, fetching an object-storage input there first, and
  publishes the folders that --keep keeps to the data folder only when the video succeeded.
A failed or interrupted video therefore never leaves half its outputs in the data folder.
"""
import fcntl
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
import time

from syncnet.errors import TooShortError, WeightsError, describe_error
from syncnet.io import storage
from syncnet.io.layout import (
    FOLDERS,
    PIPELINE_RECORD,
    Layout,
    check_replaceable,
    is_owned,
    make_owned_dir,
    reference_for,
    remove_abandoned,
    remove_owned_dir,
    staging_path,
    swap_in,
)
from syncnet.io.media import FRAME_RATE
from syncnet.options import TimelineOptions
from syncnet.runtime.logs import log_subject

log = logging.getLogger("syncnet.batch")

# One scorer per process, made at its first video, so the networks load once per worker.
_scorers = {}


def scorer_for(models):
    from syncnet.api import VideoScorer

    if models not in _scorers:
        _scorers.clear()
        _scorers[models] = VideoScorer.from_options(models)
    return _scorers[models]


def is_fatal(error):
    """A missing or damaged model file fails every video alike: stop the batch instead."""
    return isinstance(error, WeightsError)


# This process's scratch folder and the open file that holds its lock, once made.
_scratch = None
SCRATCH_PREFIX = "syncnet-worker-"
SCRATCH_LOCK = ".in-use.lock"


def worker_scratch(config):
    """This worker process's scratch folder (SCRATCH/syncnet-worker-HOST-PID), made on first use.

    The folder holds a lock (flock on a file inside it) for the life of the process: the kernel
    releases it when the process ends, however it ends, and a folder whose lock can be taken has
    no live owner on any host that shares the scratch folder. Such folders are removed first.
    """
    global _scratch
    root = os.path.abspath(config.scratch_dir or tempfile.gettempdir())
    if _scratch is not None and os.path.dirname(_scratch[0]) == root and os.path.isdir(_scratch[0]):
        return _scratch[0]
    release_scratch()
    os.makedirs(root, exist_ok=True)
    for name in os.listdir(root):
        if name.startswith(SCRATCH_PREFIX):
            _remove_if_abandoned(os.path.join(root, name))
    _scratch = _locked_scratch(root)
    return _scratch[0]


def _locked_scratch(root):
    """(path, lock handle) of a new scratch folder. It is built and locked under a hidden name,
    then renamed into place, so no other worker ever sees it unlocked."""
    host = re.sub(r"[^A-Za-z0-9_.]+", "_", socket.gethostname()) or "host"
    name = f"{SCRATCH_PREFIX}{host}-{os.getpid()}"
    building = make_owned_dir(os.path.join(root, f".{name}.{secrets.token_hex(6)}.new"))
    handle = open(os.path.join(building, SCRATCH_LOCK), "w", encoding="utf-8")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write(f"{socket.gethostname()} {os.getpid()}\n")
    handle.flush()
    for final in (name, f"{name}-{secrets.token_hex(6)}"):  # the second if another namespace has this PID
        try:
            os.rename(building, os.path.join(root, final))
            return os.path.join(root, final), handle
        except OSError:
            continue
    handle.close()
    shutil.rmtree(building, ignore_errors=True)
    raise OSError(f"cannot make a scratch folder in {root}")


def _remove_if_abandoned(path):
    """Delete a worker's scratch folder if its lock can be taken (its process has ended). One
    without the lock file is not known to be dead, and is left alone."""
    try:
        descriptor = os.open(os.path.join(path, SCRATCH_LOCK), os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its worker is alive
        os.close(descriptor)
        return
    try:  # renamed out of the way first, so no other worker starts deleting it too
        claimed = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{secrets.token_hex(6)}.removing"
        if is_owned(path):
            os.rename(path, claimed)
            shutil.rmtree(claimed, ignore_errors=True)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def release_scratch():
    """Delete this process's scratch folder and release its lock (a worker's normal end)."""
    global _scratch
    if _scratch is None:
        return
    path, handle = _scratch
    _scratch = None
    try:
        remove_owned_dir(path)
    finally:
        handle.close()


def process_video(config, key, attempt=1):
    """Run the pipeline and SyncNet (and curation) on one video; returns its state record.

    `key` is (path or URI, size, version); `attempt` counts the tries (a worker died on the
    earlier ones). Any failure but a model-file one is recorded in
    the record. Afterwards only the folders in `keep` remain, in the data folder.
    """
    with log_subject(key[0]):  # lines of workers running side by side say which video they are about
        return _process_video(config, key, attempt)


def _process_video(config, key, attempt):
    video = key[0]
    record = new_record(config, key, attempt)
    reference = record["reference"]
    started = time.time()
    log.info("%s: started", video)
    work_dir = config.data_dir
    succeeded = False
    try:
        if not config.in_place:
            work_dir = os.path.join(worker_scratch(config), "work")
        if not config.in_place and config.reuse_faces:
            fetch_saved_faces(config.data_dir, work_dir, reference)
        source = _local_source(config, video, reference)
        if config.whole_frames:
            record["n_frames"], record["tracks"] = _score_whole_frames(config, source, reference)
        else:
            record.update(_score_face_tracks(config, source, work_dir, reference))
        succeeded = True
    except Exception as error:
        if is_fatal(error):
            raise
        record["status"], record["error"] = "failed", describe_error(error)
        if isinstance(error, TooShortError):
            from syncnet.scoring.results import CLIP_TOO_SHORT

            record["reason"] = CLIP_TOO_SHORT
        log.debug("%s failed", video, exc_info=True)  # the traceback, with --debug
    finally:
        gone = FOLDERS if not config.in_place else set(FOLDERS) - config.keep
        for name in gone:
            remove_owned_dir(os.path.join(work_dir, name, reference))
        if storage.is_uri(video) and os.path.exists(_input_copy(config, reference, video)):
            os.unlink(_input_copy(config, reference, video))
        record["seconds"] = round(time.time() - started, 3)
        if succeeded:
            log.info("%s: done in %.1f s", video, record["seconds"])
    return record


def summary_fields(record, timeline):
    """A track's fields in the state record: its offsets.json entry (without the file name),
    the offset in ms and its timeline's columns (null without a timeline)."""
    fields = {name: value for name, value in record.items() if name != "file"}
    fields["offset_ms"] = None if record["offset"] is None else record["offset"] * 1000 // FRAME_RATE
    fields.update(timeline.columns() if timeline is not None else {})
    return fields


def _score_face_tracks(config, source, work_dir, reference):
    """The whole pipeline and SyncNet (and curation) on a local file; the record's fields, with
    the kept folders published when the video was built away from the data folder."""
    result = scorer_for(config.models).score(
        source, work_dir=work_dir, reference=reference, pipeline=config.pipeline, scoring=config.scoring,
        outputs=config.outputs, reuse_faces=config.reuse_faces, quiet=True, mode=config.mode,
        detect_every=config.stream.detect_every if config.mode == "stream" else None)
    fields = {"n_frames": result.n_frames, "reason": result.reason,
              "tracks": [summary_fields(t.record(), t.timeline) for t in result.tracks]}
    if config.curate is not None:
        from syncnet.batch.curation import curate

        fields["curation"] = curate(source, reference, result.tracks, config.outputs.min_conf, config.curate,
                                    worker_scratch(config))
    if not config.in_place:
        publish(work_dir, config.data_dir, reference, config.keep)
    return fields


def _score_whole_frames(config, source, reference):
    """(n_frames, [track]) of a video scored without face detection: every frame resized to
    224x224 and the whole video one track, as Wav2Lip's LRS evaluation does."""
    frames_dir = os.path.join(worker_scratch(config), "frames")
    try:
        score = scorer_for(config.models).score_face_video(source, frames_dir, reference, config.scoring, resize=True,
                                                           timeline=TimelineOptions(),
                                                           min_conf=config.outputs.min_conf)
    finally:
        remove_owned_dir(os.path.join(frames_dir, reference))
    summary = score.summary
    record = {"track": 0, "start_frame": 0, "end_frame": score.n_frames - 1, "offset": summary.offset,
              "min_dist": summary.min_dist, "confidence": summary.confidence}
    return score.n_frames, [summary_fields(record, score.timeline)]


def new_record(config, key, attempt):
    """The state record of a video before it runs: key fields, options, and who runs it."""
    video, size, version = key
    record = {"video": video, "size": size, "reference": reference_for(video), "status": "ok", "error": None,
              "reason": None,
              "n_frames": None, "tracks": [], "options": config.fingerprint(), "attempt": attempt,
              "worker": {"host": socket.gethostname(), "pid": os.getpid()}}
    record["etag" if storage.is_uri(video) else "mtime_ns"] = version
    return record


def failure_record(config, key, error, attempt):
    """The record of a video that could not run: a worker kept dying on it, say."""
    record = new_record(config, key, attempt)
    record.update(status="failed", error=error, seconds=None, worker=None)
    return record


def _input_copy(config, reference, video):
    return os.path.join(worker_scratch(config), "input", reference + os.path.splitext(video)[1])


def _local_source(config, video, reference):
    """The video as a local file: itself, or its object fetched into this worker's scratch."""
    if not storage.is_uri(video):
        return video
    return storage.download(video, _input_copy(config, reference, video))


def fetch_saved_faces(data_dir, work_dir, reference):
    """For --reuse_faces away from the data folder: its faces.pckl of an earlier run, copied
    into this worker's folders as that run left it."""
    data = storage.read_bytes(storage.join(data_dir, "pywork", reference, "faces.pckl"))
    if data is None:
        return
    folder = make_owned_dir(Layout(work_dir, reference).work)
    with open(os.path.join(folder, "faces.pckl"), "wb") as handle:
        handle.write(data)


def publish(work_dir, data_dir, reference, keep):
    """Put the kept folders of one video from the worker's scratch into the data folder,
    replacing that video's earlier ones a folder (or object prefix) at a time. The earlier
    run's completion record goes first and pywork, which holds the new one, comes last, as
    run_pipeline swaps its folders in."""
    storage.remove(storage.join(data_dir, "pywork", reference, PIPELINE_RECORD))
    for name in sorted(keep, key=lambda kind: kind == "pywork"):
        built = os.path.join(work_dir, name, reference)
        if not os.path.isdir(built):
            continue
        target = storage.join(data_dir, name, reference)
        if storage.is_uri(data_dir):
            storage.remove_tree(target)
            storage.upload_tree(built, target)
            continue
        check_replaceable(target, "choose another --data_dir")
        staging = staging_path(target)
        shutil.copytree(built, staging)
        swap_in(staging, target)


def remove_video_folders(data_dir, reference):
    """Remove the folders of a video that did not finish, staging folders of a killed worker
    included (only those the suite made)."""
    for name in FOLDERS:
        remove_owned_dir(os.path.join(data_dir, name, reference))
    remove_abandoned(Layout(data_dir, reference))

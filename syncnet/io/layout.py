"""The on-disk layout: DATA_DIR/{pyavi,pycrop,pywork,pytmp,pyframes}/REFERENCE, and the rules
that keep it safe.

- **Ownership.** Every folder a run creates holds a mark file (OWNER_MARK). A run clears or
  deletes only marked folders; an existing unmarked folder that is not empty is refused, so a
  user's own folder is never deleted.
- **Locks.** A run holds an exclusive lock per reference (see syncnet.io.locking); a second run
  on the same reference is refused with one line naming the holder.
- **Staging.** run_pipeline builds its folders under hidden staging names beside the current
  ones and swaps them in only when everything succeeded; its completion record
  (pywork/REFERENCE/pipeline.json) appears last. A failed run leaves the previous results,
  the detections it was told to reuse included, as they were.
"""
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from typing import Optional

from syncnet.errors import InputError
from syncnet.io.fileio import save_json
from syncnet.io.locking import FolderLock

FOLDERS = ("pyavi", "pycrop", "pywork", "pytmp", "pyframes")
# What run_pipeline builds; pytmp is scratch.
PIPELINE_FOLDERS = ("pyavi", "pyframes", "pycrop", "pywork")
OWNER_MARK = ".syncnet-run"
PIPELINE_RECORD = "pipeline.json"
_STAGING = re.compile(r"^\.(?P<reference>.+)\.(?P<token>[0-9a-f]{12})\.(?:staging|retired)$")


def crop_name(index, container="avi"):
    """The file name of face track `index`'s crop."""
    return f"{index:05d}.{container}"


def check_reference(reference):
    """Refuse a reference that could name a folder outside the run's own."""
    if not reference or reference in (".", "..") or "/" in reference or os.sep in reference \
            or (os.altsep and os.altsep in reference) or "\0" in reference:
        raise InputError(f"--reference {reference!r} is not a plain folder name "
                         "(it must be non-empty, without '/' and not '.' or '..')")
    return reference


def reference_for(video_path):
    """A reference for a video: its file name made safe, then a short hash of its absolute path,
    so that files of the same name in different folders get folders of their own. An
    object-storage URI is its own absolute name."""
    video_path = os.fspath(video_path)
    absolute = video_path if "://" in video_path else os.path.abspath(video_path)
    stem = os.path.splitext(os.path.basename(absolute))[0]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:60] or "video"
    digest = hashlib.sha1(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe}-{digest}"


def is_owned(path):
    return os.path.isfile(os.path.join(path, OWNER_MARK))


def check_replaceable(path, option_hint):
    """Refuse, before any work, a folder at `path` that a run would have to delete but did not make."""
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
        raise InputError(f"{path} exists and is not a folder SyncNet made; {option_hint}")
    if os.path.isdir(path) and not is_owned(path) and os.listdir(path):
        raise InputError(f"{path} exists and was not made by SyncNet (it has no {OWNER_MARK} mark), so it "
                         f"is left alone; move it away or {option_hint}")


def make_owned_dir(path):
    """Create `path` (parents included) and mark it as made by SyncNet."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, OWNER_MARK), "w", encoding="utf-8") as handle:
        handle.write("made by SyncNet: a run may clear this folder\n")
    return path


def fresh_owned_dir(path, option_hint):
    """An empty folder at `path` that this run owns: a marked folder is cleared, an empty one
    adopted, anything else refused (see check_replaceable)."""
    check_replaceable(path, option_hint)
    if os.path.isdir(path):
        shutil.rmtree(path)
    return make_owned_dir(path)


def remove_owned_dir(path):
    """Delete `path` if SyncNet made it; a folder without the mark is left alone."""
    if os.path.isdir(path) and not os.path.islink(path) and is_owned(path):
        shutil.rmtree(path)


def staging_path(final):
    """A hidden name beside `final` (`.NAME.TOKEN.staging`) to build its replacement under."""
    return _beside(final, "staging")


def _beside(final, kind):
    return os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.{secrets.token_hex(6)}.{kind}")


def swap_in(built, final):
    """Put the folder `built` at `final`, replacing the folder there (moved aside, then deleted).
    A kill between the two renames leaves names that remove_abandoned clears."""
    retired = _beside(final, "retired")
    if os.path.isdir(final):
        os.replace(final, retired)
    os.replace(built, final)
    remove_owned_dir(retired)


def scratch_dir(parent, reference):
    """TMP_DIR/REFERENCE, emptied for a new run, with a lock held while the caller uses it:

        with scratch_dir(tmp_dir, "demo") as folder: ...
    """
    check_reference(reference)
    return _LockedScratch(os.path.join(parent, reference))


class _LockedScratch:
    def __init__(self, path):
        self.path = path
        self._lock = FolderLock(path)

    def __enter__(self):
        self._lock.acquire()
        try:
            return fresh_owned_dir(self.path, "choose another --tmp_dir or --reference")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, error_type, *_):
        try:
            if error_type is not None:  # a failed run leaves nothing there (a full disk stays usable)
                remove_owned_dir(self.path)
        finally:
            self._lock.release()


@dataclass(frozen=True)
class Layout:
    """Where one reference's folders are. `name` is the folder name under each of FOLDERS
    (the reference itself, or a hidden staging name while run_pipeline builds them)."""
    data_dir: str
    reference: str
    name: Optional[str] = None
    container: str = "avi"  # of the converted video and the crops (PipelineOptions.container)

    def __post_init__(self):
        check_reference(self.reference)
        object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        if self.name is None:
            object.__setattr__(self, "name", self.reference)

    def folder(self, kind):
        return os.path.join(self.data_dir, kind, self.name)

    @property
    def avi(self):
        return self.folder("pyavi")

    @property
    def crop(self):
        return self.folder("pycrop")

    @property
    def work(self):
        return self.folder("pywork")

    @property
    def tmp(self):
        return self.folder("pytmp")

    @property
    def frames(self):
        return self.folder("pyframes")

    @property
    def video(self):
        """The input converted to 25 fps."""
        return os.path.join(self.avi, f"video.{self.container}")

    @property
    def audio(self):
        """Its audio, 16 kHz mono."""
        return os.path.join(self.avi, "audio.wav")

    def crop_file(self, index):
        return os.path.join(self.crop, crop_name(index, self.container))

    def work_file(self, name):
        return os.path.join(self.work, name)

    def lock(self):
        """The reference's lock: every step that reads or writes its folders holds it."""
        return FolderLock(self.folder("pywork").rstrip(os.sep))

    def pipeline_record(self):
        """What pipeline.json says of the completed run_pipeline, or None when there is none."""
        path = self.work_file(PIPELINE_RECORD)
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def require_pipeline(self, step):
        """The completed pipeline's record and the Layout with its container; refuses when
        run_pipeline has not completed here."""
        record = self.pipeline_record()
        if record is None or not record.get("complete"):
            raise InputError(f"{self.work} holds no completed run_pipeline.py run (no {PIPELINE_RECORD}): "
                             f"run run_pipeline.py with this --data_dir and --reference before {step}")
        return record, dataclasses.replace(self, container=record.get("options", {}).get("container", "avi"))


class StagedPipeline:
    """run_pipeline's folders built beside the current ones, and swapped in on success.

        with StagedPipeline(layout) as run:   # run.staged is a Layout of hidden folders
            ... write everything through run.staged ...
            run.commit(record)                # swap in; pipeline.json appears last

    On failure, or without commit, the staging folders are deleted and the current folders
    are untouched.
    """

    def __init__(self, layout):
        self.layout = layout
        self.staged = dataclasses.replace(layout, name=f".{layout.reference}.{secrets.token_hex(6)}.staging")

    def check(self):
        """Refuse now, before any work, folders this run could not replace."""
        for kind in PIPELINE_FOLDERS + ("pytmp",):
            check_replaceable(self.layout.folder(kind), "choose another --data_dir or --reference")

    def __enter__(self):
        self.check()
        remove_abandoned(self.layout)
        for kind in PIPELINE_FOLDERS:
            make_owned_dir(self.staged.folder(kind))
        make_owned_dir(self.staged.tmp)
        return self

    def commit(self, record):
        """Swap the staged folders in. The old completion record goes first and the new one comes
        with pywork, last, so a reader never sees a record beside folders of another run."""
        save_json(dict(record, complete=True), self.staged.work_file(PIPELINE_RECORD))
        old_record = self.layout.work_file(PIPELINE_RECORD)
        if os.path.exists(old_record):
            os.remove(old_record)
        for kind in PIPELINE_FOLDERS:
            swap_in(self.staged.folder(kind), self.layout.folder(kind))
        remove_owned_dir(self.layout.tmp)  # the reference removes pytmp/REFERENCE at the end

    def __exit__(self, *exc):
        for kind in PIPELINE_FOLDERS + ("pytmp",):
            remove_owned_dir(self.staged.folder(kind))


def remove_abandoned(layout):
    """Delete staging folders that a killed run of this reference left behind (the caller holds
    the reference's lock, so no live run owns them)."""
    for kind in FOLDERS:
        parent = os.path.join(layout.data_dir, kind)
        if not os.path.isdir(parent):
            continue
        for name in os.listdir(parent):
            match = _STAGING.match(name)
            if match and match.group("reference") == layout.reference:
                remove_owned_dir(os.path.join(parent, name))

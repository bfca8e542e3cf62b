"""The on-disk layout: DATA_DIR/{pyavi,pycrop,pywork,pytmp,pyframes}/REFERENCE.

A run owns exactly those REFERENCE folders and may clear them; nothing else is ever deleted.
"""
import hashlib
import os
import re
import shutil
from dataclasses import dataclass

from .errors import InputError

FOLDERS = ("pyavi", "pycrop", "pywork", "pytmp", "pyframes")


def check_reference(reference):
    """Refuse a reference that could name a folder outside the run's own."""
    if not reference or reference in (".", "..") or "/" in reference or os.sep in reference \
            or (os.altsep and os.altsep in reference) or "\0" in reference:
        raise InputError(f"--reference {reference!r} is not a plain folder name "
                         "(it must be non-empty, without '/' and not '.' or '..')")
    return reference


def reference_for(video_path):
    """A reference for a video: its file name made safe, then a short hash of its absolute path,
    so that files of the same name in different folders get folders of their own."""
    absolute = os.path.abspath(os.fspath(video_path))
    stem = os.path.splitext(os.path.basename(absolute))[0]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:60] or "video"
    digest = hashlib.sha1(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe}-{digest}"


def reset_dir(parent, reference):
    """Empty and recreate parent/reference, the only folder under parent that a run owns."""
    path = os.path.join(parent, check_reference(reference))
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


@dataclass(frozen=True)
class Layout:
    data_dir: str
    reference: str

    def __post_init__(self):
        check_reference(self.reference)

    def folder(self, name):
        return os.path.join(self.data_dir, name, self.reference)

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

    def reset(self, names=FOLDERS):
        for name in names:
            reset_dir(os.path.join(self.data_dir, name), self.reference)

    def frame_files(self):
        """The extracted frames in name order, which is frame order."""
        return sorted(os.path.join(self.frames, f) for f in os.listdir(self.frames)
                      if f.endswith(".jpg"))

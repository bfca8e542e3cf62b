"""Outputs appear complete or not at all: each is written under a temporary name, then renamed."""
import contextlib
import json
import math
import os
import pickle
import tempfile

from syncnet.errors import InputError


def _default_file_mode():
    # mkstemp makes owner-only files; finished outputs get the usual umask-based mode.
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    # Keep the extension: ffmpeg and OpenCV pick the container from it.
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".part{ext}", dir=directory)
    except OSError as error:  # named as the user's path, not our hidden temporary one
        raise OSError(error.errno, error.strerror, path) from None
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def same_file(path, other):
    """True when `path` and `other` name one file however they are spelled: the same inode when
    both exist (symlinks, symlinked folders, hard links, `..`), else the same resolved path."""
    try:
        return os.path.samefile(path, other)
    except (OSError, ValueError):
        return os.path.realpath(path) == os.path.realpath(other)


def check_output_files(outputs, inputs=()):
    """Refuse, before any work, an output file that would land on an input or on another output,
    or that cannot be written there: its folder missing, a folder in its place, or a place this
    process cannot write (a probe file is made there and removed). `outputs` maps what the user
    passed (such as '--plot') to the path; `inputs` are the paths the run reads."""
    checked = {}
    for label, path in outputs.items():
        path = os.fspath(path)
        for source in inputs:
            if same_file(path, source):
                raise InputError(f"{label} {path}: that is the input {os.fspath(source)} (the same file), which "
                                 "the run would overwrite; choose another name")
        for other_label, other in checked.items():
            if same_file(path, other):
                raise InputError(f"{label} {path}: {other_label} {other} is the same file; give each output "
                                 "its own name")
        _probe_output_file(path, label)
        checked[label] = path


def _probe_output_file(path, label):
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"{label} {path}: that is a folder; name a file to write")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"{label} {path}: {folder} is a file, not a folder; choose another place")
    if not os.path.isdir(folder):
        raise InputError(f"{label} {path}: the folder {folder} does not exist; create it or choose another place")
    try:
        handle, probe = tempfile.mkstemp(prefix=".syncnet-probe-", dir=folder)
    except OSError as error:
        raise InputError(f"{label} {path}: cannot write in {folder} ({error.strerror or error}); "
                         "choose a place you can write to") from None
    os.close(handle)
    os.unlink(probe)


def save_pickle(obj, path):
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        pickle.dump(obj, handle)


class _PlainUnpickler(pickle.Unpickler):
    """Only plain Python values and numpy arrays: a pickle that names anything else (and so
    could run code while loading) is refused."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a SyncNet pickle never holds")
        return super().find_class(module, name)


def load_pickle(path):
    """A pickle the suite wrote: plain Python values and numpy arrays only."""
    with open(path, "rb") as handle:
        return _PlainUnpickler(handle).load()


def _finite(value):
    """`value` with every NaN and infinity made None, in lists and dicts too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def json_text(obj, indent=None):
    """Strict JSON, as every JSON file the suite writes is: a NaN or infinity, which strict
    parsers reject, is written as null."""
    return json.dumps(_finite(obj), indent=indent, allow_nan=False)


def save_json(obj, path):
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json_text(obj, indent=2) + "\n")


def save_text(text, path):
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)

"""Outputs appear complete or not at all: each is written under a temporary name, then renamed."""
import contextlib
import json
import math
import os
import pickle
import tempfile


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
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".part{ext}", dir=directory)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


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

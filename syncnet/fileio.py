"""Outputs appear complete or not at all: each is written under a temporary name, then renamed."""
import contextlib
import json
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


def load_pickle(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def save_json(obj, path):
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2)
        handle.write("\n")


def save_text(text, path):
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)

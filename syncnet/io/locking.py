"""One run at a time per folder: an exclusive lock that names its holder and dies with it.

The lock is flock(2) on a small file beside the folder (`.NAME.lock`), or inside it (`.lock`)
for a folder the run owns whole, such as a training run's. The kernel releases it
when the holding process exits, however it exits, so a killed run never leaves a lock that
blocks the next one; the file only records who held it last.
"""
import fcntl
import json
import os
import socket
import sys
import threading
import time

from syncnet.errors import InputError

INSIDE_NAME = ".lock"

# Locks this process holds, by lock file: (handle, count, the holding thread). A nested acquire
# in the holding thread (the API runs the pipeline, then scoring, under one lock) counts instead
# of locking against itself; another thread is refused, as another process is: two threads in one
# folder would mix their files.
_held = {}
_held_guard = threading.Lock()


class FolderLock:
    def __init__(self, folder, hint="choose another --reference", inside=False):
        folder = os.path.abspath(os.fspath(folder))
        self.folder = folder
        self.hint = hint  # what a refused run is told to do instead of waiting
        self.path = (os.path.join(folder, INSIDE_NAME) if inside
                     else os.path.join(os.path.dirname(folder), f".{os.path.basename(folder)}.lock"))

    def acquire(self):
        with _held_guard:
            return self._acquire()

    def _acquire(self):
        if self.path in _held:
            handle, count, holder = _held[self.path]
            if holder != threading.get_ident():
                raise InputError(f"{self.folder} is in use by another thread of this process: wait for it to "
                                 f"finish, or {self.hint}")
            _held[self.path] = (handle, count + 1, holder)
            return self
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe_holder(handle.read())
            handle.close()
            raise InputError(f"{self.folder} is in use by another run ({holder}): wait for it to finish, "
                             f"or {self.hint}") from None
        except BaseException:
            handle.close()
            raise
        if not _still_named(handle, self.path):  # discarded by its last holder while this one waited
            handle.close()
            return self._acquire()  # the guard is held already (it is not re-entrant)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": " ".join(sys.argv)[:300],
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        _held[self.path] = (handle, 1, threading.get_ident())
        return self

    def release(self):
        with _held_guard:
            handle, count, holder = _held.pop(self.path, (None, 0, None))
            if handle is None:
                return
            if count > 1:
                _held[self.path] = (handle, count - 1, holder)
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def discard(self):
        """Release the lock and remove its file (while still holding it): for a run that
        leaves nothing behind, such as a refused one whose lock file it made."""
        if _held.get(self.path, (None, 0))[1] == 1:  # not while an outer holder in this process has it
            os.unlink(self.path)
        self.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _still_named(handle, path):
    """Whether `path` is still the file `handle` locked (not removed or replaced meanwhile)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _describe_holder(text):
    try:
        holder = json.loads(text)
        return (f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: "
                f"{holder['command']}")
    except (ValueError, KeyError, TypeError):
        return "holder unknown"

"""What a batch has done: one record per video, keyed on its path (or URI), size and version,
kept in the data folder (a JSON-lines file locally, one object per video in object storage)."""
import hashlib
import json
import logging
import os

from syncnet.io import storage
from syncnet.io.fileio import json_text

log = logging.getLogger("syncnet.batch")

STATE_FILE = "batch_state.jsonl"      # in a local data folder: one JSON line per video
STATE_PREFIX = "batch_state"          # in object storage: one object per video (objects cannot grow)


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

"""The videos a batch's INPUTs name: files, folders, list files, globs and object-storage URIs,
each file once. The batch runner, syncnet-eval and syncnet-train all take their inputs this way."""
import glob
import logging
import os
import re

from syncnet.errors import InputError
from syncnet.io import storage

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                    ".ts", ".3gp")
LIST_EXTENSIONS = (".txt", ".lst", ".list")

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

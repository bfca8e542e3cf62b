"""Errors a user can act on. Each carries a one-line message that names the file or option."""


class SyncNetError(Exception):
    """A failure to report as one line, without a traceback."""


class InputError(SyncNetError, ValueError):
    """A bad option, path or input file."""


class TooShortError(InputError):
    """A video with too few windows of frames and audio for the offsets searched."""


class MediaError(SyncNetError):
    """ffmpeg could not read or write a file."""


class WeightsError(SyncNetError, ValueError):
    """A model file is missing, damaged or not the expected network."""


def describe_error(error):
    """One line for a failure: the message of a SyncNetError or OSError; for anything else,
    which is a bug, its type too."""
    if isinstance(error, SyncNetError):
        return one_line(error)
    if isinstance(error, OSError):
        where = f"{error.filename} " if error.filename else ""
        return f"{where}{error.strerror or one_line(error)}"
    return f"unexpected {type(error).__name__}: {one_line(error)}"


def one_line(error, limit=None):
    """An exception's message on one line (at most `limit` characters), or its type's name."""
    text = " ".join(str(error).split())[:limit]
    return text or type(error).__name__

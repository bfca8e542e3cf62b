"""Errors a user can act on. Each carries a one-line message that names the file or option."""


class SyncNetError(Exception):
    """A failure to report as one line, without a traceback."""


class InputError(SyncNetError, ValueError):
    """A bad option, path or input file."""


class MediaError(SyncNetError):
    """ffmpeg could not read or write a file."""


class WeightsError(SyncNetError, ValueError):
    """A model file is missing, damaged or not the expected network."""

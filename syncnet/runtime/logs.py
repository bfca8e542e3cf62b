"""Diagnostics on stderr as `PROG: LEVEL: message`, for the commands and their workers."""
import contextlib
import contextvars
import logging
import os
import sys

# The loggers of this project's own modules; other libraries log only their warnings.
OWN_LOGGERS = ("syncnet",)
_log_handler = None
_program = "syncnet"
# What the lines logged now are about (a batch worker's current video), named at their start.
_subject = contextvars.ContextVar("syncnet_log_subject", default=None)


@contextlib.contextmanager
def log_subject(name):
    """Within this block, each diagnostic line names `name`: at its start, unless its message has it."""
    token = _subject.set(name)
    try:
        yield
    finally:
        _subject.reset(token)


def _with_subject(record):
    """A handler filter: sets record.subject to the prefix the line needs (maybe none)."""
    subject = _subject.get()
    record.subject = f"{subject}: " if subject and subject not in record.getMessage() else ""
    return True


class _CurrentStderr(logging.StreamHandler):
    """A handler on sys.stderr as it is when each line is written, not when the handler was made:
    a later redirection (contextlib.redirect_stderr, a test's capture that has since closed) is
    followed instead of writing to a closed stream."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def setup_logging(prog, quiet=False, debug=False):
    """Diagnostics go to stderr as `prog: LEVEL: message`: info and up, warnings only when quiet."""
    global _log_handler, _program
    _program = prog
    root = logging.getLogger()
    if _log_handler is not None:
        root.removeHandler(_log_handler)
    _log_handler = _CurrentStderr()
    _log_handler.setFormatter(logging.Formatter(f"{prog}: %(levelname)s: %(subject)s%(message)s"))
    _log_handler.addFilter(lambda record: record.levelno >= logging.WARNING
                           or record.name.split(".")[0] in OWN_LOGGERS)
    _log_handler.addFilter(_with_subject)
    root.addHandler(_log_handler)
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if debugging(debug) else logging.WARNING if quiet else logging.INFO
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)


def debugging(requested):
    return requested or os.environ.get("SYNCNET_DEBUG", "") not in ("", "0")


def program():
    """The name the diagnostics carry (a batch's workers use their command's)."""
    return _program

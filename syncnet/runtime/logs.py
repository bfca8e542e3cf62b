"""Diagnostics on stderr as `PROG: LEVEL: message`, for the commands and their workers."""
import logging
import os
import sys

# The loggers of this project's own modules; other libraries log only their warnings.
OWN_LOGGERS = ("syncnet", "SyncNetInstance", "detectors")
_log_handler = None
_program = "syncnet"


def setup_logging(prog, quiet=False, debug=False):
    """Diagnostics go to stderr as `prog: LEVEL: message`: info and up, warnings only when quiet."""
    global _log_handler, _program
    _program = prog
    root = logging.getLogger()
    if _log_handler is not None:
        root.removeHandler(_log_handler)
    _log_handler = logging.StreamHandler(sys.stderr)
    _log_handler.setFormatter(logging.Formatter(f"{prog}: %(levelname)s: %(message)s"))
    _log_handler.addFilter(lambda record: record.levelno >= logging.WARNING
                           or record.name.split(".")[0] in OWN_LOGGERS)
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

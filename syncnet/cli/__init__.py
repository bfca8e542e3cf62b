"""What every script shares: common options, logging, and failures reported as one line on stderr."""
import contextlib
import logging
import os
import signal
import sys

from .devices import CHOICES as DEVICE_CHOICES
from .errors import SyncNetError


def add_model_options(parser):
    """The SyncNet options every scoring script shares, with the reference's defaults."""
    parser.add_argument("--initial_model", type=str, default="data/syncnet_v2.model",
                        help="SyncNet weights (default data/syncnet_v2.model, else the user cache)")
    parser.add_argument("--batch_size", type=int, default=20, help="windows per network batch")
    parser.add_argument("--vshift", type=int, default=15, help="offsets tried: -vshift..+vshift frames")


def add_common_options(parser):
    parser.add_argument("--device", default="auto",
                        help=f"where the networks run: {', '.join(DEVICE_CHOICES)} or cuda:N (default auto)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on failure (also SYNCNET_DEBUG=1)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars, and only warnings and errors in the log")


# The loggers of this project's own modules; other libraries log only their warnings.
OWN_LOGGERS = ("syncnet", "SyncNetInstance", "detectors")
_log_handler = None


def setup_logging(prog, quiet=False, debug=False):
    """Diagnostics go to stderr as `prog: LEVEL: message`: info and up, warnings only when quiet."""
    global _log_handler
    root = logging.getLogger()
    if _log_handler is not None:
        root.removeHandler(_log_handler)
    _log_handler = logging.StreamHandler(sys.stderr)
    _log_handler.setFormatter(logging.Formatter(f"{prog}: %(levelname)s: %(message)s"))
    _log_handler.addFilter(lambda record: record.levelno >= logging.WARNING
                           or record.name.split(".")[0] in OWN_LOGGERS)
    root.addHandler(_log_handler)
    root.setLevel(logging.WARNING)
    level = logging.DEBUG if _debugging(debug) else logging.WARNING if quiet else logging.INFO
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _debugging(requested):
    return requested or os.environ.get("SYNCNET_DEBUG", "") not in ("", "0")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def reported_errors(prog, debug=False, quiet=False):
    """Set up logging, and turn failures into `prog: error: ...` and exit status 1 (130 when
    interrupted or terminated)."""
    setup_logging(prog, quiet, debug)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        if _debugging(debug):
            raise
        print(f"{prog}: interrupted; partial outputs were not kept", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:
        if _debugging(debug):
            raise
        hint = "" if isinstance(error, (SyncNetError, OSError)) else " (rerun with --debug for the traceback)"
        print(f"{prog}: error: {describe_error(error)}{hint}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def describe_error(error):
    """One line for a failure: the message of a SyncNetError or OSError; for anything else,
    which is a bug, its type too."""
    if isinstance(error, SyncNetError):
        return _one_line(error)
    if isinstance(error, OSError):
        where = f"{error.filename} " if error.filename else ""
        return f"{where}{error.strerror or _one_line(error)}"
    return f"unexpected {type(error).__name__}: {_one_line(error)}"


def _one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__

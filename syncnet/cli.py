"""What every script shares: common options, and failures reported as one line on stderr."""
import contextlib
import os
import signal
import sys

from .devices import CHOICES as DEVICE_CHOICES
from .errors import SyncNetError


def add_common_options(parser):
    parser.add_argument("--device", default="auto",
                        help=f"where the networks run: {', '.join(DEVICE_CHOICES)} or cuda:N (default auto)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on failure (also SYNCNET_DEBUG=1)")


def _debugging(requested):
    return requested or os.environ.get("SYNCNET_DEBUG", "") not in ("", "0")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def reported_errors(prog, debug=False):
    """Turn failures into `prog: error: ...` and exit status 1 (130 when interrupted or terminated)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        if _debugging(debug):
            raise
        print(f"{prog}: interrupted; partial outputs were not kept", file=sys.stderr)
        raise SystemExit(130) from None
    except SyncNetError as error:
        if _debugging(debug):
            raise
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as error:
        if _debugging(debug):
            raise
        where = f" {error.filename}" if error.filename else ""
        print(f"{prog}: error:{where} {error.strerror or _one_line(error)}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as error:  # anything else is a bug, but still one line unless debugging
        if _debugging(debug):
            raise
        print(f"{prog}: error: unexpected {type(error).__name__}: {_one_line(error)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__

"""The command-line faces. Everything here turns arguments into the library's typed options,
calls the library, and prints; nothing else in the package parses arguments or prints results.

Each command is a module with build_parser(argv) and run(args); its main(argv=None) is
run_command(build_parser, run, argv): parse, run, and any failure reported as one line. The
reference's scripts at the checkout's root (demo_syncnet.py, ...) only run these mains.

This module holds what every command shares: options built from syncnet.options' fields,
logging, the program name the user typed, and failures reported as one line on stderr.
"""
import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import threading

from syncnet.detection.registry import available_detectors
from syncnet.errors import SyncNetError, describe_error
from syncnet.models.paths import SYNCNET_DEFAULT
from syncnet.options import (
    MODES,
    ModelOptions,
    OutputOptions,
    PipelineOptions,
    ScoringOptions,
    StreamOptions,
    TimelineOptions,
)
from syncnet.runtime.devices import CHOICES as DEVICE_CHOICES
from syncnet.runtime.logs import debugging, setup_logging


def program_name(name, module):
    """The name the user typed: `syncnet-demo` for the console command, `demo_syncnet.py` for
    the script, `python -m syncnet.batch` for a module run."""
    typed = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not typed or typed in ("-c", "__main__.py") or (typed.endswith(".py") and typed != name):
        return name if name.endswith(".py") else f"python -m {module}"
    return typed


def make_parser(name, description, argv, module=None):
    """An ArgumentParser whose messages use the name the user typed (only for a real command
    line: a caller that passes argv gets `name`). `module` is what `python -m` runs."""
    prog = program_name(name, module or name[:-3]) if argv is None else name
    return argparse.ArgumentParser(prog=prog, description=description)


def add_options(parser, group, skip=(), unset=False):
    """One --name option per field of an options dataclass, with its default and help. With
    `unset`, an option not given is None (the caller tells what was passed from what was not)."""
    for spec in dataclasses.fields(group):
        if spec.name in skip:
            continue
        choices = spec.metadata.get("choices")
        parsed = "parse" in spec.metadata  # checked by the dataclass, so argparse passes the text on
        kind = {"choices": choices} if choices else {"type": str if parsed else spec.metadata["kind"]}
        shown = spec.default if choices else spec.metadata["shown"] if parsed else f"{spec.default:g}"
        parser.add_argument(f"--{spec.name}", default=None if unset else spec.default,
                            help=spec.metadata["help"] + ("" if unset else f" (default {shown})"), **kind)


# --s3fd_model is the reference's flag; it gives the weights of whichever --detector runs.
DETECTOR_WEIGHTS_HELP = ("the face detector's weights (default: its official file where download_model.sh "
                         "puts it, else in the model cache)")


def add_pipeline_options(parser):
    add_options(parser, PipelineOptions)
    parser.add_argument("--detector", default=ModelOptions.detector, choices=available_detectors(),
                        help=f"the face detector (default {ModelOptions.detector})")
    parser.add_argument("--s3fd_model", type=str, default=None, help=DETECTOR_WEIGHTS_HELP)


def add_model_options(parser):
    """The SyncNet options every scoring script shares, with the reference's defaults."""
    parser.add_argument("--initial_model", type=str, default=SYNCNET_DEFAULT,
                        help=f"SyncNet weights (default {SYNCNET_DEFAULT}, else syncnet_v2.model "
                             "in the model cache)")
    add_options(parser, ScoringOptions)


def add_output_options(parser):
    add_options(parser, OutputOptions)


def add_timeline_options(parser):
    add_options(parser, TimelineOptions)


def add_mode_options(parser):
    """--mode (faithful or stream) and the stream path's --detect_every."""
    parser.add_argument("--mode", choices=MODES, default=MODES[0],
                        help="faithful: the reference's stages through files (its numbers); stream: decoded once "
                             "into memory, faces detected every --detect_every frames (docs/stream.md) "
                             "(default %(default)s)")
    add_options(parser, StreamOptions)


def add_run_folders(parser, data_dir, videofile, reference):
    """--data_dir, --videofile and --reference, the options the reference's three pipeline scripts
    share, each with its script's help."""
    parser.add_argument("--data_dir", type=str, default="data/work", help=f"{data_dir} (default %(default)s)")
    parser.add_argument("--videofile", type=str, default="", help=videofile)
    parser.add_argument("--reference", type=str, default="", help=reference)


def add_face_video_options(parser, videofile, tmp_dir):
    """--videofile and --tmp_dir, the options the reference's two demos share, each with its demo's help."""
    parser.add_argument("--videofile", type=str, default="data/example.avi",
                        help=f"{videofile} (default %(default)s)")
    parser.add_argument("--tmp_dir", type=str, default="data/work/pytmp", help=tmp_dir)


def add_offset_option(parser, instead_of):
    """--offset, which --write_synced shifts by instead of the offset found (`instead_of` names it)."""
    parser.add_argument("--offset", type=int, default=None,
                        help=f"with --write_synced: shift by this many frames instead of {instead_of} "
                             "(positive = the audio is early and gets delayed)")


def add_common_options(parser):
    parser.add_argument("--device", default="auto",
                        help=f"where the networks run: {', '.join(DEVICE_CHOICES)} or cuda:N (default auto)")
    add_reporting_options(parser)


def add_reporting_options(parser):
    """--debug and --quiet, which run_command reads."""
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on failure (also SYNCNET_DEBUG=1)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars, and only warnings and errors in the log")


def options_from(args, group):
    """The `group` dataclass from the parsed arguments of add_options(parser, group)."""
    return group(**{spec.name: getattr(args, spec.name) for spec in dataclasses.fields(group)})


def model_options(args):
    return ModelOptions(syncnet_model=getattr(args, "initial_model", None),
                        s3fd_model=getattr(args, "s3fd_model", None), device=args.device,
                        detector=getattr(args, "detector", ModelOptions.detector))


@contextlib.contextmanager
def stop_on_signals(interrupt=False):
    """A threading.Event that SIGINT and SIGTERM set, for a run that stops cleanly between its
    steps; with `interrupt`, the signal also interrupts the step running in this process."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if interrupt:
            raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
        if debugging(debug):
            raise
        print(f"{prog}: interrupted; partial outputs were not kept", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as error:
        if debugging(debug):
            raise
        hint = "" if isinstance(error, (SyncNetError, OSError)) else " (rerun with --debug for the traceback)"
        print(f"{prog}: error: {describe_error(error)}{hint}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(build_parser, run, argv=None):
    """Every command's main: parse `argv` (None: the command line) with build_parser(argv), then
    run(args) with its failures reported as one line (reported_errors). Returns run's exit
    status, 0 when it returns None."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    with reported_errors(parser.prog, args.debug, args.quiet):
        status = run(args)
    return 0 if status is None else status

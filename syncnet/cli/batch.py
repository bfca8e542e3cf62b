"""syncnet-batch: find and score the face tracks of many videos, resumably, with N workers.

    syncnet-batch videos/ --data_dir runs
    syncnet-batch 'clips/**/*.mp4' more.txt --data_dir runs --workers 2 --keep pywork
"""
import signal
import sys
import threading

from ..batch import DEFAULT_KEEP, LIST_EXTENSIONS
from ..layout import FOLDERS
from ..options import OutputOptions, PipelineOptions, ScoringOptions
from . import (add_common_options, add_model_options, add_output_options, add_pipeline_options, make_parser,
               model_options, options_from, reported_errors)

COMMAND = "syncnet-batch"


def build_parser(argv=None):
    parser = make_parser(COMMAND, "Find and score the face tracks of many videos, resumably, with N workers; "
                         "one summary row per video and per track.", argv, module="syncnet.batch")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="a video, a folder of videos, a quoted glob pattern (** allowed), or a "
                             f"text file ({', '.join(LIST_EXTENSIONS)}) with one path per line")
    parser.add_argument("--data_dir", type=str, default="data/work",
                        help="folder for every video's folders, the state file and the summaries")
    parser.add_argument("--workers", type=int, default=None,
                        help="videos processed at once (default: 1 on CUDA, else half the CPU cores, at most 4)")
    keep = ",".join(DEFAULT_KEEP)
    parser.add_argument("--keep", type=str, default=keep,
                        help=f"folders kept after each video, comma-separated from {','.join(FOLDERS)}, "
                             f"or all or none (default {keep}: pyframes and pytmp are deleted)")
    parser.add_argument("--retry_failed", action="store_true",
                        help="run again the videos that failed in an earlier run")
    parser.add_argument("--reuse_faces", action="store_true",
                        help="use the faces.pckl of an earlier run of each video instead of detecting")
    add_model_options(parser)
    add_pipeline_options(parser)
    add_output_options(parser)
    add_common_options(parser)
    return parser


def config_from(args):
    """The BatchConfig of the parsed arguments; refuses bad values before any video."""
    from ..batch import BatchConfig, default_workers, parse_keep
    from ..devices import resolve_device
    from ..errors import InputError

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: expected an integer >= 1")
    return BatchConfig(
        data_dir=args.data_dir, pipeline=options_from(args, PipelineOptions),
        scoring=options_from(args, ScoringOptions), outputs=options_from(args, OutputOptions),
        models=model_options(args), keep=parse_keep(args.keep),
        workers=args.workers or default_workers(resolve_device(args.device)),
        retry_failed=args.retry_failed, reuse_faces=args.reuse_faces, quiet=args.quiet, debug=args.debug)


def main(argv=None):
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    with reported_errors(parser.prog, args.debug, args.quiet):
        from ..batch import collect_videos

        config = config_from(args)
        videos = collect_videos(args.inputs)
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()
            if config.workers == 1:  # the video runs in this process: interrupt it now
                raise KeyboardInterrupt

        previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            report = _run(videos, config, stop, args.quiet)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        csv_path, json_path = report.summary_files
        print("%d video(s): %d run, %d failed, %d skipped as done before; summary in %s and %s"
              % (report.n_videos, report.n_run, report.n_failed, report.n_skipped, csv_path, json_path))
        if report.interrupted:
            raise KeyboardInterrupt
    return 0


def _run(videos, config, stop, quiet):
    """run_batch with one progress bar over the videos and a log line for each."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..batch import log, run_batch
    from ..progress import progress_bar

    with progress_bar(None, "videos", "video", quiet) as bar, logging_redirect_tqdm():
        def finished(record):
            if record["status"] == "ok":
                log.info("%s: %d face track(s), %.1f s", record["video"], len(record["tracks"]),
                         record["seconds"])
            else:
                log.warning("%s: failed: %s", record["video"], record["error"])
            bar.update(1)

        return run_batch(videos, config, on_plan=lambda total: bar.reset(total=total), on_record=finished,
                         stop=stop)


if __name__ == "__main__":
    sys.exit(main())

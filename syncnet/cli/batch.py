"""syncnet-batch: find and score the face tracks of many videos, resumably, on this machine or a
Ray cluster, optionally keeping only the clips in sync (curation).

    syncnet-batch videos/ --data_dir runs
    syncnet-batch 'clips/**/*.mp4' more.txt --data_dir runs --workers 2 --keep pywork
    syncnet-batch s3://bucket/clips/ --data_dir s3://bucket/runs --engine ray --ray_address auto
    syncnet-batch videos/ --data_dir runs --curate kept/ --min_conf 3 --max_offset 6

Exit status: 0 when every video was scored, 3 (syncnet.batch.EXIT_SOME_FAILED) when some failed
(0 with --allow_failures), 1 for a bad option or a model file that fails every video, 130
when interrupted.
"""
import sys
import time

from syncnet.batch.driver import DEFAULT_KEEP, ENGINES, EXIT_SOME_FAILED
from syncnet.io.inputs import LIST_EXTENSIONS
from syncnet.io.layout import FOLDERS
from syncnet.options import OutputOptions, PipelineOptions, ScoringOptions, StreamOptions

from . import (
    add_common_options,
    add_mode_options,
    add_model_options,
    add_output_options,
    add_pipeline_options,
    make_parser,
    model_options,
    options_from,
    run_command,
    stop_on_signals,
)

COMMAND = "syncnet-batch"


def build_parser(argv=None):
    parser = make_parser(COMMAND, "Find and score the face tracks of many videos, resumably, on this machine or "
                         "a Ray cluster; one summary row per video and per track.", argv, module="syncnet.batch")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="a video, a folder of videos, a quoted glob pattern (** allowed), a text file "
                             f"({', '.join(LIST_EXTENSIONS)}) with one path per line, or the same in object "
                             "storage (s3://bucket/prefix/, s3://bucket/clips/*.mp4)")
    parser.add_argument("--data_dir", type=str, default="data/work",
                        help="folder (or s3:// prefix) for every video's kept folders, the records and the "
                             "summaries (default data/work)")
    keep = ",".join(DEFAULT_KEEP)
    parser.add_argument("--keep", type=str, default=keep,
                        help=f"folders kept after each video, comma-separated from {','.join(FOLDERS)}, "
                             f"or all or none (default {keep}: pyframes and pytmp are deleted)")
    parser.add_argument("--reuse_faces", action="store_true",
                        help="use the faces.pckl of an earlier run of each video instead of detecting")
    add_engine_options(parser)
    curation = parser.add_argument_group("curation")
    curation.add_argument("--curate", metavar="OUT_DIR", default=None,
                          help="write the videos whose tracks agree on an offset (confidence >= --min_conf, "
                               "|offset| <= --max_offset) to OUT_DIR with their audio shifted by it, and a "
                               "manifest of every input (kept or rejected, and why)")
    curation.add_argument("--max_offset", type=int, default=6,
                          help="with --curate: the largest |offset| in frames a kept clip may have (default 6)")
    add_model_options(parser)
    add_pipeline_options(parser)
    add_mode_options(parser)
    add_output_options(parser)
    add_common_options(parser)
    return parser


def add_engine_options(parser):
    """Where and how a batch runs: the options syncnet-batch and syncnet-eval share."""
    parser.add_argument("--workers", type=int, default=None,
                        help="videos processed at once (default: local, 1 on CUDA, else half the CPU cores, "
                             "at most 4; ray, as many as the cluster's CPUs or GPUs hold)")
    parser.add_argument("--retry_failed", action="store_true",
                        help="run again the videos that failed in an earlier run")
    parser.add_argument("--allow_failures", action="store_true",
                        help=f"exit 0 even when some video failed (else {EXIT_SOME_FAILED})")
    parser.add_argument("--max_retries", type=int, default=2,
                        help="how often a video is retried when its worker dies (killed, out of memory); "
                             "then it is recorded as failed (default 2)")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=ENGINES, default="local",
                        help="local: worker processes on this machine; ray: Ray actors (default local)")
    engine.add_argument("--ray_address", default=None, metavar="ADDR",
                        help="the Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a Ray runtime "
                             "started on this machine for the run)")
    engine.add_argument("--ray_num_cpus", type=float, default=1.0, help="CPUs per Ray worker (default 1)")
    engine.add_argument("--ray_num_gpus", type=float, default=0.0,
                        help="GPUs per Ray worker, fractions share one, e.g. 0.25 (default 0)")
    engine.add_argument("--scratch_dir", default=None,
                        help="where each Ray worker builds a video's folders before publishing what --keep "
                             "keeps (default: the system's temporary folder)")


def stopped_by_signals(config):
    """A threading.Event that SIGINT and SIGTERM set: the batch starts nothing new, records what
    finished and removes what did not. A video running in this process is interrupted at once."""
    return stop_on_signals(interrupt=config.engine == "local" and config.workers == 1)


def engine_settings(args):
    """The BatchConfig fields that add_engine_options sets, checked."""
    from syncnet.batch.driver import default_workers
    from syncnet.options import RayOptions
    from syncnet.runtime.devices import resolve_device

    workers = args.workers
    if workers is None and args.engine == "local":
        workers = default_workers(resolve_device(args.device))
    return {"workers": workers, "retry_failed": args.retry_failed, "engine": args.engine,
            "max_retries": args.max_retries, "scratch_dir": args.scratch_dir,
            "ray": RayOptions(address=args.ray_address, num_cpus=args.ray_num_cpus, num_gpus=args.ray_num_gpus)}


def config_from(args):
    """The BatchConfig of the parsed arguments; refuses bad values before any video."""
    from syncnet.batch.curation import CurationOptions
    from syncnet.batch.driver import BatchConfig, parse_keep

    return BatchConfig(
        data_dir=args.data_dir, pipeline=options_from(args, PipelineOptions),
        scoring=options_from(args, ScoringOptions), outputs=options_from(args, OutputOptions),
        models=model_options(args), keep=parse_keep(args.keep), reuse_faces=args.reuse_faces,
        curate=CurationOptions(args.curate, args.max_offset) if args.curate else None,
        mode=args.mode, stream=options_from(args, StreamOptions),
        quiet=args.quiet, debug=args.debug, **engine_settings(args))


def run(args):
    """Score the videos, with a progress bar; then the summary and curation lines."""
    from syncnet.io.inputs import collect_videos

    config = config_from(args)
    videos = collect_videos(args.inputs)
    with stopped_by_signals(config) as stop:
        report = _run_with_progress(videos, config, stop, args.quiet)
    print("%d video(s): %d run, %d skipped as done before; %s; summary in %s"
          % (report.n_videos, report.n_run, report.n_skipped, failures_text(report),
             ", ".join(report.summary_files)))
    if report.manifest_files:
        kept = sum((record.get("curation") or {}).get("decision") == "kept" for record in report.records)
        print("Curation: %d of %d video(s) kept in %s; manifest in %s"
              % (kept, len(report.records), config.curate.out_dir, ", ".join(report.manifest_files)))
    if report.interrupted:
        raise KeyboardInterrupt
    if report.any_failed and not args.allow_failures:
        return EXIT_SOME_FAILED
    return 0


def main(argv=None):
    return run_command(build_parser, run, argv)


def failures_text(report):
    """How many inputs failed, this run and earlier ones together, as the exit status counts them."""
    total, earlier = report.n_failed_total, report.n_failed_total - report.n_failed
    if not total:
        return "none failed"
    text = "%d of %d failed" % (total, report.n_videos)
    if earlier == total:
        return text + ", in an earlier run (--retry_failed runs them again)"
    if earlier:
        return text + ", %d of them in an earlier run (--retry_failed runs those again)" % earlier
    return text


def _run_with_progress(videos, config, stop, quiet):
    """run_batch with one progress bar over the videos (videos/min, failures) and a log line each."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from syncnet.batch.driver import log, run_batch
    from syncnet.runtime.progress import progress_bar

    started = time.monotonic()
    counts = {"done": 0, "failed": 0}
    with progress_bar(None, "videos", "video", quiet) as bar, logging_redirect_tqdm():
        def finished(record):
            counts["done"] += 1
            if record["status"] == "ok":
                log.info("%s: %d face track(s), %.1f s", record["video"], len(record["tracks"]),
                         record["seconds"])
            else:
                counts["failed"] += 1
                log.warning("%s: failed: %s", record["video"], record["error"])
            per_minute = counts["done"] / max(time.monotonic() - started, 1e-9) * 60
            bar.set_postfix_str(f"{per_minute:.1f} videos/min, {counts['failed']} failed", refresh=False)
            bar.update(1)

        return run_batch(videos, config, on_plan=lambda total: bar.reset(total=total), on_record=finished,
                         stop=stop)


if __name__ == "__main__":
    sys.exit(main())

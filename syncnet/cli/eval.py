"""syncnet-eval: a dataset's LSE-D and LSE-C as a published protocol computes them, with 95%
confidence intervals; or the paired difference of two evaluations.

    syncnet-eval results/*.mp4 --protocol wav2lip --out eval/mine
    syncnet-eval 's3://bucket/lrs/*.mp4' --protocol wav2lip-lrs --out eval/lrs --engine ray
    syncnet-eval --compare eval/ground_truth eval/mine

The last line printed is the dataset's numbers, e.g.
`LSE-D 7.012 [6.95, 7.07]  LSE-C 7.845 [7.80, 7.89]  n=100  protocol wav2lip`.
"""
import dataclasses
import sys

from syncnet.cli.batch import add_engine_options, engine_settings, stopped_by_signals
from syncnet.eval.protocols import PROTOCOLS
from syncnet.options import BootstrapOptions, OutputOptions, PipelineOptions, ScoringOptions, StreamOptions

from . import (
    DETECTOR_WEIGHTS_HELP,
    add_common_options,
    add_mode_options,
    add_model_options,
    add_options,
    make_parser,
    model_options,
    options_from,
    run_command,
)

COMMAND = "syncnet-eval"


def build_parser(argv=None):
    parser = make_parser(COMMAND, "LSE-D and LSE-C of a dataset exactly as a published evaluation protocol "
                         "computes them, with bootstrap 95% intervals; or two evaluations compared, paired "
                         "by video.", argv, module="syncnet.eval")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="videos, as syncnet-batch takes them (files, folders, globs, list files, s3://)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS),
                        help="; ".join(f"{name}: {spec.summary}" for name, spec in PROTOCOLS.items()))
    parser.add_argument("--out", metavar="DIR",
                        help="the evaluation folder: per_track.csv, per_video.csv, scores.txt, dataset.json, "
                             "and the batch's records (a rerun resumes)")
    parser.add_argument("--compare", nargs=2, metavar=("DIR_A", "DIR_B"),
                        help="the paired difference B - A of two evaluations' per-video numbers, over the "
                             "videos both scored, with a paired bootstrap 95%% interval")
    add_options(parser, BootstrapOptions)
    parser.add_argument("--keep", default="pywork",
                        help="folders kept for each video, as syncnet-batch --keep (default pywork)")
    add_model_options(parser)
    pipeline = parser.add_argument_group("pipeline (the protocol sets these; a value given here overrides it)")
    add_options(pipeline, PipelineOptions, unset=True)
    pipeline.add_argument("--s3fd_model", default=None, help=DETECTOR_WEIGHTS_HELP)
    pipeline.add_argument("--reuse_faces", action="store_true",
                          help="use the faces.pckl of an earlier run of each video in --out instead of detecting")
    add_engine_options(parser)
    add_mode_options(parser)
    add_common_options(parser)
    return parser


def run(args):
    """Evaluate the videos under the protocol, or compare two evaluations."""
    from syncnet.errors import InputError

    if args.compare:
        if args.inputs or args.protocol:
            raise InputError("--compare takes two evaluation folders, not videos or a --protocol")
        return _compare(args)
    if not args.inputs or not args.protocol or not args.out:
        raise InputError("give the videos, --protocol and --out (or --compare DIR_A DIR_B)")
    return _evaluate(args)


def main(argv=None):
    return run_command(build_parser, run, argv)


def _compare(args):
    from syncnet.eval.evaluate import compare
    from syncnet.eval.report import comparison_line

    bootstrap = options_from(args, BootstrapOptions)
    if args.out:
        from syncnet.io.storage import check_writable

        check_writable(args.out, "--out")
    result = compare(*args.compare, seed=bootstrap.seed, n_boot=bootstrap.n_boot)
    if args.out:
        from syncnet.io.fileio import json_text
        from syncnet.io.storage import join, write_bytes

        write_bytes(join(args.out, "compare.json"), (json_text(result, indent=2) + "\n").encode())
    print(comparison_line(result))
    return 0


def _evaluate(args):
    from syncnet.batch.driver import BatchConfig, parse_keep
    from syncnet.eval.evaluate import evaluate
    from syncnet.eval.report import summary_line
    from syncnet.io.inputs import collect_videos
    from syncnet.io.storage import check_writable

    bootstrap = options_from(args, BootstrapOptions)
    passed = [spec.name for spec in dataclasses.fields(PipelineOptions) if getattr(args, spec.name) is not None]
    config = BatchConfig(
        data_dir=args.out, pipeline=PipelineOptions(**{name: getattr(args, name) for name in passed}),
        scoring=options_from(args, ScoringOptions), outputs=OutputOptions(), models=model_options(args),
        keep=parse_keep(args.keep), reuse_faces=args.reuse_faces, quiet=args.quiet, debug=args.debug,
        mode=args.mode, stream=options_from(args, StreamOptions), **engine_settings(args))
    videos = collect_videos(args.inputs)
    check_writable(args.out, "--out")  # before any video (run_batch's own check would name --data_dir)
    with stopped_by_signals(config) as stop:
        evaluation = evaluate(videos, args.protocol, config, passed, seed=bootstrap.seed, n_boot=bootstrap.n_boot,
                              stop=stop)
    if evaluation.batch.interrupted:
        raise KeyboardInterrupt
    print("Wrote " + ", ".join(evaluation.files))
    print(summary_line(evaluation.summary))
    if evaluation.summary["n_failed"] and not args.allow_failures:
        from syncnet.batch.driver import EXIT_SOME_FAILED

        return EXIT_SOME_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""syncnet-score (run_syncnet.py): every face track of a pipeline run scored: activesd.pckl,
offsets.txt/json, speakers.json, timeline.json."""
import os
import sys

from syncnet.cli import (
    add_common_options,
    add_model_options,
    add_offset_option,
    add_output_options,
    add_run_folders,
    add_timeline_options,
    make_parser,
    model_options,
    options_from,
    refused_repair,
    run_command,
)
from syncnet.options import OutputOptions, ScoringOptions, TimelineOptions


def build_parser(argv=None):
    parser = make_parser("run_syncnet.py", "Score every face track that run_pipeline.py cropped: "
                         "activesd.pckl, offsets.txt/json, speakers.json and timeline.json in pywork/REFERENCE.", argv)
    add_model_options(parser)
    add_run_folders(parser, "the --data_dir of run_pipeline.py",
                    "the original video, recorded in offsets.json (default: the one run_pipeline.py processed)",
                    "the --reference of run_pipeline.py (required)")
    add_output_options(parser)
    add_timeline_options(parser)
    parser.add_argument("--write_synced", action="store_true",
                        help="also write pyavi/REFERENCE/video_synced.avi, the converted video with its sync "
                             "repaired: the most confident track's drift or jumps when its timeline finds them, "
                             "else the tracks' consensus offset")
    add_offset_option(parser, "the consensus")
    add_common_options(parser)
    return parser


def run(args):
    """Score every face track of the run; then the repaired copy when asked for."""
    from syncnet import VideoScorer
    from syncnet.errors import InputError
    from syncnet.io.layout import Layout
    from syncnet.render.reports import track_report, written

    scoring, outputs = options_from(args, ScoringOptions), options_from(args, OutputOptions)
    timeline = options_from(args, TimelineOptions)
    if not args.reference:
        raise InputError("--reference is required: the --reference of run_pipeline.py")
    if args.offset is not None and not args.write_synced:
        raise InputError("--offset only applies with --write_synced")
    layout = Layout(args.data_dir, args.reference)
    synced = os.path.join(layout.avi, SYNCED_NAME)
    if args.write_synced:
        check_repair_output(layout, synced, args.offset)
    result = VideoScorer.from_options(model_options(args)).score_tracks(
        args.data_dir, args.reference, scoring, outputs, videofile=args.videofile or None, quiet=args.quiet,
        timeline=timeline)
    for track in result.tracks:
        print(track_report(track, os.path.join(layout.crop, track.file), scoring.vshift, outputs.min_conf))
    if not result.tracks:
        print(f"No face track in {layout.crop} ({result.reason or 'none kept'}): the results list none.")
    print(written(list(result.files.values())))
    if args.write_synced:
        return write_repair(args, result, synced, outputs.min_conf)


SYNCED_NAME = "video_synced.avi"


def check_repair_output(layout, synced, offset):
    """Before any scoring: the completed pipeline run, an --offset within its video, and a
    repaired copy that can be written and lands on no input."""
    from syncnet.io.fileio import check_output_files
    from syncnet.repair.resync import check_offset

    record, layout = layout.require_pipeline("run_syncnet.py")
    check_offset(offset, record.get("n_frames"))
    check_output_files({"--write_synced": synced}, [path for path in (layout.video, record.get("videofile")) if path])


def write_repair(args, result, synced, min_conf):
    """The repaired copy, or the line saying why the repair is refused (exit status REPAIR_REFUSED)."""
    from syncnet.repair.resync import RepairRefused
    from syncnet.repair.warp import repair_tracks

    try:
        print(repair_tracks(result, synced, args.offset, min_conf).description)
    except RepairRefused as refusal:
        return refused_repair(args, "results written", refusal)


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

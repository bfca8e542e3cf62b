#!/usr/bin/env python3
"""Score every face track of a pipeline run: activesd.pckl, offsets.txt/json, speakers.json, timeline.json."""
import os
import sys

from syncnet.cli import (add_common_options, add_model_options, add_output_options, add_timeline_options, make_parser,
                         model_options, options_from, reported_errors)
from syncnet.options import OutputOptions, ScoringOptions, TimelineOptions


def build_parser(argv=None):
    parser = make_parser("run_syncnet.py", "Score every face track that run_pipeline.py cropped: "
                         "activesd.pckl, offsets.txt/json, speakers.json and timeline.json in pywork/REFERENCE.", argv)
    add_model_options(parser)
    parser.add_argument("--data_dir", type=str, default="data/work",
                        help="the --data_dir of run_pipeline.py (default data/work)")
    parser.add_argument("--videofile", type=str, default="",
                        help="the original video, recorded in offsets.json (default: the one "
                             "run_pipeline.py processed)")
    parser.add_argument("--reference", type=str, default="",
                        help="the --reference of run_pipeline.py (required)")
    add_output_options(parser)
    add_timeline_options(parser)
    parser.add_argument("--write_synced", action="store_true",
                        help="also write pyavi/REFERENCE/video_synced.avi, the converted video with its sync "
                             "repaired: the most confident track's drift or jumps when its timeline finds them, "
                             "else the tracks' consensus offset")
    parser.add_argument("--offset", type=int, default=None,
                        help="with --write_synced: shift by this many frames instead of the consensus "
                             "(positive = the audio is early and gets delayed)")
    add_common_options(parser)
    return parser


def main(argv=None):
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    with reported_errors(parser.prog, args.debug, args.quiet):
        from syncnet import VideoScorer
        from syncnet.errors import InputError
        from syncnet.io.layout import Layout
        from syncnet.render.reports import track_report, written
        from syncnet.repair.warp import repair_tracks

        scoring, outputs = options_from(args, ScoringOptions), options_from(args, OutputOptions)
        timeline = options_from(args, TimelineOptions)
        if not args.reference:
            raise InputError("--reference is required: the --reference of run_pipeline.py")
        if args.offset is not None and not args.write_synced:
            raise InputError("--offset only applies with --write_synced")
        layout = Layout(args.data_dir, args.reference)
        result = VideoScorer.from_options(model_options(args)).score_tracks(
            args.data_dir, args.reference, scoring, outputs, videofile=args.videofile or None, quiet=args.quiet,
            timeline=timeline)
        for track in result.tracks:
            print(track_report(track, os.path.join(layout.crop, track.file), scoring.vshift))
        if not result.tracks:
            print(f"No face track in {layout.crop} ({result.reason or 'none kept'}): the results list none.")
        paths = list(result.files.values())
        if args.write_synced:
            synced = os.path.join(layout.avi, "video_synced.avi")
            print(repair_tracks(result, synced, args.offset, outputs.min_conf).description)
        print(written(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

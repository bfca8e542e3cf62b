"""syncnet-scan VIDEO: every face track of a video scored through the stream path (decoded once
into memory, faces detected every few frames), each track's result printed; no --data_dir
layout is needed (docs/stream.md)."""
import sys

from syncnet.cli import (
    add_common_options,
    add_model_options,
    add_options,
    add_output_options,
    add_pipeline_options,
    add_timeline_options,
    make_parser,
    model_options,
    options_from,
    run_command,
)
from syncnet.options import OutputOptions, PipelineOptions, ScoringOptions, StreamOptions, TimelineOptions


def build_parser(argv=None):
    parser = make_parser("syncnet-scan", "Score every face track of VIDEO through the stream path: decoded "
                         "once into memory, faces detected on every --detect_every-th frame and tracked "
                         "between; prints each track's offset, min dist and confidence.", argv,
                         module="syncnet.cli.scan")
    parser.add_argument("video", metavar="VIDEO", help="the video: a file, or a URL ffmpeg reads")
    parser.add_argument("--faces", metavar="FILE", default=None,
                        help="use these detections (.json or .pckl, faces.pckl's format, one list per 25 fps "
                             "frame) instead of the face detector")
    parser.add_argument("--out_dir", default=None,
                        help="also write offsets.txt/json, speakers.json, timeline.json and activesd.pckl in "
                             "OUT_DIR/pywork/REFERENCE")
    parser.add_argument("--reference", default=None, help="the name of the result folder (default: from VIDEO)")
    add_options(parser, StreamOptions)
    add_pipeline_options(parser)
    add_model_options(parser)
    add_output_options(parser)
    add_timeline_options(parser)
    add_common_options(parser)
    return parser


def run(args):
    """Score the video's tracks through the stream path and print them."""
    from syncnet import VideoScorer
    from syncnet.pipeline.detection import load_faces_file
    from syncnet.render.reports import track_report, written

    pipeline, scoring = options_from(args, PipelineOptions), options_from(args, ScoringOptions)
    outputs, timeline = options_from(args, OutputOptions), options_from(args, TimelineOptions)
    stream = options_from(args, StreamOptions)
    faces = load_faces_file(args.faces) if args.faces else None
    result = VideoScorer.from_options(model_options(args)).score(
        args.video, work_dir=args.out_dir, reference=args.reference, faces=faces, pipeline=pipeline,
        scoring=scoring, outputs=outputs, timeline=timeline, quiet=args.quiet, mode="stream",
        detect_every=stream.detect_every)
    for track in result.tracks:
        print(track_report(track, f"track {track.track}", scoring.vshift))
    if not result.tracks:
        print(f"No face track in {args.video} ({result.reason or 'none kept'}).")
    if result.files:
        print(written(list(result.files.values())))


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""syncnet-pipeline (run_pipeline.py): the face tracks of a video, each cropped into
pycrop/REFERENCE/%05d.avi with its audio."""
import sys

from syncnet.cli import (
    add_common_options,
    add_pipeline_options,
    add_run_folders,
    make_parser,
    model_options,
    options_from,
    run_command,
)
from syncnet.options import PipelineOptions


def build_parser(argv=None):
    parser = make_parser("run_pipeline.py", "Find the face tracks of a video (S3FD faces, PySceneDetect "
                         "shots, IoU tracking) and crop each to a 224x224 face video with its audio.", argv)
    add_run_folders(parser, "folder that holds pyavi, pycrop, pywork, pytmp and pyframes",
                    "the video to process (required)", "name of this run's folders under --data_dir (required)")
    add_pipeline_options(parser)
    parser.add_argument("--reuse_faces", action="store_true",
                        help="use pywork/REFERENCE/faces.pckl from an earlier run instead of detecting")
    parser.add_argument("--faces", metavar="FILE", default=None,
                        help="use these detections instead of detecting: a .json or .pckl file in "
                             "faces.pckl's format (per frame, a list of {frame, bbox, conf}), listing every "
                             "pyframe or every frame of a 25 fps source")
    add_common_options(parser)
    return parser


def run(args):
    """Find, track and crop the faces of the video."""
    from syncnet import VideoScorer
    from syncnet.errors import InputError
    from syncnet.io.layout import check_reference
    from syncnet.pipeline.detection import load_faces_file

    options = options_from(args, PipelineOptions)
    if not args.videofile:
        raise InputError("--videofile is required: the video to process")
    if not args.reference:
        raise InputError("--reference is required: the name of this run's folders under --data_dir")
    check_reference(args.reference)
    if args.faces and args.reuse_faces:
        raise InputError("--faces and --reuse_faces both name the detections to use: pass one")
    faces = load_faces_file(args.faces) if args.faces else None
    outcome = VideoScorer.from_options(model_options(args)).find_tracks(
        args.videofile, args.data_dir, args.reference, options, faces=faces, reuse_faces=args.reuse_faces,
        quiet=args.quiet)
    if outcome.tracks:
        print("%d face track(s) cropped to %s" % (len(outcome.tracks), outcome.crop_dir))
    else:
        from syncnet.render.reports import no_track_report

        print(no_track_report(outcome.tally, options, outcome.crop_dir, detected=not args.faces))


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

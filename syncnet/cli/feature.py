"""syncnet-feature (demo_feature.py): SyncNet's 512-d lip features for every 5-frame window of a video."""
import os
import sys

from syncnet.cli import (
    add_common_options,
    add_face_video_options,
    add_model_options,
    make_parser,
    model_options,
    options_from,
    run_command,
)
from syncnet.options import ScoringOptions


def build_parser(argv=None):
    parser = make_parser("demo_feature.py", "Save SyncNet's 512-d lip features of every 5-frame window "
                         "of a 224x224 face video, (T-4) x 512, with torch.save.", argv)
    add_model_options(parser)
    add_face_video_options(parser, "the face video: 224x224 face crops", "kept for the reference's command line; "
                           "features are read straight from the video, so nothing is written there")
    parser.add_argument("--save_as", type=str, default="data/features.pt",
                        help="where the features tensor is saved (default data/features.pt)")
    add_common_options(parser)
    return parser


def run(args):
    """Save the lip features of the face video."""
    import torch

    from syncnet import VideoScorer
    from syncnet.errors import InputError
    from syncnet.io.fileio import atomic_path, check_output_files

    scoring = options_from(args, ScoringOptions)
    if not os.path.isfile(args.videofile):
        raise InputError(f"video file not found: {args.videofile}")
    check_output_files({"--save_as": args.save_as}, [args.videofile])
    scorer = VideoScorer.from_options(model_options(args))
    scorer.load(detector=False)  # after the checks
    print("Model %s loaded." % args.initial_model)
    features = scorer.lip_features(args.videofile, scoring.batch_size)
    with atomic_path(args.save_as) as temporary:
        torch.save(features, temporary)
    print("Saved %d x %d features to %s" % (*features.shape, args.save_as))


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

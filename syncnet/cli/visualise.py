"""syncnet-visualise (run_visualise.py): each face track drawn, coloured by its sync confidence:
pyavi/REFERENCE/video_out.avi and confidence.png."""
import sys

from syncnet.cli import add_common_options, add_run_folders, make_parser, run_command
from syncnet.options import PipelineOptions


def build_parser(argv=None):
    parser = make_parser("run_visualise.py", "Draw every face track on the video, coloured by its sync "
                         "confidence (video_out.avi), and plot who speaks when (confidence.png).", argv)
    add_run_folders(parser, "the --data_dir of run_pipeline.py and run_syncnet.py",
                    "kept for the reference's command line; the converted video in pyavi/ is drawn on",
                    "the --reference of run_pipeline.py and run_syncnet.py (required)")
    parser.add_argument("--frame_rate", type=int, default=PipelineOptions.frame_rate,
                        help=f"frame rate of the drawn video (default {PipelineOptions.frame_rate})")
    parser.add_argument("--speakers", action="store_true",
                        help="mark who speaks: each face green where it speaks and red where it is silent, "
                             "labelled with its speaking score (speakers.rttm and speakers.json)")
    add_common_options(parser)
    return parser


def run(args):
    """Draw the run's face tracks and plot who speaks when."""
    from syncnet.errors import InputError
    from syncnet.io.layout import Layout
    from syncnet.render.reports import written
    from syncnet.render.visualise import visualise_run

    if not args.reference:
        raise InputError("--reference is required: the --reference of run_pipeline.py")
    frame_rate = PipelineOptions(frame_rate=args.frame_rate).frame_rate
    print(written(visualise_run(Layout(args.data_dir, args.reference), frame_rate, speakers=args.speakers)))


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

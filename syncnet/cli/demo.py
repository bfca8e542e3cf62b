"""syncnet-demo (demo_syncnet.py): the audio-visual sync of one cropped face video, its AV offset,
min dist and confidence."""
import os
import sys

from syncnet.cli import (
    add_common_options,
    add_face_video_options,
    add_model_options,
    add_offset_option,
    add_options,
    add_timeline_options,
    make_parser,
    model_options,
    options_from,
    run_command,
)
from syncnet.options import OutputOptions, ScoringOptions, TimelineOptions


def build_parser(argv=None):
    parser = make_parser("demo_syncnet.py", "Score the audio-visual sync of one 224x224 face video: "
                         "prints its AV offset, min dist (LSE-D) and confidence (LSE-C).", argv)
    add_model_options(parser)
    add_face_video_options(parser, "the face video to score: 224x224 face crops with audio, as run_pipeline.py "
                           "writes to pycrop/", "folder for the extracted frames and audio (default %(default)s)")
    parser.add_argument("--reference", type=str, default="demo",
                        help="name of this run's folder under --tmp_dir, cleared at each run (default demo)")
    parser.add_argument("--resize", action="store_true",
                        help="score a video of any frame size by resizing every frame to 224x224 "
                             "(cv2.resize, bilinear), as Wav2Lip's LRS evaluation does")
    parser.add_argument("--write_synced", metavar="OUT", default=None,
                        help="also write a copy of the video with its sync repaired as the timeline's verdict "
                             "says: a constant shift, drift resampled away, or jumps shifted piece by piece "
                             "(.avi/.mov/.mkv: PCM audio, sample-exact; .mp4/.m4v: AAC)")
    add_offset_option(parser, "the detected offset")
    parser.add_argument("--plot", metavar="OUT.png", default=None,
                        help="also draw the distance curve, the framewise confidence and the offset over "
                             "time (.png/.pdf/.svg)")
    parser.add_argument("--timeline", metavar="FILE.json", default=None,
                        help="also write the offset over time: segments, verdict, drift and jumps "
                             "(docs/timeline.md)")
    add_timeline_options(parser)
    add_options(parser, OutputOptions, skip=("speaker_threshold", "speaker_release", "min_speaking_frames",
                                             "speaker_max_offset"))
    add_common_options(parser)
    return parser


def check_outputs(args):
    """Refuse bad output names before the minutes of scoring."""
    from syncnet.errors import InputError
    from syncnet.render.plots import check_plot_path
    from syncnet.repair.resync import audio_codec_for

    if args.offset is not None and not args.write_synced:
        raise InputError("--offset only applies with --write_synced OUT")
    if args.write_synced:
        audio_codec_for(args.write_synced)
    if args.plot:
        check_plot_path(args.plot)
    if args.timeline and not args.timeline.lower().endswith(".json"):
        raise InputError(f"--timeline {args.timeline}: the timeline is written as JSON; name it FILE.json")


def timeline_wanted(args, timeline, probed):
    """The TimelineOptions to score with, or None when nothing asks for the timeline. --timeline
    refuses a segment longer than the video; the plot and the repair then do without."""
    from syncnet.timeline import check_segment_fits

    if not (args.timeline or args.plot or (args.write_synced and args.offset is None)):
        return None
    seconds = probed[0].duration_s or float("inf")  # unknown: the timeline finds out
    if args.timeline:
        check_segment_fits(timeline, seconds)
    return timeline if timeline.segment_s <= seconds else None


def run(args):
    """Score the face video; then the timeline, plot and repaired copy asked for."""
    from syncnet import VideoScorer
    from syncnet.io.media import require_scorable
    from syncnet.render.reports import demo_report

    scoring, timeline = options_from(args, ScoringOptions), options_from(args, TimelineOptions)
    min_conf = OutputOptions(min_conf=args.min_conf).min_conf
    check_outputs(args)
    probed = require_scorable(args.videofile)
    timeline = timeline_wanted(args, timeline, probed)
    scorer = VideoScorer.from_options(model_options(args))
    scorer.load(detector=False)  # after the checks
    print("Model %s loaded." % args.initial_model)
    score = scorer.score_face_video(args.videofile, args.tmp_dir, args.reference, scoring,
                                    resize=args.resize, quiet=args.quiet, probed=probed, timeline=timeline,
                                    min_conf=min_conf)
    print(demo_report(score))
    if args.timeline:
        from syncnet.io.fileio import save_json

        save_json(score.timeline.record(), args.timeline)
        print("Wrote %s" % args.timeline)
    if args.plot:
        from syncnet.render.plots import plot_demo

        plot_demo(score.summary, scoring.vshift, os.path.basename(args.videofile), args.plot, score.timeline)
        print("Wrote %s" % args.plot)
    if args.write_synced:
        from syncnet.repair.warp import repair_sync

        offset = score.summary.offset if args.offset is None else args.offset
        if args.offset is None and score.summary.confidence < min_conf:
            print("Note: confidence %.3f is below %g, so the detected offset may be wrong "
                  "(pass --offset N if you know the lag)." % (score.summary.confidence, min_conf))
        print(repair_sync(args.videofile, args.write_synced, score.timeline if args.offset is None else None,
                          offset).description)


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())

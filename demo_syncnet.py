#!/usr/bin/env python3
"""Score the audio-visual sync of one cropped face video: AV offset, min dist and confidence."""
import argparse
import os
import sys

from syncnet.cli import add_common_options, add_model_options, reported_errors


def build_parser():
    parser = argparse.ArgumentParser(description="SyncNet")
    add_model_options(parser)
    parser.add_argument("--videofile", type=str, default="data/example.avi", help="")
    parser.add_argument("--tmp_dir", type=str, default="data/work/pytmp", help="")
    parser.add_argument("--reference", type=str, default="demo", help="")
    parser.add_argument("--write_synced", metavar="OUT", default=None,
                        help="also write a copy of the video with its audio moved by the offset "
                             "(.avi/.mov/.mkv: PCM audio, sample-exact; .mp4/.m4v: AAC)")
    parser.add_argument("--offset", type=int, default=None,
                        help="with --write_synced: shift by this many frames instead of the detected "
                             "offset (positive = the audio is early and gets delayed)")
    parser.add_argument("--plot", metavar="OUT.png", default=None,
                        help="also draw the distance curve and the framewise confidence (.png/.pdf/.svg)")
    add_common_options(parser)
    return parser


def check_options(opt):
    """Refuse bad output names before the minutes of scoring."""
    from syncnet.errors import InputError
    from syncnet.plots import check_plot_path
    from syncnet.resync import audio_codec_for

    if opt.offset is not None and not opt.write_synced:
        raise InputError("--offset only applies with --write_synced OUT")
    if opt.write_synced:
        audio_codec_for(opt.write_synced)
    if opt.plot:
        check_plot_path(opt.plot)


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("demo_syncnet.py", opt.debug, opt.quiet):
        check_options(opt)
        from SyncNetInstance import SyncNetInstance

        instance = SyncNetInstance(device=opt.device)
        instance.loadParameters(opt.initial_model)
        print("Model %s loaded." % opt.initial_model)
        offset, confidence, dists = instance.evaluate(opt, videofile=opt.videofile)
        if opt.plot:
            from syncnet.plots import plot_demo
            from syncnet.scoring import summarise

            plot_demo(summarise(dists, opt.vshift), opt.vshift, os.path.basename(opt.videofile), opt.plot)
            print("Wrote %s" % opt.plot)
        if opt.write_synced:
            from syncnet.resync import DEFAULT_MIN_CONF, describe_shift, write_synced

            if opt.offset is not None:
                offset = opt.offset
            elif confidence < DEFAULT_MIN_CONF:
                print("Note: confidence %.3f is below %g, so the detected offset may be wrong "
                      "(pass --offset N if you know the lag)." % (confidence, DEFAULT_MIN_CONF))
            shift, rate = write_synced(opt.videofile, opt.write_synced, offset)
            print(describe_shift(opt.write_synced, offset, shift, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())

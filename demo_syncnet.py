#!/usr/bin/env python3
"""Score the audio-visual sync of one cropped face video: AV offset, min dist and confidence."""
import argparse
import sys

from syncnet.cli import add_common_options, reported_errors


def build_parser():
    parser = argparse.ArgumentParser(description="SyncNet")
    parser.add_argument("--initial_model", type=str, default="data/syncnet_v2.model", help="")
    parser.add_argument("--batch_size", type=int, default=20, help="")
    parser.add_argument("--vshift", type=int, default=15, help="")
    parser.add_argument("--videofile", type=str, default="data/example.avi", help="")
    parser.add_argument("--tmp_dir", type=str, default="data/work/pytmp", help="")
    parser.add_argument("--reference", type=str, default="demo", help="")
    add_common_options(parser)
    return parser


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("demo_syncnet.py", opt.debug):
        from SyncNetInstance import SyncNetInstance

        instance = SyncNetInstance(device=opt.device)
        instance.loadParameters(opt.initial_model)
        print("Model %s loaded." % opt.initial_model)
        instance.evaluate(opt, videofile=opt.videofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())

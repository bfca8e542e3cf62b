#!/usr/bin/env python3
"""Save SyncNet's 512-d lip features for every 5-frame window of a video."""
import argparse
import sys

from syncnet.cli import add_common_options, add_model_options, reported_errors


def build_parser():
    parser = argparse.ArgumentParser(description="SyncNet")
    add_model_options(parser)
    parser.add_argument("--videofile", type=str, default="data/example.avi", help="")
    parser.add_argument("--tmp_dir", type=str, default="data/work/pytmp", help="")
    parser.add_argument("--save_as", type=str, default="data/features.pt", help="")
    add_common_options(parser)
    return parser


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("demo_feature.py", opt.debug, opt.quiet):
        import torch

        from syncnet.fileio import atomic_path
        from SyncNetInstance import SyncNetInstance

        instance = SyncNetInstance(device=opt.device)
        instance.loadParameters(opt.initial_model)
        print("Model %s loaded." % opt.initial_model)
        features = instance.extract_feature(opt, videofile=opt.videofile)
        with atomic_path(opt.save_as) as temporary:
            torch.save(features, temporary)
        print("Saved %d x %d features to %s" % (*features.shape, opt.save_as))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Score every face track of a pipeline run: activesd.pckl, offsets.txt and offsets.json."""
import argparse
import glob
import os
import sys

from syncnet.cli import add_common_options, reported_errors


def build_parser():
    parser = argparse.ArgumentParser(description="SyncNet")
    parser.add_argument("--initial_model", type=str, default="data/syncnet_v2.model", help="")
    parser.add_argument("--batch_size", type=int, default=20, help="")
    parser.add_argument("--vshift", type=int, default=15, help="")
    parser.add_argument("--data_dir", type=str, default="data/work", help="")
    parser.add_argument("--videofile", type=str, default="", help="")
    parser.add_argument("--reference", type=str, default="", help="")
    add_common_options(parser)
    return parser


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("run_syncnet.py", opt.debug):
        from syncnet.errors import InputError
        from syncnet.fileio import load_pickle
        from syncnet.layout import Layout
        from syncnet.results import track_results, write_results

        layout = Layout(opt.data_dir, opt.reference)
        if not os.path.isdir(layout.crop):
            raise InputError(f"{layout.crop} does not exist: run run_pipeline.py with this "
                             "--data_dir and --reference first")
        opt.tmp_dir = os.path.join(opt.data_dir, "pytmp")
        crop_files = sorted(glob.glob(os.path.join(glob.escape(layout.crop), "0*.avi")))
        tracks_path = os.path.join(layout.work, "tracks.pckl")
        tracks = load_pickle(tracks_path) if os.path.isfile(tracks_path) else []

        dists_per_track = []
        if crop_files:
            from SyncNetInstance import SyncNetInstance

            instance = SyncNetInstance(device=opt.device)
            instance.loadParameters(opt.initial_model)
            print("Model %s loaded." % opt.initial_model)
            for crop_file in crop_files:
                _, _, dists = instance.evaluate(opt, videofile=crop_file)
                dists_per_track.append(dists)
        else:
            print("No face tracks in %s: writing empty results." % layout.crop)
        records = track_results(crop_files, dists_per_track, tracks, opt.vshift)
        write_results(layout.work, dists_per_track, records, opt.videofile, opt.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())

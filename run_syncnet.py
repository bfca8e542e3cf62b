#!/usr/bin/env python3
"""Score every face track of a pipeline run: activesd.pckl, offsets.txt/json and speakers.json."""
import argparse
import glob
import logging
import os
import sys

from syncnet.cli import add_common_options, add_model_options, reported_errors


def build_parser():
    from syncnet.resync import DEFAULT_MIN_CONF
    from syncnet.speakers import DEFAULT_SPEAKER_THRESHOLD

    parser = argparse.ArgumentParser(description="SyncNet")
    add_model_options(parser)
    parser.add_argument("--data_dir", type=str, default="data/work", help="")
    parser.add_argument("--videofile", type=str, default="", help="")
    parser.add_argument("--reference", type=str, default="", help="")
    parser.add_argument("--write_synced", action="store_true",
                        help="also write pyavi/REFERENCE/video_synced.avi, the converted video with "
                             "its audio moved by the tracks' consensus offset")
    parser.add_argument("--offset", type=int, default=None,
                        help="with --write_synced: shift by this many frames instead of the consensus "
                             "(positive = the audio is early and gets delayed)")
    parser.add_argument("--min_conf", type=float, default=DEFAULT_MIN_CONF,
                        help="tracks with at least this confidence vote on the consensus offset "
                             f"(default {DEFAULT_MIN_CONF:g})")
    parser.add_argument("--speaker_threshold", type=float, default=DEFAULT_SPEAKER_THRESHOLD,
                        help="in speakers.json, a face speaks in a frame when its confidence is the "
                             f"highest and above this (default {DEFAULT_SPEAKER_THRESHOLD:g})")
    add_common_options(parser)
    return parser


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("run_syncnet.py", opt.debug, opt.quiet):
        from syncnet.errors import InputError
        from syncnet.fileio import load_pickle
        from syncnet.layout import Layout
        from syncnet.results import track_results, write_results
        from syncnet.resync import consensus_offset, describe_shift, write_synced
        from syncnet.speakers import write_speakers

        layout = Layout(opt.data_dir, opt.reference)
        if not os.path.isdir(layout.crop):
            raise InputError(f"{layout.crop} does not exist: run run_pipeline.py with this "
                             "--data_dir and --reference first")
        video = os.path.join(layout.avi, "video.avi")
        if opt.offset is not None and not opt.write_synced:
            raise InputError("--offset only applies with --write_synced")
        if opt.write_synced and not os.path.isfile(video):
            raise InputError(f"--write_synced: {video} not found: run run_pipeline.py first")
        if opt.min_conf <= 0:
            raise InputError(f"--min_conf {opt.min_conf:g}: expected a confidence above 0")
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
            logging.getLogger("run_syncnet").warning("no face tracks in %s: writing empty results", layout.crop)
        records = track_results(crop_files, dists_per_track, tracks, opt.vshift)
        write_results(layout.work, dists_per_track, records, opt.videofile, opt.reference)
        write_speakers(layout, tracks, dists_per_track, records, opt.speaker_threshold)
        if opt.write_synced:
            offset = opt.offset if opt.offset is not None else consensus_offset(records, opt.min_conf)
            synced = os.path.join(layout.avi, "video_synced.avi")
            shift, rate = write_synced(video, synced, offset)
            print(describe_shift(synced, offset, shift, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())

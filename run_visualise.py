#!/usr/bin/env python3
"""Draw each face track, coloured by its sync confidence: pyavi/REFERENCE/video_out.avi and confidence.png."""
import argparse
import json
import os
import sys

from syncnet.cli import add_common_options, reported_errors


def build_parser():
    parser = argparse.ArgumentParser(description="FaceTracker")
    parser.add_argument("--data_dir", type=str, default="data/work", help="")
    parser.add_argument("--videofile", type=str, default="", help="")
    parser.add_argument("--reference", type=str, default="", help="")
    parser.add_argument("--frame_rate", type=int, default=25, help="")
    add_common_options(parser)
    return parser


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("run_visualise.py", opt.debug, opt.quiet):
        from syncnet.errors import InputError
        from syncnet.fileio import load_pickle
        from syncnet.layout import Layout
        from syncnet.plots import plot_speakers
        from syncnet.visualise import faces_by_frame, write_visualisation

        layout = Layout(opt.data_dir, opt.reference)
        needed = {name: os.path.join(layout.work, name)
                  for name in ("tracks.pckl", "activesd.pckl", "speakers.json")}
        for name, path in needed.items():
            if not os.path.isfile(path):
                raise InputError(f"{path} not found: run run_pipeline.py and run_syncnet.py first")
        tracks = load_pickle(needed["tracks.pckl"])
        dists_per_track = load_pickle(needed["activesd.pckl"])
        if len(tracks) != len(dists_per_track):
            raise InputError(f"{needed['tracks.pckl']} has {len(tracks)} tracks but "
                             f"{needed['activesd.pckl']} has {len(dists_per_track)}: rerun run_syncnet.py")
        frame_paths = layout.frame_files() if os.path.isdir(layout.frames) else []
        faces = faces_by_frame(tracks, dists_per_track, len(frame_paths))
        write_visualisation(frame_paths, faces, layout.avi, opt.frame_rate)
        with open(needed["speakers.json"], encoding="utf-8") as handle:
            plot_speakers(json.load(handle), os.path.join(layout.avi, "confidence.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

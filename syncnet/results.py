"""run_syncnet's outputs: activesd.pckl as the reference wrote it, and offsets.txt / offsets.json."""
import os

from .fileio import save_json, save_pickle, save_text
from .scoring import summarise

OFFSETS_HEADER = "file\toffset\tmin_dist\tconfidence\n"


def track_results(crop_files, dists_per_track, tracks, vshift):
    """One record per track: file, offset, min dist (LSE-D), confidence (LSE-C), first/last frame."""
    records = []
    for index, (crop_file, dists) in enumerate(zip(crop_files, dists_per_track)):
        summary = summarise(dists, vshift)
        frames = tracks[index]["track"]["frame"] if index < len(tracks) else None
        records.append({
            "file": os.path.basename(crop_file),
            "track": index,
            "offset": summary.offset,
            "min_dist": summary.min_dist,
            "confidence": summary.confidence,
            "start_frame": int(frames[0]) if frames is not None else None,
            "end_frame": int(frames[-1]) if frames is not None else None,
        })
    return records


def write_results(work_dir, dists_per_track, records, videofile, reference):
    save_pickle(list(dists_per_track), os.path.join(work_dir, "activesd.pckl"))
    rows = "".join("%s\t%d\t%.3f\t%.3f\n" % (r["file"], r["offset"], r["min_dist"], r["confidence"])
                   for r in records)
    save_text(OFFSETS_HEADER + rows, os.path.join(work_dir, "offsets.txt"))
    save_json({"videofile": videofile, "reference": reference, "tracks": records},
              os.path.join(work_dir, "offsets.json"))

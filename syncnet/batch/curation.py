"""Dataset curation: keep a clip when its faces agree on a confident offset small enough to
trust, and write it with its audio moved by that offset.

The offset is the tracks' consensus, by the rule of run_syncnet.py --write_synced (the
confidence-weighted mean offset of the tracks with confidence >= min_conf, refused when they
disagree by more than a frame). LatentSync's preprocessing keeps clips with confidence >= 3 and
|offset| <= 6, the defaults here. The copy is written by syncnet.repair.resync: the video stream is
copied packet for packet and the audio moved by exactly offset x rate / 25 samples.
"""
import logging
import os
from dataclasses import dataclass

from syncnet.errors import InputError
from syncnet.io import storage
from syncnet.options import as_path
from syncnet.repair.resync import AUDIO_CODECS, NoConsensus, consensus_offset, write_synced

log = logging.getLogger("syncnet.batch")

MANIFEST_FILES = ("manifest.csv", "manifest.parquet")
MANIFEST_COLUMNS = ("video", "reference", "decision", "reason", "offset", "confidence", "n_tracks", "output")


@dataclass(frozen=True)
class CurationOptions:
    """Where `--curate` writes the clips it keeps, and the largest offset it keeps (the confidence
    threshold is OutputOptions.min_conf, shared with run_syncnet's consensus)."""
    out_dir: str                 # where kept clips go: a folder, or an s3:// prefix
    max_offset: int = 6          # frames; a larger consensus offset is rejected

    def __post_init__(self):
        object.__setattr__(self, "out_dir", as_path(self.out_dir, "--curate"))
        if isinstance(self.max_offset, bool) or not isinstance(self.max_offset, int) or self.max_offset < 0:
            raise InputError(f"--max_offset {self.max_offset!r}: expected an integer >= 0")


def output_name(reference, source):
    """The kept copy's file name: the video's reference, in its own container when that can
    hold the shifted audio, else Matroska (sample-exact PCM)."""
    extension = os.path.splitext(source)[1].lower()
    return reference + (extension if extension in AUDIO_CODECS else ".mkv")


def decide(tracks, min_conf, max_offset):
    """(kept, reason, offset, confidence) for a video's TrackResults."""
    if not tracks:
        return False, "no face track", None, None
    try:
        offset = consensus_offset(tracks, min_conf)
    except NoConsensus as refusal:
        return False, refusal.reason, None, _best_confidence(tracks)
    confidence = _best_confidence(tracks)
    if abs(offset) > max_offset:
        return False, f"offset {offset:+d} frames is beyond --max_offset {max_offset}", offset, confidence
    return True, f"offset {offset:+d} frames, confidence {confidence:.3f}", offset, confidence


def _best_confidence(tracks):
    scored = [track.confidence for track in tracks if track.scored]
    return max(scored) if scored else None


def curate(source, reference, tracks, min_conf, options, scratch):
    """Decide on one video and write its shifted copy when it is kept; returns the manifest
    fields of this video (decision, reason, offset, confidence, output)."""
    kept, reason, offset, confidence = decide(tracks, min_conf, options.max_offset)
    entry = {"decision": "kept" if kept else "rejected", "reason": reason, "offset": offset,
             "confidence": confidence, "output": None}
    if not kept:
        return entry
    name = output_name(reference, source)
    target = storage.join(options.out_dir, name)
    local = target if not storage.is_uri(target) else os.path.join(scratch, name)
    storage.make_dirs(os.path.dirname(local))
    try:
        write_synced(source, local, offset)
        if storage.is_uri(target):
            storage.upload_file(local, target)
    finally:
        if storage.is_uri(target) and os.path.exists(local):
            os.unlink(local)
    entry["output"] = target
    return entry


def kept_clips(out_dir):
    """The clips that the manifest in `out_dir` keeps (empty without one): what an earlier run
    wrote there, and so may remove."""
    import csv
    import io

    data = storage.read_bytes(storage.join(out_dir, MANIFEST_FILES[0]))
    if data is None:
        return set()
    rows = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
    return {row.get("output") for row in rows if row.get("decision") == "kept" and row.get("output")}


def remove_unkept(out_dir, earlier, rows):
    """Delete the clips an earlier run kept that this manifest does not (rejected now, failed,
    or no longer an input), so the folder holds exactly the clips the manifest keeps. Only files
    directly in `out_dir`, named as this module names them, are touched."""
    kept = {row["output"] for row in rows if row["decision"] == "kept"}
    removed = 0
    for output in sorted(earlier - kept):
        if output == storage.join(out_dir, os.path.basename(output)):
            storage.remove(output)
            removed += 1
    if removed:
        log.info("%s: removed %d clip(s) that an earlier run kept and this one does not", out_dir, removed)


def manifest_rows(records):
    """One manifest row per batch record: kept, or rejected and why (a failed video included)."""
    rows = []
    for record in records:
        entry = record.get("curation") or {}
        if record["status"] != "ok":
            entry = {"decision": "rejected", "reason": f"failed: {record['error']}"}
        rows.append({"video": record["video"], "reference": record["reference"],
                     "decision": entry.get("decision"), "reason": entry.get("reason"),
                     "offset": entry.get("offset"), "confidence": entry.get("confidence"),
                     "n_tracks": len(record["tracks"]) if record["status"] == "ok" else None,
                     "output": entry.get("output")})
    return rows

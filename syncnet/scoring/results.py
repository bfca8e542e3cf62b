"""The typed results of scoring a video, and the files they are written to.

activesd.pckl is the reference's (a list of N x 31 arrays); offsets.txt / offsets.json,
speakers.json, timeline.json, asd.csv (AVA's columns) and speakers.rttm are ours. Every file
is written from the same TrackResult objects, so they can never disagree.
"""
import math
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from syncnet.io.fileio import save_json, save_pickle, save_text
from syncnet.io.layout import crop_name
from syncnet.options import OutputOptions
from syncnet.scoring.asd import asd_rows, csv_text, rttm_text
from syncnet.scoring.offsets import track_frame_confidence
from syncnet.scoring.speakers import speakers_document, track_decisions

OFFSETS_HEADER = "file\toffset\tmin_dist\tconfidence\n"
# Why a video with face tracks has no score: every track's audio ended before one 5-frame window.
CLIP_TOO_SHORT = "clip shorter than one window"


@dataclass(frozen=True)
class TrackResult:
    """One face track and its sync."""
    track: int                     # index: the track's crop is pycrop/REFERENCE/%05d.avi
    file: str                      # that crop's file name
    offset: Optional[int]          # AV offset in frames; positive = the audio is early; None if unscored
    min_dist: float                # LSE-D: mean distance at the best offset (lower = better sync)
    confidence: float              # LSE-C: median minus minimum of the mean distances
    frames: np.ndarray             # the track's frame numbers (consecutive, 25 fps, from 0)
    boxes: np.ndarray              # len(frames) x 4 face box (x1, y1, x2, y2) in each frame, in pixels
    frame_confidence: np.ndarray   # per frame of the track, as run_visualise.py colours the box
    dists: np.ndarray              # windows x (2*vshift+1) distances, as stored in activesd.pckl
    timeline: Any = None           # the offset over time (a syncnet.timeline.Timeline); None when unscored

    @property
    def start_frame(self):
        """The track's first frame (25 fps, from 0)."""
        return int(self.frames[0])

    @property
    def end_frame(self):
        """The track's last frame, included."""
        return int(self.frames[-1])

    @property
    def scored(self):
        """False for a track with no window of frames and audio (its audio ended before it)."""
        return self.offset is not None

    def record(self):
        """The track as offsets.json lists it (NaN numbers become null)."""
        return {"file": self.file, "track": self.track, "offset": self.offset,
                "min_dist": _number(self.min_dist), "confidence": _number(self.confidence),
                "start_frame": self.start_frame, "end_frame": self.end_frame}


@dataclass(frozen=True)
class VideoResult:
    """One scored video: its face tracks and the files written."""
    video: str                     # the path that was scored
    n_frames: int                  # frames of the 25 fps converted video
    tracks: List[TrackResult]      # in crop order; empty when no face track was kept
    reference: str = ""            # the name of its folders under the work folder
    files: dict = field(default_factory=dict)  # what was written: name -> path (empty in a temporary folder)
    converted: str = ""            # the 25 fps converted video (pyavi/REFERENCE/video.avi)
    # Why no track is scored (None when one is): a syncnet.pipeline.tracking reason, or CLIP_TOO_SHORT.
    reason: Optional[str] = None

    @property
    def best_track(self):
        """The scored track with the highest confidence (the likeliest speaker), or None."""
        scored = [track for track in self.tracks if track.scored]
        return max(scored, key=lambda track: track.confidence, default=None)


def _number(value):
    return None if value is None or math.isnan(value) else float(value)


def track_result(index, entry, summary, dists, file=None, timeline=None):
    """A TrackResult from a tracks.pckl entry and its SyncSummary (None when it could not be
    scored) and Timeline; `file` is its crop's name (default the reference's %05d.avi)."""
    frames = np.asarray(entry["track"]["frame"])
    return TrackResult(
        track=index, file=file or crop_name(index),
        offset=summary.offset if summary is not None else None,
        min_dist=summary.min_dist if summary is not None else math.nan,
        confidence=summary.confidence if summary is not None else math.nan,
        frames=frames, boxes=np.asarray(entry["track"]["bbox"]),
        frame_confidence=track_frame_confidence(dists, len(frames)), dists=dists, timeline=timeline)


def offsets_text(tracks):
    def number(value, form):
        return "nan" if value is None or math.isnan(value) else form % value

    rows = "".join(f"{t.file}\t{number(t.offset, '%d')}\t{number(t.min_dist, '%.3f')}\t"
                   f"{number(t.confidence, '%.3f')}\n" for t in tracks)
    return OFFSETS_HEADER + rows


def timeline_document(tracks):
    """timeline.json: each scored track's timeline (docs/timeline.md), named by track and file."""
    return {"tracks": [{"track": track.track, "file": track.file, **track.timeline.record()}
                       for track in tracks if track.timeline is not None]}


def write_results(work_dir, result, outputs=OutputOptions(), frame_size=(1, 1)):
    """activesd.pckl, offsets.txt, offsets.json, speakers.json, timeline.json, asd.csv and
    speakers.rttm in `work_dir`; returns their paths. `outputs` (OutputOptions) holds the speaker
    decision's settings; `frame_size` (width, height) of the converted video normalises asd.csv's boxes.

    Everything is computed before the first file is written, so a failure leaves none half-made.
    """
    decisions = track_decisions(result.tracks, outputs)
    documents = {
        "activesd.pckl": [track.dists for track in result.tracks],
        "offsets.txt": offsets_text(result.tracks),
        "offsets.json": {"videofile": result.video, "reference": result.reference,
                         "tracks": [track.record() for track in result.tracks]},
        "speakers.json": speakers_document(result.tracks, result.n_frames, outputs, decisions),
        "timeline.json": timeline_document(result.tracks),
        "asd.csv": csv_text(asd_rows(result.reference, result.tracks, decisions, frame_size)),
        "speakers.rttm": rttm_text(result.reference, result.tracks, decisions),
    }
    paths = {name: os.path.join(work_dir, name) for name in documents}
    save_pickle(documents["activesd.pckl"], paths["activesd.pckl"])
    for name in ("offsets.txt", "asd.csv", "speakers.rttm"):
        save_text(documents[name], paths[name])
    for name in ("offsets.json", "speakers.json", "timeline.json"):
        save_json(documents[name], paths[name])
    return paths

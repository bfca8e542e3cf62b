"""The Timeline of a face video: its segments' offsets from the distances, and the verdict on them.

Everything comes from the N x (2*vshift+1) distances that scoring already computed (window i is
frames i..i+4), and each window's audio energy; the network is not run again. A segment's offset,
min dist and confidence are those of the reference's summary over the windows that lie wholly
inside it. A segment with speech is reliable when its confidence is at least `min_conf`. The
verdict is chosen from the reliable segments (see `choose_fit` and `judge`).
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from syncnet.io.media import FRAME_RATE
from syncnet.options import OutputOptions, TimelineOptions
from syncnet.scoring.distances import FRAMES_PER_WINDOW, summarise
from syncnet.scoring.offsets import subframe_offset
from syncnet.timeline.fits import Fit
from syncnet.timeline.segments import FRAME_MS, SILENT_SHARE, Segment, json_number, segment_spans, silent_windows
from syncnet.timeline.verdict import judge


@dataclass(frozen=True)
class Timeline:
    """The offset over time of one face video or track, and the verdict on it."""
    segment_s: float
    hop_s: float
    tolerance_ms: Tuple[float, float]   # (late, early): the in-sync window, e.g. (-125, 45)
    duration_s: float                   # the video's length (frames / 25)
    segments: List[Segment] = field(default_factory=list)
    verdict: str = "unreliable"
    fit: Optional[Fit] = None           # the model chosen (None when unreliable)

    @property
    def reliable_segments(self):
        """The segments the verdict is built on."""
        return [segment for segment in self.segments if segment.reliable]

    @property
    def edge_segments(self):
        """The reliable segments whose offset is the largest searched (+-vshift): the true offset may lie beyond."""
        return [segment for segment in self.reliable_segments if segment.at_edge]

    @property
    def steady_offset_frames(self):
        """The whole-frame offset that an in_sync or constant_offset verdict stands for: the
        reliable segments' median, rounded (halves up); None for the other verdicts."""
        if self.verdict not in ("in_sync", "constant_offset"):
            return None
        estimates = [segment.offset_estimate for segment in self.reliable_segments if not segment.at_edge]
        return math.floor(float(np.median(estimates)) + 0.5)

    @property
    def drift_ms_per_min(self):
        """The fitted line's slope (0 for a constant or piecewise-constant fit), in ms per minute."""
        return None if self.fit is None else self.fit.slope_frames_per_s * FRAME_MS * 60

    @property
    def offset_ms_at_start(self):
        """The fit at the first frame, in ms (None when unreliable)."""
        return None if self.fit is None else self.fit.at(0.0) * FRAME_MS

    @property
    def offset_ms_at_end(self):
        """The fit at the last frame, in ms (None when unreliable)."""
        return None if self.fit is None else self.fit.at(self.duration_s) * FRAME_MS

    @property
    def jumps_s(self):
        """The times (s) of the piecewise fit's jumps; empty for other fits."""
        return [] if self.fit is None else list(self.fit.jumps_s)

    def record(self):
        """The timeline as the JSON files hold it (docs/timeline.md); no NaN or infinity, null instead."""
        return {"segment_s": self.segment_s, "hop_s": self.hop_s, "tolerance_ms": list(self.tolerance_ms),
                "segments": [segment.record() for segment in self.segments], "verdict": self.verdict,
                "drift_ms_per_min": json_number(self.drift_ms_per_min),
                "offset_ms_at_start": json_number(self.offset_ms_at_start),
                "offset_ms_at_end": json_number(self.offset_ms_at_end),
                "jumps_s": [round(time, 3) for time in self.jumps_s]}

    def columns(self):
        """The batch summary's timeline columns (but offset_ms, the track's)."""
        return {"verdict": self.verdict, "drift_ms_per_min": json_number(self.drift_ms_per_min),
                "offset_ms_at_start": json_number(self.offset_ms_at_start),
                "offset_ms_at_end": json_number(self.offset_ms_at_end), "n_jumps": len(self.jumps_s)}


def build_timeline(dists, window_energy, n_frames, vshift, options=TimelineOptions(),
                   min_conf=OutputOptions.min_conf):
    """The Timeline of a video of `n_frames` from its distances (windows x (2*vshift+1)) and each
    window's log energy. A video shorter than one segment gets no segment (verdict unreliable)."""
    dists = np.asarray(dists)
    silent = silent_windows(window_energy)
    segments = []
    for start_s, end_s in segment_spans(n_frames, options):
        first = int(round(start_s * FRAME_RATE))
        stop = min(int(round(end_s * FRAME_RATE)) - FRAMES_PER_WINDOW + 1, len(dists))
        if stop <= first:
            continue  # no window of this segment has audio
        segments.append(measure_segment(dists[first:stop], silent[first:stop], start_s, end_s, vshift, min_conf))
    verdict, fit = judge(segments, options.tolerance_ms, options.segment_s / options.hop_s)
    return Timeline(segment_s=options.segment_s, hop_s=options.hop_s, tolerance_ms=tuple(options.tolerance_ms),
                    duration_s=n_frames / FRAME_RATE, segments=segments, verdict=verdict, fit=fit)


def measure_segment(dists, silent, start_s, end_s, vshift, min_conf=OutputOptions.min_conf, summary=None):
    """The Segment from `start_s` to `end_s` whose windows have these distances and silence flags:
    the reference's summary over them (`summary`, when the caller has it already), no offset when
    most windows are silent, reliable with speech and a confidence of at least `min_conf`."""
    summary = summary or summarise(dists, vshift)
    speech = np.mean(silent) <= SILENT_SHARE
    return Segment(start_s=start_s, end_s=end_s, offset_frames=summary.offset if speech else None,
                   min_dist=summary.min_dist, confidence=summary.confidence,
                   reliable=bool(speech and summary.confidence >= min_conf),
                   offset_estimate=subframe_offset(summary.mean_dists, vshift) if speech else None,
                   at_edge=bool(speech and vshift and abs(summary.offset) == vshift))


def score_timeline(score, vshift, options=TimelineOptions(), min_conf=OutputOptions.min_conf):
    """The Timeline of a scored face video (a syncnet.scoring.face_video.FaceVideoScore), from the
    distances and window energy that scoring kept."""
    return build_timeline(score.dists, score.window_energy, score.n_frames, vshift, options, min_conf)

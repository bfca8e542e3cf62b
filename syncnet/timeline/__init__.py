"""Sync over time: the offset of each window of a face video, and what its course says.

Everything comes from the N x (2*vshift+1) distances that scoring already computed (window i is
frames i..i+4), and each window's audio energy; the network is not run again. A segment of
`segment_s` seconds starts every `hop_s` seconds; its offset, min dist and confidence are
those of the reference's summary over the windows that lie wholly inside it.

A segment whose audio is mostly at the noise floor (see `silent_windows`) is "no speech": its offset is None
and it is not reliable. A segment with speech is reliable when its confidence is at least
`min_conf`. The verdict is chosen from the reliable segments (see `choose_fit` and `verdict`).
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from syncnet.errors import InputError
from syncnet.io.media import FRAME_RATE
from syncnet.options import OutputOptions, TimelineOptions
from syncnet.scoring.distances import FRAMES_PER_WINDOW, summarise
from syncnet.timeline.fits import Fit, choose_fit

__all__ = ["Segment", "Timeline", "build_timeline", "check_segment_fits", "FRAME_MS", "VERDICTS"]

FRAME_MS = 1000.0 / FRAME_RATE  # 40 ms: one video frame
# A window is silent when its audio energy is near the video's noise floor (its quietest
# windows, the 1st percentile): within FLOOR_MARGIN_DB of it, and at least QUIET_DB below the loud
# windows (the 90th percentile). A segment is "no speech" when more than SILENT_SHARE of its windows
# are silent (speech has pauses: a quarter to half of a talking segment's windows can be quiet).
FLOOR_PERCENTILE, LOUD_PERCENTILE = 1, 90
FLOOR_MARGIN_DB = 3.0
QUIET_DB = 6.0
SILENT_SHARE = 0.75
VERDICTS = ("in_sync", "constant_offset", "drift", "jumps", "unreliable")
VERDICT_OF_MODEL = {"constant": "constant_offset", "linear": "drift", "piecewise": "jumps"}


@dataclass(frozen=True)
class Segment:
    """One window of the timeline."""
    start_s: float
    end_s: float
    offset_frames: Optional[int]   # None: no speech in this segment
    min_dist: float
    confidence: float
    reliable: bool                 # speech, and confidence >= min_conf
    offset_estimate: Optional[float] = None  # sub-frame offset (the distance curve's vertex), for the fits

    @property
    def centre_s(self):
        """The segment's middle, in seconds: where its offset is plotted and fitted."""
        return (self.start_s + self.end_s) / 2

    @property
    def speech(self):
        """False for a segment whose audio is mostly silence."""
        return self.offset_frames is not None

    @property
    def offset_ms(self):
        """The offset in milliseconds (None without speech)."""
        return None if self.offset_frames is None else self.offset_frames * FRAME_MS

    def record(self):
        """The segment as the JSON files hold it."""
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "offset_frames": self.offset_frames, "offset_ms": self.offset_ms,
                "min_dist": _number(self.min_dist), "confidence": _number(self.confidence),
                "reliable": self.reliable}


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
                "drift_ms_per_min": _number(self.drift_ms_per_min),
                "offset_ms_at_start": _number(self.offset_ms_at_start),
                "offset_ms_at_end": _number(self.offset_ms_at_end),
                "jumps_s": [round(time, 3) for time in self.jumps_s]}

    def columns(self):
        """The batch summary's timeline columns (but offset_ms, the track's)."""
        return {"verdict": self.verdict, "drift_ms_per_min": _number(self.drift_ms_per_min),
                "offset_ms_at_start": _number(self.offset_ms_at_start),
                "offset_ms_at_end": _number(self.offset_ms_at_end), "n_jumps": len(self.jumps_s)}


def _number(value):
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def check_segment_fits(options, seconds):
    """Refuse a segment longer than the video (`seconds` long), naming the longest that fits."""
    if options.segment_s > seconds + 1e-9:
        raise InputError(f"--segment_s {options.segment_s:g}: the video is only {seconds:.2f} s long; "
                         f"use --segment_s {math.floor(seconds * 100) / 100:g} or less")


def segment_spans(n_frames, options):
    """(start_s, end_s) of each segment of a video of `n_frames`: every hop from 0, and one more
    that ends at the video's end when the hops do not reach it."""
    duration = n_frames / FRAME_RATE
    if options.segment_s > duration + 1e-9:
        return []
    count = int(math.floor((duration - options.segment_s) / options.hop_s + 1e-9)) + 1
    starts = [index * options.hop_s for index in range(count)]
    if starts[-1] + options.segment_s < duration - 0.5 / FRAME_RATE:
        starts.append(duration - options.segment_s)
    return [(start, start + options.segment_s) for start in starts]


def silent_windows(window_energy):
    """Which windows are silent: energy near the video's noise floor and well below its loud
    windows. The floor is the video's own, not a fixed level, because recordings (and the
    synthetic world) carry noise and hum whose level varies from file to file."""
    energy = np.asarray(window_energy, dtype=np.float64)  # natural-log energy: 10 dB = ln 10
    if len(energy) == 0:
        return np.zeros(0, dtype=bool)
    floor, loud = np.percentile(energy, [FLOOR_PERCENTILE, LOUD_PERCENTILE])
    decibel = math.log(10) / 10
    return energy < min(floor + FLOOR_MARGIN_DB * decibel, loud - QUIET_DB * decibel)


def subframe_offset(mean_dists, vshift):
    """The offset at the vertex of the parabola through the distance curve's minimum and its two
    neighbours (within half a frame of the whole-frame offset): the fits see drift between whole
    frames instead of a staircase, which a piecewise-constant model would fit as well as a line."""
    index = int(np.argmin(mean_dists))
    if not 0 < index < len(mean_dists) - 1:
        return float(vshift - index)
    before, at, after = (float(value) for value in mean_dists[index - 1:index + 2])
    curvature = before - 2 * at + after
    step = 0.0 if curvature <= 0 else float(np.clip((before - after) / (2 * curvature), -0.5, 0.5))
    return vshift - (index + step)


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
        summary = summarise(dists[first:stop], vshift)
        speech = np.mean(silent[first:stop]) <= SILENT_SHARE
        segments.append(Segment(start_s=start_s, end_s=end_s, offset_frames=summary.offset if speech else None,
                                min_dist=summary.min_dist, confidence=summary.confidence,
                                reliable=bool(speech and summary.confidence >= min_conf),
                                offset_estimate=subframe_offset(summary.mean_dists, vshift) if speech else None))
    verdict, fit = judge(segments, options.tolerance_ms, options.segment_s / options.hop_s)
    return Timeline(segment_s=options.segment_s, hop_s=options.hop_s, tolerance_ms=tuple(options.tolerance_ms),
                    duration_s=n_frames / FRAME_RATE, segments=segments, verdict=verdict, fit=fit)


def judge(segments, tolerance_ms, overlap):
    """(verdict, fit) of a timeline's segments.

    - unreliable: no reliable segment, or fewer reliable segments than half those with speech;
    - in_sync: every reliable segment's offset lies within the tolerance;
    - otherwise the model that `choose_fit` picks: constant_offset, drift or jumps.
    The fit is reported for in_sync too (its drift and offsets are then small).
    """
    reliable = [segment for segment in segments if segment.reliable]
    with_speech = [segment for segment in segments if segment.speech]
    if not reliable or 2 * len(reliable) < len(with_speech):
        return "unreliable", None
    times = np.array([segment.centre_s for segment in reliable])
    offsets = np.array([segment.offset_estimate for segment in reliable], dtype=np.float64)
    fit = choose_fit(times, offsets, min_level=int(math.ceil(overlap - 1e-9)) + 1)
    late, early = tolerance_ms
    if all(late <= segment.offset_ms <= early for segment in reliable):
        return "in_sync", fit
    return VERDICT_OF_MODEL[fit.model], fit

"""The timeline's segments: where each lies, which windows are silent, and what one segment records.

A segment of `segment_s` seconds starts every `hop_s` seconds. A segment whose audio is mostly at
the noise floor (see `silent_windows`) is "no speech": its offset is None and it is not reliable.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from syncnet.errors import InputError
from syncnet.io.media import FRAME_RATE

FRAME_MS = 1000.0 / FRAME_RATE  # 40 ms: one video frame
# A window is silent when its audio energy is near the video's noise floor (its quietest
# windows, the 1st percentile): within FLOOR_MARGIN_DB of it, and at least QUIET_DB below the loud
# windows (the 90th percentile). A segment is "no speech" when more than SILENT_SHARE of its windows
# are silent (speech has pauses: a quarter to half of a talking segment's windows can be quiet).
FLOOR_PERCENTILE, LOUD_PERCENTILE = 1, 90
FLOOR_MARGIN_DB = 3.0
QUIET_DB = 6.0
SILENT_SHARE = 0.75


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
    at_edge: bool = False          # the offset is the largest searched (+-vshift): the true one may lie beyond

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
                "min_dist": json_number(self.min_dist), "confidence": json_number(self.confidence),
                "reliable": self.reliable, "at_edge": self.at_edge}


def json_number(value):
    """A number as the timeline's JSON holds it: rounded to 4 places, None for None, NaN or infinity."""
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
    if loud - floor < QUIET_DB * decibel:
        # No window stands QUIET_DB above the floor: a steady level, as silence, hum or noise
        # give; speech always has pauses. The whole clip is silent.
        return np.ones(len(energy), dtype=bool)
    return energy < min(floor + FLOOR_MARGIN_DB * decibel, loud - QUIET_DB * decibel)

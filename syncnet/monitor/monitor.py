"""The monitor's core: decoded frames and audio in, a hop record every hop out, with its state, the
alarm, steps, gaps and drops, and at the end a summary and the run's Timeline.

It knows nothing of where frames come from (syncnet.monitor.live reads the source) or where the
records go (JSON lines, metrics, the live page): `feed` returns the records each piece makes.
"""
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

from syncnet.io.media import FRAME_RATE
from syncnet.monitor.alarms import Alarm, StepDetector, hop_state
from syncnet.monitor.faces import FullFrame
from syncnet.monitor.options import MonitorOptions
from syncnet.monitor.records import hop_record, record
from syncnet.monitor.scoring import WindowFeatures, score_window, window_windows
from syncnet.options import ScoringOptions
from syncnet.scoring.speakers import speaking_track
from syncnet.timeline import Timeline
from syncnet.timeline.course import measure_segment
from syncnet.timeline.segments import FRAME_MS, silent_windows
from syncnet.timeline.verdict import judge

log = logging.getLogger(__name__)

# Silence is judged against the stream's own noise floor over this much of its recent past.
ENERGY_HISTORY_S = 60


@dataclass(frozen=True)
class Hop:
    """One measurement: the last `window_s` seconds, ending at `time_s` on the stream's clock."""
    time_s: float
    window_s: float
    offset_frames: Optional[int]
    confidence: Optional[float]
    min_dist: Optional[float]
    track: Optional[int]
    box: Optional[list]
    state: str

    @property
    def offset_ms(self):
        return None if self.offset_frames is None else self.offset_frames * FRAME_MS


class Monitor:
    """Scores a stream hop by hop. `network` is a loaded InferenceSyncNet; `source` the name every
    record carries (without credentials)."""

    def __init__(self, network, source, options=MonitorOptions(), faces=None,
                 batch_size=ScoringOptions.batch_size):
        self.options = options
        self.source = source
        self.faces = faces or FullFrame()
        self.n_windows = window_windows(options.window_frames)
        self.features = WindowFeatures(network, self.n_windows, batch_size, options.stride)
        self.alarm = Alarm(options.hold_hops)
        self.steps = StepDetector(options.hold_hops, options.step_frames, options.window_s)
        self.energy = deque(maxlen=ENERGY_HISTORY_S * FRAME_RATE)
        self.presence = deque(maxlen=options.window_frames)
        self.frame = 0              # the stream clock, in frames: decoded, dropped and gap frames
        self._context_start = 0     # where the present run of contiguous frames began
        self._next_hop = options.window_frames
        self.segments = []          # every hop's timeline Segment, for the closing Timeline
        self.last_hop = None
        self.thumbnail = None       # the measured face's last crop (224 x 224 x 3 BGR)
        self.counts = {"hops": 0, "alarms": 0, "steps": 0, "gaps": 0, "frames_dropped": 0,
                       "states": dict.fromkeys(("in_sync", "out_of_sync", "no_face", "no_speech", "unreliable"), 0)}
        self.started = time.monotonic()

    @property
    def time_s(self):
        return self.frame / FRAME_RATE

    def feed(self, frames, samples):
        """Take the next frames (n x H x W x 3 uint8 RGB, 25 fps) and their audio (640 int16 samples
        a frame); the records (dicts) of the hops they complete, with any alarm and step."""
        samples = np.asarray(samples)
        records = []
        position = 0
        while position < len(frames):
            take = min(len(frames) - position, self._next_hop - self.frame)
            piece = frames[position:position + take]
            crops, present = self.faces.crops(piece)
            self.presence.extend(present)
            if len(crops):
                self.thumbnail = crops[-1]
            audio = samples[position * 640:(position + take) * 640]
            self.features.add(crops, audio)
            position += take
            self.frame += take
            if self.frame >= self._next_hop:
                records += self._hop()
                self._next_hop += self.options.hop_frames
        return records

    def skip(self, n_frames, kind, **fields):
        """`n_frames` of the stream that will not be scored (dropped, or a gap while reconnecting):
        the clock moves on, the next window starts after them; their record."""
        self.frame += n_frames
        self.features.reset()
        self.presence.clear()
        self._context_start = self.frame
        self._next_hop = self.frame + self.options.window_frames
        if kind == "drops":
            self.counts["frames_dropped"] += n_frames
        else:
            self.counts["gaps"] += 1
        return record(kind, self.source, time_s=round(self.time_s, 3), frames=n_frames,
                      seconds=round(n_frames / FRAME_RATE, 3), **fields)

    def _hop(self):
        options = self.options
        window = self.features.last(self.n_windows)
        face = bool(self.presence) and float(np.mean(self.presence)) >= 0.5
        start_s = self.time_s - options.window_s
        if window is None:
            return []
        lip, aud, energy, rows = window
        self.energy.extend(energy)
        silent = silent_windows(np.asarray(self.energy))[-len(energy):]
        dists, summary = score_window(lip, aud, options.vshift, rows)
        track = speaking_track({0: summary.confidence}, options.min_conf)
        track = speaking_track({0: summary.confidence}, -math.inf) if track is None else track
        # Without a face nothing is measured: the timeline holds the window as one without speech.
        segment = measure_segment(dists, silent if face else np.ones(len(silent), dtype=bool), start_s,
                                  self.time_s, options.vshift, options.min_conf, summary=summary)
        state = hop_state(face, segment.speech, segment.reliable, segment.offset_ms, options.tolerance)
        hop = Hop(time_s=self.time_s, window_s=options.window_s, offset_frames=segment.offset_frames,
                  confidence=summary.confidence if face else None, min_dist=summary.min_dist if face else None,
                  track=track if face else None, box=self.faces.box if face else None, state=state)
        self.segments.append(segment)
        self.last_hop = hop
        self.counts["hops"] += 1
        self.counts["states"][state] += 1
        records = [hop_record(self.source, hop)]
        change = self.alarm.update(hop.time_s, state, hop.offset_ms)
        if change is not None:
            self.counts["alarms"] += change.raised
            records.append(record("alarm", self.source, time_s=round(change.time_s, 3), raised=change.raised,
                                  offset_ms=change.offset_ms, preset=options.tolerance_name,
                                  tolerance_ms=list(options.tolerance)))
        step = self.steps.update(hop.time_s, state in ("in_sync", "out_of_sync"), hop.offset_frames)
        if step is not None:
            self.counts["steps"] += 1
            records.append(record("step", self.source, time_s=step.time_s, size_frames=step.size_frames,
                                  size_ms=step.size_frames * FRAME_MS, before_frames=step.before_frames,
                                  after_frames=step.after_frames))
        return records

    def timeline(self):
        """The whole run's Timeline: every hop a segment, judged as `demo_syncnet.py --timeline` judges."""
        options = self.options
        verdict, fit = judge(self.segments, options.tolerance, options.window_s / options.hop_s)
        return Timeline(segment_s=options.window_s, hop_s=options.hop_s, tolerance_ms=tuple(options.tolerance),
                        duration_s=self.time_s, segments=list(self.segments), verdict=verdict, fit=fit)

    def summary(self, reason, timeline=None, **fields):
        """The closing record: what was seen, how the run ended (`reason`), and the timeline's verdict."""
        timeline = timeline or self.timeline()
        wall = time.monotonic() - self.started
        return record("summary", self.source, time_s=round(self.time_s, 3), reason=reason,
                      alarm_raised=self.alarm.raised, realtime_factor=round(self.time_s / wall, 3) if wall else None,
                      verdict=timeline.verdict, preset=self.options.tolerance_name,
                      tolerance_ms=list(self.options.tolerance), **self.counts, **fields)

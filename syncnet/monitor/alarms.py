"""The monitor's judgement of each hop: its state, the alarm with its hold time, and steps.

Plain Python over the hops' numbers, no I/O: the live loop feeds it one hop at a time.
"""
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

STATES = ("in_sync", "out_of_sync", "no_face", "no_speech", "unreliable")
# A steady stretch: every offset in it within this many frames of its median.
STEADY_SPREAD_FRAMES = 1


def hop_state(face, speech, reliable, offset_ms, tolerance):
    """One of STATES for a hop: no_face, then no_speech, then unreliable (no clear sync peak),
    else in or out of the tolerance window (late_ms, early_ms)."""
    if not face:
        return "no_face"
    if not speech:
        return "no_speech"
    if not reliable:
        return "unreliable"
    late, early = tolerance
    return "in_sync" if late <= offset_ms <= early else "out_of_sync"


@dataclass(frozen=True)
class AlarmChange:
    """The alarm was raised (or cleared) at `time_s`, on the hop whose offset was `offset_ms`."""
    time_s: float
    raised: bool
    offset_ms: Optional[float]


class Alarm:
    """Raised after `hold_hops` reliable hops in a row outside the tolerance, cleared after as many
    inside it. Hops that are not reliable (no face, no speech, no clear peak) neither count nor break
    a run: the hold counts reliable windows only."""

    def __init__(self, hold_hops):
        self.hold_hops = hold_hops
        self.raised = False
        self._run = 0  # reliable hops in a row that disagree with the alarm's present state

    def update(self, time_s, state, offset_ms):
        """The AlarmChange this hop makes, or None."""
        if state not in ("in_sync", "out_of_sync"):
            return None
        against = (state == "out_of_sync") != self.raised
        self._run = self._run + 1 if against else 0
        if self._run < self.hold_hops:
            return None
        self.raised, self._run = not self.raised, 0
        return AlarmChange(time_s, self.raised, offset_ms)


@dataclass(frozen=True)
class Step:
    """The offset stepped by `size_frames` (new - old) about `time_s`, between two steady stretches."""
    time_s: float
    size_frames: int
    before_frames: int
    after_frames: int


class StepDetector:
    """A step: the last `length` reliable offsets are steady (each within a frame of their median),
    and that median differs by at least `min_frames` from the level of the last steady stretch
    before it. Hops between the two (a window that straddles the edit sees both offsets) are
    passed over. A slow drift moves the level a frame at a time and is no step.

    The new level shows once most of a window lies after the edit: the step is placed half a
    window before the first hop of the new level.
    """

    def __init__(self, length, min_frames, window_s):
        self.length = length
        self.min_frames = min_frames
        self.window_s = window_s
        self.level = None
        self._recent = deque(maxlen=length)  # (time_s, offset_frames) of reliable hops

    def update(self, time_s, reliable, offset_frames):
        """The Step this hop completes, or None."""
        if not reliable:
            return None
        self._recent.append((time_s, offset_frames))
        if len(self._recent) < self.length:
            return None
        values = np.array([offset for _, offset in self._recent])
        median = float(np.median(values))
        if np.abs(values - median).max() > STEADY_SPREAD_FRAMES:
            return None
        new, old = int(round(median)), self.level
        self.level = new
        if old is None or abs(new - old) < self.min_frames:
            return None
        return Step(round(max(self._recent[0][0] - self.window_s / 2, 0.0), 3), new - old, old, new)

"""Offset profiles: how far the audio is ahead of the lips, in video frames, at each moment.

Positive = the audio is early (it carries at time t the syllable the lips show at t + d), the
suite's sign convention: the demo's `AV offset` is d, and delaying the audio by d frames brings
it into sync.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Constant:
    """The same offset all along."""
    frames: float

    def at(self, t_s, duration_s):
        """The offset (frames) at time `t_s` (seconds; a number or an array) of a clip of `duration_s`."""
        return np.zeros_like(np.asarray(t_s, dtype=float)) + float(self.frames)


@dataclass(frozen=True)
class Linear:
    """Drift: the offset moves linearly from `start_frames` at t=0 to `end_frames` at the end."""
    start_frames: float
    end_frames: float

    def at(self, t_s, duration_s):
        """The offset (frames) at time `t_s` (seconds; a number or an array) of a clip of `duration_s`."""
        share = np.clip(np.asarray(t_s, dtype=float) / duration_s, 0.0, 1.0)
        return self.start_frames + (self.end_frames - self.start_frames) * share


@dataclass(frozen=True)
class Jump:
    """An edit: `before_frames` until `at_s` seconds, `after_frames` from then on."""
    before_frames: float
    after_frames: float
    at_s: float

    def at(self, t_s, duration_s):
        """The offset (frames) at time `t_s` (seconds; a number or an array) of a clip of `duration_s`."""
        return np.where(np.asarray(t_s, dtype=float) < self.at_s, float(self.before_frames),
                        float(self.after_frames))


def constant(frames):
    """The same offset, `frames` video frames, all along the clip."""
    return Constant(frames)


def linear(start_frames, end_frames):
    """An offset that drifts linearly from `start_frames` to `end_frames` over the clip."""
    return Linear(start_frames, end_frames)


def jump(before_frames, after_frames, at_s):
    """An offset of `before_frames` that jumps to `after_frames` at time `at_s` (seconds)."""
    return Jump(before_frames, after_frames, at_s)

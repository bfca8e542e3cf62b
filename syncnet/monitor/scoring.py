"""SyncNet over a live stream, a hop at a time: each 5-frame window's lip and audio features are
computed once, as its frames and audio arrive; each hop then takes the last window's features and
scores them as the demo scores a clip of that length (scoring's ShiftedDistances and summarise),
so a hop costs the network only the hop's new windows, not the whole window again.
"""
from collections import deque

import numpy as np
import torch

from syncnet.scoring.distances import (
    FRAMES_PER_WINDOW,
    MFCC_STEP,
    SAMPLES_PER_FRAME,
    ShiftedDistances,
    StreamedMfcc,
    audio_batch,
    lip_batches,
    summarise,
    window_audio_end,
    window_columns,
    window_count,
    window_energy,
)


class WindowFeatures:
    """The features of a stream's 5-frame windows, computed as frames and audio arrive, and kept for
    the last `keep` windows only. Frames are 224x224 BGR face crops; audio 16 kHz mono int16.

    With `stride` N, only every Nth window's lip features are computed (the network's costly half),
    and the others are zeros that `score_window` leaves out. `reset()` starts afresh (after a gap:
    a window must not span two connections)."""

    def __init__(self, network, keep, batch_size, stride=1):
        self.network = network
        self.keep = keep
        self.batch_size = batch_size
        self.stride = stride
        self.reset()

    def reset(self):
        self._frames = []          # frames not yet in a lip window's features (at most 4 carried)
        self._frames_seen = 0
        self._samples = np.zeros(0, dtype=np.int16)  # from sample index self._sample_base on
        self._sample_base = 0
        # Bounded even when one of the two stops arriving: a window whose other half is gone is lost.
        self._lip = deque(maxlen=2 * self.keep + self.batch_size)  # (window, feature)
        self._lip_next = 0
        self._aud = deque(maxlen=2 * self.keep + self.batch_size)  # (window, feature, energy)
        self._aud_next = 0

    @property
    def ready(self):
        """Windows 0..ready-1 have both features."""
        return min(self._lip_next, self._aud_next)

    @torch.inference_mode()
    def add(self, frames, samples):
        """Take the next frames (n x 224 x 224 x 3 uint8 BGR) and audio samples; compute what they complete."""
        self._frames.extend(frames)
        self._frames_seen += len(frames)
        for first, lips in lip_batches(self._frames, self.batch_size):
            features = self._lip_features(self._lip_next + first, lips)
            self._lip.extend(zip(range(self._lip_next + first, self._lip_next + first + len(features)), features))
        self._lip_next = max(self._lip_next, self._frames_seen - FRAMES_PER_WINDOW + 1)
        self._frames = self._frames[-(FRAMES_PER_WINDOW - 1):]
        self._samples = np.concatenate([self._samples, np.asarray(samples, dtype=np.int16)])
        self._audio_features()
        self._trim()

    def _lip_features(self, first, lips):
        """The lip features of windows first.. (None for those the stride skips)."""
        scored = [index for index in range(len(lips)) if (first + index) % self.stride == 0]
        features = [None] * len(lips)
        if scored:
            computed = self.network.forward_lip(lips[scored].to(self.network.device)).float().cpu()
            for index, feature in zip(scored, computed):
                features[index] = feature
        return features

    def _audio_features(self):
        total = self._sample_base + len(self._samples)
        stop = self._aud_next
        while window_audio_end(stop) <= total:
            stop += 1
        if stop == self._aud_next:
            return

        def read(start, end):
            return self._samples[start - self._sample_base:end - self._sample_base]

        coefficients = StreamedMfcc(read, total)
        for first in range(self._aud_next, stop, self.batch_size):
            count = min(self.batch_size, stop - first)
            span = coefficients.columns(*window_columns(first, count))
            features = self.network.forward_aud(audio_batch(span).to(self.network.device)).float().cpu()
            self._aud.extend(zip(range(first, first + count), features, window_energy(span)))
        self._aud_next = stop

    def _trim(self):
        for features in (self._lip, self._aud):
            while features and features[0][0] < self.ready - self.keep:
                features.popleft()
        # Keep the samples the next window's MFCC reads (and the one before, for pre-emphasis).
        first_needed = max(window_columns(self._aud_next, 1)[0] * MFCC_STEP - 1, 0)
        if first_needed > self._sample_base:
            self._samples = self._samples[first_needed - self._sample_base:]
            self._sample_base = first_needed

    def last(self, count):
        """(lip N x 1024, audio N x 1024, energy N, the rows whose lip features were computed) of the
        last `count` complete windows, or None."""
        stop = self.ready
        if stop < count:
            return None
        lips = [feature for window, feature in self._lip if stop - count <= window < stop]
        auds = [(feature, energy) for window, feature, energy in self._aud if stop - count <= window < stop]
        if len(lips) < count or len(auds) < count:
            return None
        scored = next(feature for feature in lips if feature is not None)
        lips = [torch.zeros_like(scored) if feature is None else feature for feature in lips]
        rows = [index for index, window in enumerate(range(stop - count, stop)) if window % self.stride == 0]
        return torch.stack(lips), torch.stack([f for f, _ in auds]), np.array([e for _, e in auds]), rows


def window_windows(window_frames):
    """The 5-frame windows the demo scores in a clip of `window_frames` frames with its audio."""
    return window_count(window_frames, window_frames * SAMPLES_PER_FRAME)


def score_window(lip_features, audio_features, vshift, rows=slice(None)):
    """(distances, SyncSummary) of one window's features, as the demo scores a clip of that length;
    only the table's `rows` (the windows whose lip features were computed) count."""
    distances = ShiftedDistances(vshift)
    distances.add(lip_features, audio_features)
    dists = distances.finish()[rows]
    return dists, summarise(dists, vshift)

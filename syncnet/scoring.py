"""From decoded frames and audio to SyncNet distances, offset and confidence.

Windows stream through in batches: nothing here holds the whole video as float tensors.
"""
from dataclasses import dataclass
from itertools import islice

import numpy as np
import python_speech_features
import torch

from .filters import median_filter
from .media import FRAME_RATE, SAMPLE_RATE

FRAMES_PER_WINDOW = 5
SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE  # 640
MFCC_PER_FRAME = 4  # 10 ms MFCC steps per 40 ms video frame
MFCC_PER_WINDOW = 20
PAIRWISE_EPS = 1e-6  # what torch's pairwise_distance adds to the difference


def mfcc(audio):
    """13 x M MFCC with python_speech_features' defaults, as float32."""
    return python_speech_features.mfcc(audio, SAMPLE_RATE).T.astype(np.float32)


def window_count(n_frames, n_samples):
    """Windows that have both 5 frames and their audio: min(T, samples // 640) - 5, at least 0."""
    return max(0, min(n_frames, n_samples // SAMPLES_PER_FRAME) - FRAMES_PER_WINDOW)


def lip_batches(frames, batch_size, n_windows=None):
    """Yield (first_window, N x 3 x 5 x H x W uint8) from an iterator of H x W x 3 uint8 frames.

    Window i is frames i..i+4. With n_windows None, windows run to the end of the frames.
    Only one batch of frames (plus the four that overlap the next batch) is held at a time.
    """
    frames = iter(frames)
    carry = []
    first = 0
    while n_windows is None or first < n_windows:
        wanted = batch_size if n_windows is None else min(batch_size, n_windows - first)
        chunk = carry + list(islice(frames, wanted + FRAMES_PER_WINDOW - 1 - len(carry)))
        count = len(chunk) - (FRAMES_PER_WINDOW - 1)
        if count <= 0:
            return
        windows = torch.from_numpy(np.stack(chunk)).unfold(0, FRAMES_PER_WINDOW, 1)  # count x H x W x 3 x 5
        # One copy laid out count x H x W x (3*5): viewed as N x 3 x 5 x H x W it is the
        # channels-last layout the 2D lip network wants, so no further copy is made. Pixels stay
        # uint8 here (a quarter of the memory); the network takes them to float32 slice by slice.
        yield first, windows.contiguous().permute(0, 3, 4, 1, 2)
        carry = chunk[-(FRAMES_PER_WINDOW - 1):]
        first += count


def audio_batch(mfcc_13xm, first, count):
    """MFCC patches for windows first..first+count-1: N x 1 x 13 x 20, window i = columns 4i..4i+19."""
    start = first * MFCC_PER_FRAME
    stop = (first + count - 1) * MFCC_PER_FRAME + MFCC_PER_WINDOW
    span = torch.from_numpy(mfcc_13xm[:, start:stop])
    return span.unfold(1, MFCC_PER_WINDOW, MFCC_PER_FRAME).permute(1, 0, 2).unsqueeze(1).contiguous()


class ShiftedDistances:
    """Distances between each video feature and the audio features up to vshift windows away.

    dists[i, j] = |v_i - a_(i+j-vshift) + eps|, with a zero vector outside the audio, exactly
    the reference's padded pairwise_distance. Rows are finished as soon as their audio has been
    seen, so only about 2*vshift feature rows are kept, whatever the video's length.
    """

    def __init__(self, vshift):
        self.vshift = vshift
        self.width = 2 * vshift + 1
        self._video = []       # features of windows whose row is not finished yet
        self._audio = None     # audio features from index self._audio_start on
        self._audio_start = 0
        self._next_row = 0
        self._seen = 0
        self._rows = []

    def add(self, video_feats, audio_feats):
        self._video.append(video_feats)
        self._audio = audio_feats if self._audio is None else torch.cat([self._audio, audio_feats])
        self._seen += len(audio_feats)
        self._emit(self._seen - self.vshift)

    def finish(self):
        """All rows, N x (2*vshift+1) float32 numpy."""
        self._emit(self._seen)
        if not self._rows:
            return np.zeros((0, self.width), dtype=np.float32)
        return torch.cat(self._rows).numpy()

    def _emit(self, stop):
        """Finish rows next_row..stop-1; audio past the end of what has been seen counts as zero."""
        if stop <= self._next_row:
            return
        video = torch.cat(self._video)
        count = stop - self._next_row
        lo = self._next_row - self.vshift
        hi = stop - 1 + self.vshift + 1
        dim = video.shape[1]
        segment = torch.zeros(hi - lo, dim, dtype=video.dtype)
        have_lo = max(lo, self._audio_start)
        have_hi = min(hi, self._audio_start + len(self._audio))
        if have_hi > have_lo:
            segment[have_lo - lo:have_hi - lo] = \
                self._audio[have_lo - self._audio_start:have_hi - self._audio_start]
        windows = segment.unfold(0, self.width, 1)  # count x dim x width
        diff = video[:count, :, None] - windows + PAIRWISE_EPS
        self._rows.append(torch.linalg.vector_norm(diff, dim=1))
        self._video = [video[count:]]
        self._next_row = stop
        keep_from = max(self._next_row - self.vshift, self._audio_start)
        self._audio = self._audio[keep_from - self._audio_start:]
        self._audio_start = keep_from


@dataclass
class SyncSummary:
    offset: int
    min_dist: float
    confidence: float
    mean_dists: np.ndarray
    framewise_conf: np.ndarray


def summarise(dists, vshift):
    """Offset, min distance (LSE-D), confidence (LSE-C) and smoothed framewise confidence."""
    table = torch.from_numpy(np.ascontiguousarray(dists, dtype=np.float32))
    mean_dists = table.mean(0)
    min_dist, min_index = torch.min(mean_dists, 0)
    median = torch.median(mean_dists)  # 31 values: the true middle
    fconf = (median - table[:, min_index]).numpy()
    return SyncSummary(
        offset=vshift - int(min_index),
        min_dist=float(min_dist),
        confidence=float(median - min_dist),
        mean_dists=mean_dists.numpy(),
        framewise_conf=median_filter(fconf, kernel_size=9),
    )


def track_frame_confidence(dists):
    """run_visualise's per-frame confidence: the best column padded with 3 tens each side, median-filtered."""
    mean_dists = dists.mean(0)
    best = dists[:, int(np.argmin(mean_dists))]
    padded = np.pad(best, (3, 3), mode="constant", constant_values=10)
    return median_filter(np.median(mean_dists) - padded, kernel_size=9)

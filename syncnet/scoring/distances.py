"""From decoded frames and audio to SyncNet distances, offset and confidence.

Windows stream through in batches: nothing here holds the whole video as float tensors.
"""
from dataclasses import dataclass
from itertools import islice

import numpy as np
import python_speech_features
import torch

from syncnet.io.media import FRAME_RATE, SAMPLE_RATE
from syncnet.scoring.offsets import best_column, column_count, confidence, framewise_confidence, offset_of_column

FRAMES_PER_WINDOW = 5
SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE  # 640
MFCC_PER_FRAME = 4  # 10 ms MFCC steps per 40 ms video frame
MFCC_PER_WINDOW = 20
PAIRWISE_EPS = 1e-6  # what torch's pairwise_distance adds to the difference
# python_speech_features' defaults: a 25 ms frame every 10 ms, pre-emphasis 0.97.
MFCC_STEP = SAMPLE_RATE // 100
MFCC_FRAME = SAMPLE_RATE // 40
PREEMPHASIS = 0.97


def mfcc_frame_count(n_samples):
    """M, the number of MFCC frames of an n-sample signal (the last frame is zero-padded)."""
    if n_samples <= MFCC_FRAME:
        return 1
    return 1 + -(-(n_samples - MFCC_FRAME) // MFCC_STEP)


class StreamedMfcc:
    """13 x M MFCC (python_speech_features' defaults, as float32) of a long signal, computed a
    block of columns at a time from `read(start, stop)`.

    python_speech_features pre-emphasises the whole signal, then treats each 25 ms frame on its
    own, so a block of frames needs only its own samples plus the one before it. The whole
    signal's MFCC would take about 1.3 MB of working memory per second of audio (800 MB for 10
    minutes); a block of 30 s takes about 40 MB. Blocks are that large, rather than one per
    batch of windows, because each MFCC wakes numpy's BLAS threads, which then compete with
    torch's for the cores (per-batch blocks made the 127 s benchmark 45% slower).
    """

    BLOCK_COLUMNS = 3000  # 30 s

    def __init__(self, read, n_samples):
        self._read = read
        self.n_samples = n_samples
        self.n_columns = mfcc_frame_count(n_samples)
        self._block_start = self._block_stop = 0
        self._block = None

    def columns(self, start, stop):
        """Columns start..stop-1, 13 x (stop - start) float32: those of the whole signal's MFCC."""
        if not 0 <= start < stop <= self.n_columns:
            raise ValueError(f"MFCC columns {start}..{stop} outside 0..{self.n_columns}")
        if not self._block_start <= start < stop <= self._block_stop:
            block_stop = min(max(stop, start + self.BLOCK_COLUMNS), self.n_columns)
            self._block = self._compute(start, block_stop)
            self._block_start, self._block_stop = start, block_stop
        return self._block[:, start - self._block_start:stop - self._block_start]

    def _compute(self, start, stop):
        first = start * MFCC_STEP
        last = min(self.n_samples, (stop - 1) * MFCC_STEP + MFCC_FRAME)
        samples = self._read(max(first - 1, 0), last).astype(np.float64)
        # The whole signal's pre-emphasis, y[i] = x[i] - 0.97 x[i-1] with y[0] = x[0], on this span;
        # python_speech_features is then told not to pre-emphasise again.
        emphasised = samples[1:] - PREEMPHASIS * samples[:-1]
        if first == 0:
            emphasised = np.append(samples[0], emphasised)
        frames = python_speech_features.mfcc(emphasised, SAMPLE_RATE, preemph=0)
        return frames[:stop - start].T.astype(np.float32)


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


def window_columns(first, count):
    """(start, stop) of the MFCC columns that windows first..first+count-1 use: window i is 4i..4i+19."""
    return first * MFCC_PER_FRAME, (first + count - 1) * MFCC_PER_FRAME + MFCC_PER_WINDOW


def window_audio_end(window):
    """How many samples, from the signal's start, window `window`'s MFCC columns read: a stream
    can score the window once this much audio has arrived."""
    _, stop = window_columns(window, 1)
    return (stop - 1) * MFCC_STEP + MFCC_FRAME


def audio_batch(span):
    """N x 1 x 13 x 20 MFCC patches of consecutive windows, from the 13 x (4(N-1)+20) columns they span."""
    span = torch.from_numpy(np.ascontiguousarray(span))
    return span.unfold(1, MFCC_PER_WINDOW, MFCC_PER_FRAME).permute(1, 0, 2).unsqueeze(1).contiguous()


def window_energy(span):
    """Each window's mean log energy, from the 13 x (4(N-1)+20) MFCC columns its batch spans:
    python_speech_features puts each 10 ms frame's log energy in the first row."""
    return span[0].astype(np.float64)[np.arange(MFCC_PER_WINDOW)
                                      + MFCC_PER_FRAME * np.arange((span.shape[1] - MFCC_PER_WINDOW)
                                                                   // MFCC_PER_FRAME + 1)[:, None]].mean(1)


class ShiftedDistances:
    """Distances between each video feature and the audio features up to vshift windows away.

    dists[i, j] = |v_i - a_(i+j-vshift) + eps|, with a zero vector outside the audio, exactly
    the reference's padded pairwise_distance. Rows are finished as soon as their audio has been
    seen, so only about 2*vshift feature rows are kept, whatever the video's length.
    """

    def __init__(self, vshift):
        self.vshift = vshift
        self.width = column_count(vshift)
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
    """Offset, min distance (LSE-D), confidence (LSE-C) and smoothed framewise confidence, by the
    rule of syncnet.scoring.offsets, over the mean distances as torch takes them: the reference's
    float32 sums, which its numbers depend on."""
    table = np.ascontiguousarray(dists, dtype=np.float32)
    mean_dists = torch.from_numpy(table).mean(0).numpy()
    column = best_column(mean_dists)
    return SyncSummary(
        offset=offset_of_column(column, vshift),
        min_dist=float(mean_dists[column]),
        confidence=float(confidence(mean_dists)),
        mean_dists=mean_dists,
        framewise_conf=framewise_confidence(table, mean_dists),
    )

"""The offset rule: which offset each column of a distance table is, the best one, and how sure it is."""
import numpy as np

from syncnet.filters import median_filter


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


def track_frame_confidence(dists, n_frames=None):
    """run_visualise's per-frame confidence: the best column padded with 3 tens each side, median-filtered.

    With `n_frames` (the track's length) exactly that many values: where the track's audio ended
    before its frames, there are fewer windows than frames, and the padding of tens (a poor
    match) extends over the rest. A track without any window has no confidence (NaN).
    """
    dists = np.asarray(dists)
    if len(dists) == 0:
        return np.full(n_frames or 0, np.nan, dtype=np.float32)
    mean_dists = dists.mean(0)
    best = dists[:, int(np.argmin(mean_dists))]
    after = 3 if n_frames is None else max(3, n_frames - len(best) - 3)
    padded = np.pad(best, (3, after), mode="constant", constant_values=10)
    confidence = median_filter(np.median(mean_dists) - padded, kernel_size=9)
    return confidence if n_frames is None else confidence[:n_frames]

"""The offset rule, in one place: which offset each column of a distance table stands for, which is
best, how sure that is (LSE-C), the confidence of each window and frame, and the offset between
whole frames.

A table has a row per 5-frame window and 2*vshift+1 columns: column j compares video window i
with audio window i + j - vshift, so it is the offset vshift - j (positive = the audio is early).
`mean_dists` is a table's mean over its windows; taking that mean is the caller's (scoring takes it
as torch does, because the reference's numbers depend on its float32 sums). Plain numpy, no I/O.
"""
import numpy as np

from syncnet.filters import median_filter

# Both per-frame confidences are median-filtered over 9 values; run_visualise's first pads the
# windows with 3 frames of a distance of 10 (a poor match) each side.
FRAME_KERNEL = 9
FRAME_PADDING, POOR_MATCH = 3, 10


def column_count(vshift):
    """The columns of a table searched over -vshift..+vshift frames."""
    return 2 * vshift + 1


def offset_of_column(column, vshift):
    """The offset (frames) that `column` of a table stands for; a fractional column gives a
    fractional offset, and an array of columns an array of offsets."""
    return vshift - column


def column_of_offset(offset, vshift):
    """The column of a table that holds `offset` (frames)."""
    return vshift - offset


def column_offsets(vshift):
    """The offset of every column: +vshift down to -vshift."""
    return offset_of_column(np.arange(column_count(vshift)), vshift)


def best_column(mean_dists):
    """The column with the smallest mean distance; on a tie the first, as the reference's torch.min."""
    return int(np.argmin(mean_dists))


def median_distance(mean_dists):
    """The median of the mean distances (2*vshift+1 of them: the true middle): how far a shift that
    does not match lies, the level every confidence is measured from."""
    return np.median(mean_dists)


def confidence(mean_dists):
    """LSE-C: the median mean distance minus that at the best offset (in the curve's dtype)."""
    return median_distance(mean_dists) - mean_dists[best_column(mean_dists)]


def framewise_confidence(dists, mean_dists):
    """The demo's framewise confidence (SPEC step 6): the median mean distance minus each window's
    distance at the best offset, median-filtered."""
    at_best = np.asarray(dists)[:, best_column(mean_dists)]
    return median_filter(median_distance(mean_dists) - at_best, kernel_size=FRAME_KERNEL)


def track_frame_confidence(dists, n_frames=None):
    """run_visualise's per-frame confidence, which speakers.json used too: each window's distance at
    the best offset, padded with 3 tens each side, from the median mean distance, median-filtered.

    With `n_frames` (the track's length) exactly that many values: where the track's audio ended
    before its frames, there are fewer windows than frames, and the padding of tens (a poor
    match) extends over the rest. A track without any window has no confidence (NaN).
    """
    dists = np.asarray(dists)
    if len(dists) == 0:
        return np.full(n_frames or 0, np.nan, dtype=np.float32)
    mean_dists = dists.mean(0)
    best = dists[:, best_column(mean_dists)]
    after = FRAME_PADDING if n_frames is None else max(FRAME_PADDING, n_frames - len(best) - FRAME_PADDING)
    padded = np.pad(best, (FRAME_PADDING, after), mode="constant", constant_values=POOR_MATCH)
    frame_confidence = median_filter(median_distance(mean_dists) - padded, kernel_size=FRAME_KERNEL)
    return frame_confidence if n_frames is None else frame_confidence[:n_frames]


def frame_sync_contrast(dists, n_frames, column):
    """The speaking score of each of a track's `n_frames` frames: each window's median distance
    over all offsets minus its distance at `column` (how much better the lips match the audio
    there than at a typical wrong offset; about 0 for a still or unheard face, whatever the audio
    holds), padded with 3 zeros (no evidence) each side and median-filtered over 9 frames. A
    track without any window has no score (NaN)."""
    dists = np.asarray(dists, dtype=np.float64)
    if len(dists) == 0:
        return np.full(n_frames, np.nan)
    contrast = np.median(dists, axis=1) - dists[:, column]
    after = max(FRAME_PADDING, n_frames - len(contrast) - FRAME_PADDING)
    return median_filter(np.pad(contrast, (FRAME_PADDING, after)), kernel_size=FRAME_KERNEL)[:n_frames]


def subframe_offset(mean_dists, vshift):
    """The offset at the vertex of the parabola through the distance curve's minimum and its two
    neighbours (within half a frame of the whole-frame offset): the timeline's fits see drift
    between whole frames instead of a staircase, which a piecewise-constant model would fit as
    well as a line. At either end of the curve, the whole-frame offset."""
    column = best_column(mean_dists)
    if not 0 < column < len(mean_dists) - 1:
        return float(offset_of_column(column, vshift))
    before, at, after = (float(value) for value in mean_dists[column - 1:column + 2])
    curvature = before - 2 * at + after
    step = 0.0 if curvature <= 0 else float(np.clip((before - after) / (2 * curvature), -0.5, 0.5))
    return offset_of_column(column + step, vshift)

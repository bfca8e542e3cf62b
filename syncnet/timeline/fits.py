"""Three models of an offset's course, and the rule that picks one.

Given the reliable segments' offsets y_i (frames, to a fraction of a frame) at their centres t_i,
each model is fitted robustly:

- constant: y = c, c the median;
- linear (drift): y = a + b t, the Theil-Sen line (median of the pairwise slopes), given at least
  2 * `min_level` segments;
- piecewise constant (jumps): m jumps, each level the median of its segments, the jump places
  the least-squares optimum (dynamic programming), every level held by >= `min_level` segments.

Each fit gets a BIC-style penalised residual, and the lowest wins:

    cost = n ln(max(mean(min(r^2, CLIP^2)), QUANTISATION)) + k ln n

with k the number of parameters (1 for constant, 2 for linear, 2m+1 for m jumps: m+1 levels and
m jump times). Residuals are clipped at CLIP frames so that one wrong segment costs a bounded
amount; the variance has the floor of whole-frame rounding (1/12 frame^2): no fit is trusted to be
better than the whole-frame offsets the network is trained on, so below that the penalty alone
decides. Ties go to the simpler model.
"""
import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np

CLIP = 3.0                 # frames: a residual counts at most this much
QUANTISATION = 1.0 / 12.0  # frame^2: the variance of rounding to whole frames
MAX_JUMPS = 8


@dataclass(frozen=True)
class Fit:
    """A fitted course of the offset: `pieces` of (intercept, slope) in frames and frames per
    second, split at `jumps_s`."""
    model: str                                # "constant", "linear" or "piecewise"
    pieces: Tuple[Tuple[float, float], ...]
    jumps_s: Tuple[float, ...]
    cost: float

    @property
    def slope_frames_per_s(self):
        """The drift: frames per second (0 for constant and piecewise fits)."""
        return self.pieces[0][1]

    def delayed(self, start_s):
        """The same course on a clock that reads `start_s` at this one's 0 (a track's fit on the video's clock)."""
        return Fit(self.model, tuple((intercept - slope * start_s, slope) for intercept, slope in self.pieces),
                   tuple(jump + start_s for jump in self.jumps_s), self.cost)

    def at(self, time_s):
        """The fitted offset (frames) at `time_s` (a number or an array)."""
        times = np.asarray(time_s, dtype=np.float64)
        piece = np.searchsorted(np.asarray(self.jumps_s, dtype=np.float64), times, side="right")
        intercepts = np.array([intercept for intercept, _ in self.pieces])[piece]
        slopes = np.array([slope for _, slope in self.pieces])[piece]
        values = intercepts + slopes * times
        return float(values) if values.ndim == 0 else values


def penalised_cost(residuals, n_params):
    """n ln(clipped mean square, floored) + k ln n: lower is better."""
    residuals = np.asarray(residuals, dtype=np.float64)
    n = len(residuals)
    variance = max(float(np.mean(np.minimum(residuals ** 2, CLIP ** 2))), QUANTISATION)
    return n * math.log(variance) + n_params * math.log(max(n, 1))


def fit_constant(times, offsets):
    """The median level."""
    level = float(np.median(offsets))
    return Fit("constant", ((level, 0.0),), (), penalised_cost(offsets - level, 1))


def fit_linear(times, offsets, min_level=3):
    """The Theil-Sen line, or None with fewer than 2 * min_level segments (a drift needs as many
    segments as two levels of a jump would) or all at one time."""
    if len(times) < max(3, 2 * min_level) or np.ptp(times) == 0:
        return None
    from scipy.stats import theilslopes

    slope, intercept = theilslopes(offsets, times)[:2]
    return Fit("linear", ((float(intercept), float(slope)),), (),
               penalised_cost(offsets - (intercept + slope * times), 2))


def _partitions(offsets, max_jumps, min_level):
    """For m = 1..max_jumps, the split points (indices) of the least-squares m-jump partition."""
    n = len(offsets)
    sums = np.concatenate([[0.0], np.cumsum(offsets)])
    squares = np.concatenate([[0.0], np.cumsum(offsets ** 2)])

    def sse(starts, stop):
        total = sums[stop] - sums[starts]
        return squares[stop] - squares[starts] - total ** 2 / (stop - starts)

    best = np.full((max_jumps + 1, n + 1), np.inf)
    back = np.zeros((max_jumps + 1, n + 1), dtype=int)
    best[0, min_level:] = sse(np.zeros(n + 1 - min_level, dtype=int), np.arange(min_level, n + 1))
    for jumps in range(1, max_jumps + 1):
        for stop in range((jumps + 1) * min_level, n + 1):
            starts = np.arange(jumps * min_level, stop - min_level + 1)
            costs = best[jumps - 1, starts] + sse(starts, stop)
            choice = int(np.argmin(costs))
            best[jumps, stop], back[jumps, stop] = costs[choice], starts[choice]
    splits = {}
    for jumps in range(1, max_jumps + 1):
        if not math.isfinite(best[jumps, n]):
            continue
        points, stop = [], n
        for level in range(jumps, 0, -1):
            stop = back[level, stop]
            points.append(stop)
        splits[jumps] = points[::-1]
    return splits


def fit_piecewise(times, offsets, min_level):
    """The best piecewise-constant fit with 1..MAX_JUMPS jumps, or None when too few segments."""
    max_jumps = min(MAX_JUMPS, len(offsets) // min_level - 1)
    if max_jumps < 1:
        return None
    fits = []
    for jumps, splits in _partitions(offsets, max_jumps, min_level).items():
        bounds = [0, *splits, len(offsets)]
        levels = [float(np.median(offsets[lo:hi])) for lo, hi in zip(bounds[:-1], bounds[1:])]
        fitted = np.concatenate([np.full(hi - lo, level) for lo, hi, level in zip(bounds[:-1], bounds[1:], levels)])
        # A jump lies between the last segment of one level and the first of the next.
        jump_times = tuple(float(times[split - 1] + times[split]) / 2 for split in splits)
        fits.append(Fit("piecewise", tuple((level, 0.0) for level in levels), jump_times,
                        penalised_cost(offsets - fitted, 2 * jumps + 1)))
    return min(fits, key=lambda fit: fit.cost, default=None)


def choose_fit(times, offsets, min_level=3):
    """The model with the lowest penalised cost (the simpler one on a tie): constant, linear or
    piecewise constant, fitted to `offsets` (frames) at `times` (s, ascending)."""
    times = np.asarray(times, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    candidates = [fit for fit in (fit_constant(times, offsets), fit_linear(times, offsets, min_level),
                                  fit_piecewise(times, offsets, min_level)) if fit is not None]
    best = candidates[0]
    for fit in candidates[1:]:
        if fit.cost < best.cost - 1e-9:
            best = fit
    return best

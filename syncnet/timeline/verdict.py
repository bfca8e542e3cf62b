"""The verdict on a timeline's segments: in sync, the course that `choose_fit` picks, or why there is none."""
import math

import numpy as np

from syncnet.timeline.fits import choose_fit
from syncnet.timeline.segments import FRAME_MS

VERDICTS = ("in_sync", "constant_offset", "drift", "jumps", "out_of_range", "unreliable")
VERDICT_OF_MODEL = {"constant": "constant_offset", "linear": "drift", "piecewise": "jumps"}
# Frames: the most that half the reliable segments may lie off the chosen course. A course the
# segments follow lies within a frame of most of them (their offsets are whole-frame argmins);
# segments that scatter over the search range, as unconfident ones do, follow none.
MAX_MEDIAN_RESIDUAL = 1.0


def judge(segments, tolerance_ms, overlap):
    """(verdict, fit) of a timeline's segments.

    - unreliable: no reliable segment, fewer reliable segments than half those with speech, or
      reliable segments that follow no course (half of them more than a frame off the best fit);
    - out_of_range: as many reliable segments as one level of a jump needs sit at the edge of the
      searched range (+-vshift), so the true offset there is unseen; fewer are left out as outliers;
    - in_sync: every reliable segment's offset, or the fitted course at every one of them, lies
      within the tolerance;
    - otherwise the model that `choose_fit` picks: constant_offset, drift or jumps.
    The fit is reported for in_sync too (its drift and offsets are then small).
    """
    reliable = [segment for segment in segments if segment.reliable]
    with_speech = [segment for segment in segments if segment.speech]
    if not reliable or 2 * len(reliable) < len(with_speech):
        return "unreliable", None
    min_level = int(math.ceil(overlap - 1e-9)) + 1
    at_edge = [segment for segment in reliable if segment.at_edge]
    if len(at_edge) >= min_level:
        return "out_of_range", None
    inside = [segment for segment in reliable if not segment.at_edge]
    if not inside:
        return "unreliable", None
    times = np.array([segment.centre_s for segment in inside])
    offsets = np.array([segment.offset_estimate for segment in inside], dtype=np.float64)
    fit = choose_fit(times, offsets, min_level=min_level)
    if np.median(np.abs(offsets - fit.at(times))) > MAX_MEDIAN_RESIDUAL:
        return "unreliable", None
    late, early = tolerance_ms
    fitted_ms = np.atleast_1d(fit.at(times)) * FRAME_MS
    if (all(late <= segment.offset_ms <= early for segment in inside)
            or bool(np.all((late <= fitted_ms) & (fitted_ms <= early)))):
        return "in_sync", fit
    return VERDICT_OF_MODEL[fit.model], fit

"""The verdict on a timeline's segments: in sync, or the course that `choose_fit` picks."""
import math

import numpy as np

from syncnet.timeline.fits import choose_fit

VERDICTS = ("in_sync", "constant_offset", "drift", "jumps", "unreliable")
VERDICT_OF_MODEL = {"constant": "constant_offset", "linear": "drift", "piecewise": "jumps"}


def judge(segments, tolerance_ms, overlap):
    """(verdict, fit) of a timeline's segments.

    - unreliable: no reliable segment, or fewer reliable segments than half those with speech;
    - in_sync: every reliable segment's offset lies within the tolerance;
    - otherwise the model that `choose_fit` picks: constant_offset, drift or jumps.
    The fit is reported for in_sync too (its drift and offsets are then small).
    """
    reliable = [segment for segment in segments if segment.reliable]
    with_speech = [segment for segment in segments if segment.speech]
    if not reliable or 2 * len(reliable) < len(with_speech):
        return "unreliable", None
    times = np.array([segment.centre_s for segment in reliable])
    offsets = np.array([segment.offset_estimate for segment in reliable], dtype=np.float64)
    fit = choose_fit(times, offsets, min_level=int(math.ceil(overlap - 1e-9)) + 1)
    late, early = tolerance_ms
    if all(late <= segment.offset_ms <= early for segment in reliable):
        return "in_sync", fit
    return VERDICT_OF_MODEL[fit.model], fit

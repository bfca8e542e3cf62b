"""Repair an offset that changes over time, as a Timeline found it.

- drift (the offset grows linearly, d(t) = a + b t frames): the audio is time-warped so that
  every moment goes to offset 0. Audio early by d(t) carries at time t what belongs to the
  picture at t + d(t)/25, so the repaired audio is y(t) = x(r t - a/25) with r = 1 - b/25: the
  audio resampled by 1/r (scipy's polyphase resample_poly, at a rational p/q within 1e-7 of
  it) and delayed by a/(25 r) seconds.
- jumps (piecewise-constant offset): each piece is shifted by its own level, with short linear
  crossfades at the jump times.
- anything else: the constant shift of resync.write_synced.

The video stream is copied untouched, and the audio keeps its length.
"""
import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from syncnet.io import media
from syncnet.options import OutputOptions
from syncnet.repair.resync import (
    RepairRefused,
    consensus_offset,
    rewrite_audio,
    samples_for_offset,
    shift_samples,
    write_synced,
)

CROSSFADE_S = 0.02
# The slowest the warped audio may play, as a share of its speed (and 2 - it the fastest): a
# fit steeper than that is no recording's drift, and at a slope of 25 frames/s the speed is 0.
MIN_SPEED = 0.5
MAX_DENOMINATOR = 100000  # p/q within about 1e-10 of the wanted ratio: well under 1 ms an hour


@dataclass(frozen=True)
class Repair:
    """What was done to the audio, in one line for the user (`description`)."""
    target: str
    kind: str            # "shift", "drift" or "jumps"
    description: str
    rate: int            # the audio's sample rate
    ratio: float = 1.0   # the resampling factor (drift)
    shift_samples: int = 0


def repair_sync(video, target, timeline, offset):
    """Copy `video` to `target` with the sync repaired as `timeline`'s verdict calls for: drift is
    warped away, jumps are shifted piece by piece, anything else is shifted by `offset` frames.
    `timeline` may be None (a constant shift). Returns a Repair."""
    from syncnet.render.reports import describe_shift

    verdict = None if timeline is None else timeline.verdict
    if verdict == "drift":
        return _remove_drift(video, target, timeline)
    if verdict == "jumps":
        return _remove_jumps(video, target, timeline)
    shift, rate = write_synced(video, target, offset)
    return Repair(target=target, kind="shift", description=describe_shift(target, offset, shift, rate), rate=rate,
                  shift_samples=shift)


def repair_face_video(video, target, timeline, offset, confidence, min_conf=OutputOptions.min_conf):
    """demo_syncnet's repair of a face video scored with offset `offset` and confidence
    `confidence`, as its `timeline` (None when the video is shorter than a segment) calls for:
    drift and jumps as repair_sync does them, a constant shift by the verdict's own offset;
    RepairRefused when the timeline finds no course to trust (see `timeline_refusal`), or, with
    no segment, when the confidence is below `min_conf`. Returns a Repair."""
    if timeline is not None and timeline.verdict in ("drift", "jumps"):
        return repair_sync(video, target, timeline, None)
    if timeline is not None and timeline.segments:
        _refuse_by_timeline(timeline, min_conf)
        return repair_sync(video, target, None, timeline.steady_offset_frames)
    if confidence < min_conf:
        raise RepairRefused(f"confidence {confidence:.3f} is below --min_conf {min_conf:g}, so the offset is too "
                            "uncertain to repair; pass --offset N if you know the lag",
                            f"confidence below {min_conf:g}")
    return repair_sync(video, target, None, offset)


def _refuse_by_timeline(timeline, min_conf):
    """RepairRefused when `timeline`'s verdict gives no offset to repair by: out_of_range (the
    offset leaves the searched range) or unreliable."""
    if timeline.verdict == "out_of_range":
        edge = timeline.edge_segments
        vshift = abs(edge[0].offset_frames)
        starts = ", ".join(f"{segment.start_s:g}" for segment in edge[:6]) + (", ..." if len(edge) > 6 else "")
        raise RepairRefused(f"the offset leaves the searched range -{vshift}..+{vshift} frames: {len(edge)} "
                            f"segments (starting at {starts} s) sit at its edge, so their true offset is unseen; "
                            "rerun with a larger --vshift, or pass --offset N if you know the lag",
                            "the offset leaves the searched range")
    if timeline.verdict == "unreliable":
        raise RepairRefused(f"the timeline is unreliable ({len(timeline.reliable_segments)} of "
                            f"{len(timeline.segments)} segments reliable at --min_conf {min_conf:g}, and they must "
                            "be at least half of those with speech and agree on a course), so the offset is too "
                            "uncertain to repair; pass --offset N if you know the lag", "the timeline is unreliable")


def repair_tracks(result, target, offset=None, min_conf=OutputOptions.min_conf):
    """run_syncnet's repair of the converted video of `result` (a VideoResult): `offset` frames
    when given; else the drift or jumps of the most confident track when its timeline finds them
    (its fit moved to the video's clock), else the tracks' consensus offset. RepairRefused when
    that track's timeline finds no course to trust, when no track is confident or the confident
    ones disagree (NoConsensus), or when the consensus disagrees with that timeline's verdict.
    Returns a Repair."""
    if offset is not None:
        return repair_sync(result.converted, target, None, offset)
    best = result.best_track
    timeline = None if best is None else best.timeline
    if timeline is not None and timeline.verdict in ("drift", "jumps"):
        moved = dataclasses.replace(timeline, fit=timeline.fit.delayed(best.start_frame / media.FRAME_RATE))
        return repair_sync(result.converted, target, moved, None)
    if timeline is not None and timeline.segments:
        _refuse_by_timeline(timeline, min_conf)
    consensus = consensus_offset(result.tracks, min_conf)
    steady = None if timeline is None or not timeline.segments else timeline.steady_offset_frames
    if steady is not None and abs(steady - consensus) > 1:
        raise RepairRefused(f"the tracks' consensus offset, {consensus:+d} frames, disagrees with the timeline of "
                            f"{best.file} ({timeline.verdict}, {steady:+d} frames); pass --offset N to choose the "
                            "shift", "the consensus and the timeline disagree")
    return repair_sync(result.converted, target, None, consensus)


def _as_input_type(values, like):
    if np.issubdtype(like.dtype, np.integer):
        limits = np.iinfo(like.dtype)
        return np.clip(np.round(values), limits.min, limits.max).astype(like.dtype)
    return values.astype(like.dtype)


def _span(samples, first, length):
    """samples[first:first+length] along axis 0, zero where it lies outside them."""
    out = np.zeros((length,) + samples.shape[1:], dtype=samples.dtype)
    lo, hi = max(first, 0), min(first + length, len(samples))
    if hi > lo:
        out[lo - first:hi - first] = samples[lo:hi]
    return out


def drift_warp(samples, rate, intercept_frames, slope_frames_per_s):
    """(warped samples of the same length, p/q, delay in samples) for the drift d(t) = a + b t frames."""
    from scipy.signal import resample_poly

    speed = 1.0 - slope_frames_per_s / media.FRAME_RATE
    if not MIN_SPEED <= speed <= 2 - MIN_SPEED:
        raise RepairRefused(f"a drift of {slope_frames_per_s * 1000 * 60 / media.FRAME_RATE:+.0f} ms/min is too "
                            f"steep to repair by resampling (the audio would play {1 / speed if speed else math.inf:g} "
                            "times as fast); pass --offset N for a constant shift", "the drift is too steep")
    ratio = Fraction(1.0 / speed).limit_denominator(MAX_DENOMINATOR)
    stretched = resample_poly(samples.astype(np.float64), ratio.numerator, ratio.denominator, axis=0)
    delay = round(intercept_frames * rate / media.FRAME_RATE / speed)
    return _as_input_type(_span(stretched, -delay, len(samples)), samples), float(ratio), delay


def _remove_drift(video, target, timeline):
    (intercept, slope), = timeline.fit.pieces
    done = {}

    def warped(samples, rate):
        out, done["ratio"], done["delay"] = drift_warp(samples, rate, intercept, slope)
        return out

    rate = rewrite_audio(video, target, warped)
    delay_ms = 1000.0 * done["delay"] / rate
    return Repair(target=target, kind="drift", rate=rate, ratio=done["ratio"], shift_samples=done["delay"],
                  description=f"Wrote {target}: audio drift of {timeline.drift_ms_per_min:+.1f} ms/min removed: "
                              f"resampled by {done['ratio']:.6f}, shifted by {delay_ms:+.0f} ms")


def piecewise_shift(samples, rate, levels_frames, jumps_s, crossfade_s=CROSSFADE_S):
    """`samples` with each piece (split at `jumps_s`) delayed by its level in frames, the pieces
    joined by linear crossfades of `crossfade_s` centred on the jumps."""
    positions = np.arange(len(samples), dtype=np.float64)
    fade = max(crossfade_s * rate, 1.0)
    bounds = [-math.inf] + [jump * rate for jump in jumps_s] + [math.inf]
    out = np.zeros(samples.shape, dtype=np.float64)
    for level, start, stop in zip(levels_frames, bounds[:-1], bounds[1:]):
        weight = np.clip((positions - start) / fade + 0.5, 0, 1) * np.clip((stop - positions) / fade + 0.5, 0, 1)
        moved = shift_samples(samples, samples_for_offset(level, rate)).astype(np.float64)
        out += moved * weight.reshape((-1,) + (1,) * (samples.ndim - 1))
    return _as_input_type(out, samples)


def _remove_jumps(video, target, timeline):
    levels = [intercept for intercept, _ in timeline.fit.pieces]
    rate = rewrite_audio(video, target, lambda samples, rate: piecewise_shift(samples, rate, levels,
                                                                               timeline.jumps_s))
    pieces = ", ".join(f"{level * 1000 / media.FRAME_RATE:+.0f} ms" for level in levels)
    at = ", ".join(f"{jump:.1f}" for jump in timeline.jumps_s)
    return Repair(target=target, kind="jumps", rate=rate,
                  description=f"Wrote {target}: offset jumps at {at} s removed: pieces shifted by {pieces} "
                              f"(delays), joined by {CROSSFADE_S * 1000:.0f} ms crossfades")

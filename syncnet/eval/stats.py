"""A protocol's dataset numbers: the mean over its units with the sample standard deviation and a
seeded percentile bootstrap interval, and ``paired_difference``, which compares two systems on
the videos they share. Pure functions over per-video outcomes (syncnet.eval.protocols): no I/O.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from typing import Callable, Optional, Sequence

import numpy as np

from syncnet.errors import InputError
from syncnet.eval.protocols import NO_FACE_TRACK, STATUSES, Protocol, TrackScore, VideoOutcome, get_protocol
from syncnet.options import BootstrapOptions

# Bootstrap resamples are drawn in blocks of about this many indices, so memory stays around
# 32 MB (int64) for any sample size, and the loop runs n_boot / block times, not n_boot times.
_BOOTSTRAP_BLOCK = 1 << 22


def _block_rows(n: int) -> int:
    return max(1, _BOOTSTRAP_BLOCK // max(n, 1))


def _bootstrap_means(columns: Sequence[np.ndarray], rng: np.random.Generator, n_boot: int) -> list[np.ndarray]:
    """Means of n_boot resamples (with replacement) of the rows shared by ``columns``.

    The same resampled rows serve every column, so LSE-D and LSE-C (or the two sides of a pair)
    are resampled together. Resamples are drawn in blocks to bound memory.
    """
    n = len(columns[0])
    out = [np.empty(n_boot) for _ in columns]
    rows = _block_rows(n)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        index = rng.integers(0, n, size=(stop - start, n))
        for column, means in zip(columns, out):
            means[start:stop] = column[index].mean(axis=1)
    return out


LEVEL = 0.95  # the interval papers report: dataset.json's "ci95"


def _interval(values: np.ndarray, boot: np.ndarray) -> list[float]:
    # Percentile interval. A resample mean lies in [min, max] of the sample; clipping removes
    # rounding (three copies of 0.1 do not average to exactly 0.1), so a constant sample gives
    # [c, c] and the interval never leaves the sample's range.
    alpha = (1.0 - LEVEL) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    low, high = float(values.min()), float(values.max())
    return [min(max(float(lo), low), high), min(max(float(hi), low), high)]


def _point_mean(values: np.ndarray) -> float:
    mean = math.fsum(values.tolist()) / len(values)
    return min(max(mean, float(values.min())), float(values.max()))


def _describe(values: np.ndarray, boot: np.ndarray) -> dict:
    # std uses ddof=1, the sample standard deviation: the units are a sample of possible
    # videos, and ddof=1 is the unbiased-variance estimate papers mean by "± std". It is None
    # for a single unit, where it is undefined (never NaN in the output).
    # Deviations are taken from the clipped mean, so a constant sample gets exactly 0.
    mean = _point_mean(values)
    std = None
    if len(values) > 1:
        std = math.sqrt(math.fsum(((values - mean) ** 2).tolist()) / (len(values) - 1))
    return {"mean": mean, "std": std, "ci95": _interval(values, boot)}


def _check_bootstrap_args(n_boot: int, seed: int) -> None:
    BootstrapOptions(seed=seed, n_boot=n_boot)  # InputError naming the option and its range


def _unique_videos(outcomes: Sequence[VideoOutcome]) -> None:
    seen = set()
    for outcome in outcomes:
        if outcome.video in seen:
            raise ValueError(f"video {outcome.video} is listed twice")
        seen.add(outcome.video)


def dataset_summary(protocol: "str | Protocol", outcomes: Sequence[VideoOutcome],
                    tracks: Optional[Sequence[TrackScore]] = None, seed: int = BootstrapOptions.seed,
                    n_boot: int = BootstrapOptions.n_boot) -> dict:
    """The protocol's dataset numbers, with spread and a bootstrap interval.

    Units: the scored videos, except for ``wav2lip``, where they are every track of the scored
    videos, because its all_scores.txt has one line per track. ``tracks`` is needed for
    wav2lip only. Tracks of videos that are not scored are ignored.

    Returns a dict with protocol, unit, n (units averaged), n_videos, n_scored, n_excluded,
    n_failed, n_boot, seed, and lse_d / lse_c, each {"mean", "std", "ci95": [lo, hi]}.
    lse_d is None where the protocol reports none. The interval is a percentile bootstrap: units
    resampled with replacement, numpy default_rng(seed), the same resamples for both metrics.

    Raises InputError when no unit was scored, since an empty mean would be a NaN that looks
    like a result.
    """
    spec = get_protocol(protocol)
    _check_bootstrap_args(n_boot, seed)
    outcomes = list(outcomes)
    _unique_videos(outcomes)
    counts = {status: sum(1 for o in outcomes if o.status == status) for status in STATUSES}
    scored = [o for o in outcomes if o.status == "scored"]

    if spec.unit == "track":
        if tracks is None:
            raise ValueError(f"{spec.name} averages over tracks: pass the tracks")
        scored_videos = {o.video for o in scored}
        units = [t for t in tracks if t.video in scored_videos]
        lse_d_values = [t.lse_d for t in units]
        lse_c_values = [t.lse_c for t in units]
    else:
        units = scored
        lse_d_values = [o.lse_d for o in units]
        lse_c_values = [o.lse_c for o in units]

    if not units:
        raise InputError(f"no video was scored: {len(outcomes)} videos, {counts['excluded']} excluded "
                         f"({_exclusion_reasons(outcomes)}), {counts['failed']} failed (protocol {spec.name})")

    lse_c = np.asarray(lse_c_values, dtype=float)
    columns = [lse_c]
    if spec.reports_lse_d:
        lse_d = np.asarray(lse_d_values, dtype=float)
        columns.insert(0, lse_d)
    boot = _bootstrap_means(columns, np.random.default_rng(seed), int(n_boot))
    return {
        "protocol": spec.name,
        "unit": spec.unit,
        "n": len(units),
        "n_videos": len(outcomes),
        "n_scored": counts["scored"],
        "n_excluded": counts["excluded"],
        "n_failed": counts["failed"],
        "n_boot": int(n_boot),
        "seed": seed,
        "lse_d": _describe(lse_d, boot[0]) if spec.reports_lse_d else None,
        "lse_c": _describe(lse_c, boot[-1]),
    }


def _basename(video: str) -> str:
    return os.path.basename(video)


def _scored_by_key(outcomes: Sequence[VideoOutcome], key: Callable[[str], str], side: str) -> dict:
    by_key: dict = {}
    for outcome in outcomes:
        if outcome.status != "scored":
            continue
        k = key(outcome.video)
        if k in by_key:
            raise InputError(f"two scored videos of {side} share the key {k!r} ({by_key[k].video}, "
                             f"{outcome.video}): pair them by a key that tells them apart")
        by_key[k] = outcome
    return by_key


def paired_difference(outcomes_a: Sequence[VideoOutcome], outcomes_b: Sequence[VideoOutcome],
                      seed: int = BootstrapOptions.seed, n_boot: int = BootstrapOptions.n_boot,
                      key: Callable[[str], str] = _basename) -> dict:
    """B minus A on the videos scored in both: the fair way to compare two systems.

    Comparing the two dataset means mixes in which videos each side lost. Pairing keeps only
    the videos both sides scored and resamples whole pairs, which also removes the large
    between-video spread.

    Videos are matched by ``key(video)``, by default the basename, so outputs of two systems in
    two folders pair up. Two scored videos with the same key on one side raise InputError.

    Returns direction "b - a", n_paired, n_only_a (scored in A, not scored in B, absent or
    excluded or failed there), n_only_b, n_boot, seed, and lse_d / lse_c, each
    {"mean_a", "mean_b", "mean_diff", "ci95": [lo, hi]}. For LSE-D a negative difference means B
    is better; for LSE-C a positive one does. lse_d is None unless every paired video has an
    LSE-D on both sides. Raises InputError when no video pairs.
    """
    _check_bootstrap_args(n_boot, seed)
    a = _scored_by_key(outcomes_a, key, "A")
    b = _scored_by_key(outcomes_b, key, "B")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise InputError(f"no video is scored in both runs ({len(a)} scored in A, {len(b)} in B): "
                         f"nothing to pair")
    pairs_a = [a[k] for k in shared]
    pairs_b = [b[k] for k in shared]
    has_d = all(o.lse_d is not None for o in pairs_a + pairs_b)

    metrics = ["lse_d", "lse_c"] if has_d else ["lse_c"]
    sides = {m: (np.asarray([getattr(o, m) for o in pairs_a], dtype=float),
                 np.asarray([getattr(o, m) for o in pairs_b], dtype=float)) for m in metrics}
    diffs = [sides[m][1] - sides[m][0] for m in metrics]
    boot = _bootstrap_means(diffs, np.random.default_rng(seed), int(n_boot))

    result = {
        "direction": "b - a",
        "n_paired": len(shared),
        "n_only_a": len(set(a) - set(b)),
        "n_only_b": len(set(b) - set(a)),
        "n_boot": int(n_boot),
        "seed": seed,
        "lse_d": None,
    }
    for m, diff, boot_means in zip(metrics, diffs, boot):
        values_a, values_b = sides[m]
        result[m] = {
            "mean_a": _point_mean(values_a),
            "mean_b": _point_mean(values_b),
            "mean_diff": _point_mean(diff),
            "ci95": _interval(diff, boot_means),
        }
    return result


def _exclusion_reasons(outcomes: Sequence[VideoOutcome]) -> str:
    """Why videos were excluded: their one reason, or each reason with its count."""
    reasons = Counter(o.reason for o in outcomes if o.status == "excluded")
    if len(reasons) <= 1:
        return next(iter(reasons), NO_FACE_TRACK)
    return "; ".join(f"{n} {reason}" for reason, n in reasons.most_common())


def bootstrap_interval(units: Sequence, statistic: Callable[[list], float], seed: int = BootstrapOptions.seed,
                       n_boot: int = BootstrapOptions.n_boot) -> Optional[list[float]]:
    """The 95% percentile interval of `statistic` over n_boot resamples (with replacement) of
    `units` (videos, speakers), seeded; None for fewer than two units. For statistics that are
    no mean of per-unit numbers (AVA's mAP pools the rows of the videos drawn)."""
    _check_bootstrap_args(n_boot, seed)
    if len(units) < 2:
        return None
    rng = np.random.default_rng(seed)
    values = np.array([statistic([units[i] for i in rng.integers(0, len(units), len(units))])
                       for _ in range(n_boot)])
    alpha = (1.0 - LEVEL) / 2.0
    return [float(value) for value in np.quantile(values, [alpha, 1.0 - alpha])]

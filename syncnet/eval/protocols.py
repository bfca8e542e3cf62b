"""Published LSE-D / LSE-C evaluation protocols: how per-track scores become per-video and dataset numbers.

Lip-sync papers report LSE-D (SyncNet's min dist, lower is better) and LSE-C (confidence, higher
is better), but each public evaluation script gets from face tracks to one dataset number in its
own way. The differences are large enough that numbers from two protocols can't be compared. This
module keeps each protocol's rules in one place, as pure functions over scores that are already
computed. It does no I/O, does not print and does not need torch, so the rules can be tested by hand.

Protocols (sources in the docstrings below):

- ``wav2lip``: Wav2Lip ``calculate_scores_real_videos``: one ``dist conf`` line per face track;
  the dataset mean is over tracks.
- ``wav2lip-lrs``: Wav2Lip ``calculate_scores_LRS`` / TalkLip ``sync_eval``: whole frames resized to
  224x224, one score per video, mean over videos.
- ``latentsync``: LatentSync ``eval_sync_conf``: min_track 50, LSE-C = mean over tracks, no LSE-D.
- ``mocha``: MoChaBench: min_track 50, best confidence and lowest distance over tracks.

Statistics: the dataset mean comes with the sample standard deviation and a seeded percentile
bootstrap interval. ``paired_difference`` compares two systems on the videos they share.
"""
from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

import numpy as np

from syncnet.errors import InputError
from syncnet.options import BootstrapOptions

Status = Literal["scored", "excluded", "failed"]
Unit = Literal["track", "video"]

STATUSES = ("scored", "excluded", "failed")
NO_FACE_TRACK = "no face track"

# Bootstrap resamples are drawn in blocks of about this many indices, so memory stays around
# 32 MB (int64) for any sample size, and the loop runs n_boot / block times, not n_boot times.
_BOOTSTRAP_BLOCK = 1 << 22


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackScore:
    """SyncNet's result for one face track (or, for wav2lip-lrs, for the whole video).

    Each protocol combines these in its own way, so they are kept as they are, one per track.
    ``start_frame``/``end_frame`` locate the track in the 25 fps video; they are None where
    there is no track (wav2lip-lrs scores whole frames).
    """

    video: str
    track: int
    start_frame: Optional[int]
    end_frame: Optional[int]
    lse_d: float
    lse_c: float
    offset: int


@dataclass(frozen=True)
class VideoOutcome:
    """What a protocol makes of one video.

    status:
      - ``scored``: it counts in the dataset numbers;
      - ``excluded``: the protocol leaves it out by design (no face track), reason says why;
      - ``failed``: an error stopped it (reason = the error). The sources drop these too, or
        crash on them. We count them so that a dataset number never hides how many videos it
        is missing.

    lse_d is None where the protocol reports no LSE-D (latentsync); offset is None where it
    defines no per-video offset (wav2lip).
    """

    video: str
    status: Status
    reason: Optional[str]
    n_tracks: int
    lse_d: Optional[float]
    lse_c: Optional[float]
    offset: Optional[int]

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: expected one of {', '.join(STATUSES)}")


# The per-video numbers of a protocol: (lse_d, lse_c, offset) from a non-empty list of tracks.
Aggregator = Callable[[Sequence[TrackScore]], "tuple[Optional[float], float, Optional[int]]"]


@dataclass(frozen=True)
class Protocol:
    """One published way of turning per-track scores into reported numbers.

    pipeline_overrides: run_pipeline options that differ from the reference defaults
      (facedet_scale 0.25, crop_scale 0.40, min_track 100, frame_rate 25, num_failed_det 25,
      min_face_size 100). Scoring keeps batch_size 20 and vshift 15 in every protocol.
    face_tracks: False where the protocol skips detection and scores the whole frame, resized
      to 224x224, as one track (wav2lip-lrs). In that case pipeline_overrides does not apply.
    unit: what the dataset mean and the bootstrap run over: ``track`` (wav2lip's all_scores.txt
      has one line per track) or ``video``.
    reports_lse_d: False where the source throws the distance away (latentsync).
    aggregate: the per-video rule; it is called only with a non-empty list of tracks.
    """

    name: str
    summary: str
    source: str
    pipeline_overrides: Mapping[str, Any] = field(hash=False)
    face_tracks: bool
    unit: Unit
    reports_lse_d: bool
    aggregate: Aggregator = field(repr=False, compare=False)


def _mean_of_tracks(tracks: Sequence[TrackScore]) -> tuple[Optional[float], float, Optional[int]]:
    # wav2lip: the source writes only track lines, so a per-video value is ours. We use the mean
    # of the video's tracks and no offset; the dataset mean stays over tracks.
    return (statistics.fmean(t.lse_d for t in tracks), statistics.fmean(t.lse_c for t in tracks), None)


def _single_track(tracks: Sequence[TrackScore]) -> tuple[Optional[float], float, Optional[int]]:
    # wav2lip-lrs: the whole video is scored as one track.
    if len(tracks) != 1:
        raise ValueError(f"wav2lip-lrs scores a video as exactly one track; got {len(tracks)}")
    (track,) = tracks
    return (track.lse_d, track.lse_c, track.offset)


def _latentsync(tracks: Sequence[TrackScore]) -> tuple[Optional[float], float, Optional[int]]:
    # LatentSync: conf = fmean(confs); av_offset = int(fmean(offsets)), so int() truncates toward
    # zero (-2.5 -> -2). min_dist is discarded.
    return (None, statistics.fmean(t.lse_c for t in tracks), int(statistics.fmean(t.offset for t in tracks)))


def _mocha(tracks: Sequence[TrackScore]) -> tuple[Optional[float], float, Optional[int]]:
    # MoChaBench: max(confs) and min(dists), which may come from different tracks. The source
    # keeps every track's offset and no single offset. We report the offset of the most
    # confident track (the first one if several tie), the track whose sync is clearest.
    best = max(tracks, key=lambda t: t.lse_c)  # max() keeps the first of equal keys
    return (min(t.lse_d for t in tracks), best.lse_c, best.offset)


PROTOCOLS: Mapping[str, Protocol] = MappingProxyType({
    "wav2lip": Protocol(
        name="wav2lip",
        summary="Wav2Lip real videos: reference pipeline, one 'dist conf' line per face track, mean over tracks",
        source="Rudrabha/Wav2Lip evaluation/scores_LSE/calculate_scores_real_videos.{sh,py}",
        pipeline_overrides=MappingProxyType({}),
        face_tracks=True,
        unit="track",
        reports_lse_d=True,
        aggregate=_mean_of_tracks,
    ),
    "wav2lip-lrs": Protocol(
        name="wav2lip-lrs",
        summary="Wav2Lip LRS / TalkLip: no face detection, whole frames resized to 224x224, mean over videos",
        source="Rudrabha/Wav2Lip evaluation/scores_LSE/calculate_scores_LRS.py; Sxjdwang/TalkLip evaluation/sync_eval.py",
        pipeline_overrides=MappingProxyType({}),
        face_tracks=False,
        unit="video",
        reports_lse_d=True,
        aggregate=_single_track,
    ),
    "latentsync": Protocol(
        name="latentsync",
        summary="LatentSync: min_track 50, mp4 conversion and mp4v/AAC crops, LSE-C = mean over tracks, "
                "offset = int(mean), no LSE-D, faceless videos left out",
        source="bytedance/LatentSync eval/eval_sync_conf.py, eval/syncnet_detect.py",
        pipeline_overrides=MappingProxyType({"min_track": 50, "container": "mp4"}),
        face_tracks=True,
        unit="video",
        reports_lse_d=False,
        aggregate=_latentsync,
    ),
    "mocha": Protocol(
        name="mocha",
        summary="MoChaBench: min_track 50, best confidence and lowest distance over tracks, faceless videos left out",
        source="congwei1230/MoChaBench eval-lipsync/script/",
        pipeline_overrides=MappingProxyType({"min_track": 50}),
        face_tracks=True,
        unit="video",
        reports_lse_d=True,
        aggregate=_mocha,
    ),
})


def get_protocol(protocol: "str | Protocol") -> Protocol:
    """The Protocol for a name (or the Protocol itself). An unknown name is an InputError that lists the known ones."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return PROTOCOLS[protocol]
    except (KeyError, TypeError):
        raise InputError(f"unknown protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}") from None


# --------------------------------------------------------------------------------------------
# Per video
# --------------------------------------------------------------------------------------------

def aggregate_video(protocol: "str | Protocol", video: str, tracks: Sequence[TrackScore],
                    error: Optional[str] = None, reason: Optional[str] = None) -> VideoOutcome:
    """One video's outcome under a protocol.

    - error given: ``failed`` with that reason (even if some tracks were scored: the video is
      incomplete, and using it would make its numbers depend on where the run stopped);
    - no track: ``excluded`` with ``reason`` (why the batch found no scored track: "no faces
      detected", "tracks shorter than --min_track", ...), else "no face track". This is what latentsync and mocha do
      explicitly, and what wav2lip does implicitly (no crop, no line). wav2lip-lrs always has
      exactly one track, so an empty list there is a caller error (ValueError);
    - otherwise ``scored``, with the protocol's per-video numbers.

    Every track must belong to ``video`` (ValueError otherwise): mixing videos up would
    silently corrupt max/min/mean.
    """
    spec = get_protocol(protocol)
    tracks = list(tracks)
    strays = sorted({t.video for t in tracks if t.video != video})
    if strays:
        raise ValueError(f"tracks of {', '.join(strays)} passed for video {video}")
    if error is not None:
        return VideoOutcome(video, "failed", error, len(tracks), None, None, None)
    if not tracks:
        if not spec.face_tracks:
            raise ValueError(f"{spec.name} scores a video as exactly one track; got none for {video}")
        return VideoOutcome(video, "excluded", reason or NO_FACE_TRACK, 0, None, None, None)
    lse_d, lse_c, offset = spec.aggregate(tracks)
    return VideoOutcome(video, "scored", None, len(tracks), lse_d if spec.reports_lse_d else None, lse_c, offset)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------

def _float32_text(value: float) -> str:
    # Wav2Lip prints str() of 0-d float32 numpy arrays: numpy's shortest float32 repr.
    return str(np.float32(value))


def format_scores_txt(protocol: "str | Protocol", tracks: Sequence[TrackScore]) -> Optional[str]:
    """The protocol's own per-track text file, or None where the source writes none.

    wav2lip: all_scores.txt, one line per track in the order given, ``LSE-D LSE-C`` separated by
    one space, each as the source prints it (str of a float32: ``5.3530655 10.021``). The file
    has no video names, and an empty input gives an empty file, as the source leaves. The other
    protocols print only summaries (latentsync, wav2lip-lrs) or write a benchmark-specific CSV
    (MoChaBench: category and index columns we do not have), so they get None.
    """
    spec = get_protocol(protocol)
    if spec.name != "wav2lip":
        return None
    return "".join(f"{_float32_text(t.lse_d)} {_float32_text(t.lse_c)}\n" for t in tracks)


def _exclusion_reasons(outcomes: Sequence[VideoOutcome]) -> str:
    """Why videos were excluded: their one reason, or each reason with its count."""
    reasons = Counter(o.reason for o in outcomes if o.status == "excluded")
    if len(reasons) <= 1:
        return next(iter(reasons), NO_FACE_TRACK)
    return "; ".join(f"{n} {reason}" for reason, n in reasons.most_common())


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line for a dataset_summary result, e.g.
    ``LSE-D 7.012 [6.95, 7.07]  LSE-C 7.845 [7.80, 7.89]  n=100  protocol wav2lip``.

    Means get 3 decimals and interval ends 2. LSE-D prints as ``LSE-D n/a`` where the protocol
    reports none, so lines stay aligned. Track units print as ``n=120 tracks of 100 videos``,
    and excluded/failed counts are appended when nonzero, so a short dataset is visible.
    """
    def metric(label: str, value: Optional[Mapping[str, Any]]) -> str:
        if value is None:
            return f"{label} n/a"
        lo, hi = value["ci95"]
        return f"{label} {value['mean']:.3f} [{lo:.2f}, {hi:.2f}]"

    if summary["unit"] == "track":
        count = f"n={summary['n']} tracks of {summary['n_scored']} videos"
    else:
        count = f"n={summary['n']}"
    parts = [metric("LSE-D", summary["lse_d"]), metric("LSE-C", summary["lse_c"]), count]
    for label in ("excluded", "failed"):
        if summary[f"n_{label}"]:
            parts.append(f"{label} {summary[f'n_{label}']}")
    parts.append(f"protocol {summary['protocol']}")
    return "  ".join(parts)

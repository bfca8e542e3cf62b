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

Active-speaker protocols (SPEAKER_PROTOCOLS; their rules in syncnet.eval.active_speaker) score
the ground truth's own face boxes rather than detected tracks:

- ``ava``: AVA-ActiveSpeaker's mAP, as the official ActivityNet script computes it;
- ``columbia``: Columbia ASD's F1 per speaker and their mean.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

from syncnet.errors import InputError

Status = Literal["scored", "excluded", "failed"]
Unit = Literal["track", "video"]

STATUSES = ("scored", "excluded", "failed")
NO_FACE_TRACK = "no face track"


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

    Attributes:
        status: ``scored``: it counts in the dataset numbers; ``excluded``: the protocol leaves it
            out by design (no face track), reason says why; ``failed``: an error stopped it
            (reason = the error). The sources drop these too, or crash on them. We count them so
            that a dataset number never hides how many videos it is missing.
        lse_d: None where the protocol reports no LSE-D (latentsync).
        offset: None where the protocol defines no per-video offset (wav2lip).
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

    Attributes:
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
        source=("Rudrabha/Wav2Lip evaluation/scores_LSE/calculate_scores_LRS.py; "
                "Sxjdwang/TalkLip evaluation/sync_eval.py"),
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


@dataclass(frozen=True)
class SpeakerProtocol:
    """An active-speaker benchmark: scored on the ground truth's boxes (--labels), reported as `metric`."""

    name: str
    summary: str
    source: str
    metric: str


SPEAKER_PROTOCOLS: Mapping[str, SpeakerProtocol] = MappingProxyType({
    "ava": SpeakerProtocol(
        name="ava",
        summary="AVA-ActiveSpeaker: the ground truth's boxes scored, mAP as the official script computes it "
                "(needs --labels)",
        source="activitynet/ActivityNet Evaluation/get_ava_active_speaker_performance.py",
        metric="mAP",
    ),
    "columbia": SpeakerProtocol(
        name="columbia",
        summary="Columbia ASD: the ground truth's boxes scored, F1 of the speaking decision per speaker and "
                "their mean (needs --labels)",
        source="Chakravarty & Tuytelaars, ECCV 2016 (Columbia ASD); F1 as TalkNet and Light-ASD report it",
        metric="mean_F1",
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

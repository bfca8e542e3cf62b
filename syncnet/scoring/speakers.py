"""Who speaks when: per frame, each visible track's speaking score and the speaking track
(speakers.json), as one decision that the AVA CSV and the RTTM of syncnet.scoring.asd share.

The score. A track's score on a frame says how much better its lips match the audio in sync
than at a typical wrong offset: for each 5-frame window, the median of its distances over all
offsets minus its distance at the track's best offset within +-max_offset frames of sync,
padded with zeros (no evidence) and median-filtered over 9 frames
(syncnet.scoring.offsets.frame_sync_contrast). It is in the distance's units, as LSE-C is. It
is about 0 for a still face, for a face whose lips move unheard (a dub, a voice-over) and for
a face whose lips match the audio only further off than the tolerance (an 8-frame shifted feed):
each window is compared with itself at other offsets, so neither loud audio nor the track's
other windows can lift it. It grows with the evidence (a smaller in-sync distance, a larger
score) and nothing else, so ranking faces by it is meaningful: it is the AVA CSV's `score`.
(run_visualise's per-frame confidence, which speakers.json held before, measures a window
against the whole track's median: a still face scores high wherever the audio happens to be
quiet, and the measurement in docs/speakers.md found it naming the narrator's silent listener.)

The decision. A track speaks on a run of frames that starts where its score rises above
`speaker_threshold` and lasts while it stays above `speaker_release` (hysteresis: a syllable's
dip does not end a turn), if the run holds at least `min_speaking_frames` frames (a blip of
noise is no turn); a track can only speak where its score exists. Several tracks may speak at
once (an overlap): the RTTM has each. speakers.json's single `speaker` of a frame is the
speaking track with the highest score there (the lower index on a tie). The defaults
(syncnet.options.OutputOptions) were measured on the synthetic world's conversation scenes with
the trained test model: see docs/speakers.md.
"""
import math

import numpy as np

from syncnet.io.media import FRAME_RATE
from syncnet.options import OutputOptions
from syncnet.scoring.offsets import best_column, column_of_offset, frame_sync_contrast


def speaking_track(confidence, threshold):
    """The track with the highest confidence above `threshold` (the lower index on a tie), or None."""
    best = max(sorted(confidence), key=confidence.__getitem__, default=None)
    return best if best is not None and confidence[best] > threshold else None


def speaking_segments(speakers):
    """Runs of frames with the same speaker: [{"track", "start_frame", "end_frame"}], ends inclusive."""
    segments = []
    for frame, speaker in enumerate(speakers):
        if speaker is None:
            continue
        if segments and segments[-1]["track"] == speaker and segments[-1]["end_frame"] == frame - 1:
            segments[-1]["end_frame"] = frame
        else:
            segments.append({"track": speaker, "start_frame": frame, "end_frame": frame})
    return segments


def in_sync_column(dists, max_offset):
    """The column of a distance table (windows x 2*vshift+1) with the smallest mean distance among
    the offsets within +-max_offset frames of sync: where a speaking face's lips meet the audio."""
    dists = np.asarray(dists)
    vshift = dists.shape[1] // 2
    reach = min(int(max_offset), vshift)
    first, last = column_of_offset(reach, vshift), column_of_offset(-reach, vshift)
    return first + best_column(dists.mean(0)[first:last + 1])


def speaking_scores(track, max_offset=OutputOptions.speaker_max_offset):
    """A TrackResult's speaking score on each of its frames (NaN where it has none; see the
    module's text)."""
    dists = np.asarray(track.dists)
    if len(dists) == 0:
        return np.full(len(track.frames), np.nan)
    return frame_sync_contrast(dists, len(track.frames), in_sync_column(dists, max_offset))


def speaking_runs(scores, threshold=OutputOptions.speaker_threshold, release=OutputOptions.speaker_release,
                  min_frames=OutputOptions.min_speaking_frames):
    """Whether a track speaks on each frame of `scores` (its speaking scores; NaN = no score): a
    run starts above `threshold`, lasts while above `release` (or `threshold`, if lower), and
    counts from `min_frames` frames."""
    scores = np.asarray(scores, dtype=float)
    release = min(release, threshold)
    speaking = np.zeros(len(scores), dtype=bool)
    on = False
    for index, value in enumerate(scores):
        on = not math.isnan(value) and (value > threshold or (on and value > release))
        speaking[index] = on
    edges = np.flatnonzero(np.diff(np.r_[0, speaking.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start < min_frames:
            speaking[start:stop] = False
    return speaking


def track_decisions(tracks, outputs=OutputOptions()):
    """Per TrackResult: (its speaking scores, whether it speaks on each of its frames)."""
    decisions = []
    for track in tracks:
        scores = speaking_scores(track, outputs.speaker_max_offset)
        decisions.append((scores, speaking_runs(scores, outputs.speaker_threshold, outputs.speaker_release,
                                                outputs.min_speaking_frames)))
    return decisions


def speakers_document(tracks, n_frames, outputs=OutputOptions(), decisions=None):
    """speakers.json: per frame, each visible track's speaking score (`confidence`) and the
    speaking track (`speaker`), with the runs of one speaker (`segments`). `decisions` are
    track_decisions(tracks, outputs), when the caller has them.

    Frames run over the whole video (at least to the last track's end). A frame of a track
    whose audio had ended has no score, and that track cannot speak there.
    """
    n_frames = max([n_frames] + [track.end_frame + 1 for track in tracks])
    confidences = [{} for _ in range(n_frames)]
    speaking = [{} for _ in range(n_frames)]
    for track, (scores, runs) in zip(tracks, decisions or track_decisions(tracks, outputs)):
        for frame, value, on in zip(track.frames.tolist(), scores.tolist(), runs.tolist()):
            if not math.isnan(value):
                confidences[frame][track.track] = value
                if on:
                    speaking[frame][track.track] = value
    speakers = [speaking_track(scores, -math.inf) for scores in speaking]
    return {
        "frame_rate": FRAME_RATE,
        "speaker_threshold": outputs.speaker_threshold,
        "tracks": [{"track": t.track, "file": t.file, "start_frame": t.start_frame, "end_frame": t.end_frame}
                   for t in tracks],
        "frames": [{"frame": frame, "confidence": {str(track): value for track, value in confidence.items()},
                    "speaker": speaker}
                   for frame, (confidence, speaker) in enumerate(zip(confidences, speakers))],
        "segments": speaking_segments(speakers),
    }

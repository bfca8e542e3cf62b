"""Who speaks when: per frame, each visible track's confidence and the speaking track (speakers.json).

The confidence is run_visualise's smoothed per-frame confidence. Before padding and smoothing,
its mean over a track's windows is exactly the track's confidence (LSE-C): one scale serves both.
"""
import os

from .fileio import save_json
from .media import FRAME_RATE
from .visualise import faces_by_frame

# A frame is "speaking" when its face is as convincing as a track that passes --min_conf (3):
# with the official weights, clear speech typically scores about 5 to 10 per frame, silent or
# mismatched faces stay near 0, and 3 sits between them, clear of that noise.
DEFAULT_SPEAKER_THRESHOLD = 3.0


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


def speaker_table(tracks, dists_per_track, records, n_frames, threshold):
    """The speakers.json document. Frames run over the whole video (at least to the last track's end).

    `records` are run_syncnet's per-track results (syncnet.results.track_results).
    """
    n_frames = max([n_frames] + [int(track["track"]["frame"][-1]) + 1 for track in tracks])
    confidences = [{face["track"]: face["conf"] for face in faces}
                   for faces in faces_by_frame(tracks, dists_per_track, n_frames)]
    speakers = [speaking_track(confidence, threshold) for confidence in confidences]
    return {
        "frame_rate": FRAME_RATE,
        "speaker_threshold": threshold,
        "tracks": [{key: record[key] for key in ("track", "file", "start_frame", "end_frame")}
                   for record in records],
        "frames": [{"frame": frame, "confidence": {str(track): value for track, value in confidence.items()},
                    "speaker": speaker}
                   for frame, (confidence, speaker) in enumerate(zip(confidences, speakers))],
        "segments": speaking_segments(speakers),
    }


def write_speakers(layout, tracks, dists_per_track, records, threshold=DEFAULT_SPEAKER_THRESHOLD):
    """pywork/REFERENCE/speakers.json, over every frame of pyframes/REFERENCE."""
    n_frames = len(layout.frame_files()) if os.path.isdir(layout.frames) else 0
    save_json(speaker_table(tracks, dists_per_track, records, n_frames, threshold),
              os.path.join(layout.work, "speakers.json"))

"""Who speaks when: per frame, each visible track's confidence and the speaking track (speakers.json).

The default threshold, 3 (syncnet.options.OutputOptions), is where a frame is as convincing as a
track that passes --min_conf: with the official weights clear speech typically scores about 5 to
10 per frame, silent or mismatched faces stay near 0, and 3 sits between them, clear of that noise.

The confidence is run_visualise's smoothed per-frame confidence. Before padding and smoothing,
its mean over a track's windows is exactly the track's confidence (LSE-C): one scale serves both.
"""
import math

from syncnet.io.media import FRAME_RATE


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


def speakers_document(tracks, n_frames, threshold):
    """speakers.json: per frame, each visible track's confidence and the speaking track.

    Frames run over the whole video (at least to the last track's end). A frame of a track
    whose audio had ended has no confidence, and that track cannot speak there.
    """
    n_frames = max([n_frames] + [track.end_frame + 1 for track in tracks])
    confidences = [{} for _ in range(n_frames)]
    for track in tracks:
        for frame, value in zip(track.frames.tolist(), track.frame_confidence.tolist()):
            if not math.isnan(value):
                confidences[frame][track.track] = value
    speakers = [speaking_track(confidence, threshold) for confidence in confidences]
    return {
        "frame_rate": FRAME_RATE,
        "speaker_threshold": threshold,
        "tracks": [{"track": t.track, "file": t.file, "start_frame": t.start_frame, "end_frame": t.end_frame}
                   for t in tracks],
        "frames": [{"frame": frame, "confidence": {str(track): value for track, value in confidence.items()},
                    "speaker": speaker}
                   for frame, (confidence, speaker) in enumerate(zip(confidences, speakers))],
        "segments": speaking_segments(speakers),
    }

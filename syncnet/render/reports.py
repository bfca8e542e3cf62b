"""The text the commands print: the reference's result lines, and our one-line summaries.

Formatting lives here so that every command words a result the same way; only the commands
print it.
"""
import numpy as np

from syncnet.io.media import FRAME_RATE
from syncnet.options import OutputOptions


def demo_report(score, min_conf=OutputOptions.min_conf):
    """What the reference demo printed after loading the model: the length warning when audio
    and video differ, the compute time, the framewise confidence, and the three result lines;
    then ours (the offset in ms, a note on an offset at the searched range's edge judged by
    `min_conf`, the timeline)."""
    lines = []
    if score.lengths_differ:
        lines.append("WARNING: Audio (%.4fs) and video (%.4fs) lengths are different."
                     % (score.audio_seconds, score.n_frames / FRAME_RATE))
    lines.append("Compute time %.3f sec." % score.seconds)
    with np.printoptions(formatter={"float": "{: 0.3f}".format}):
        lines += ["Framewise conf: ", str(score.summary.framewise_conf)]
    lines.append(result_lines(score.summary.offset, score.summary.min_dist, score.summary.confidence))
    lines.append(offset_ms_line(score.summary.offset))
    lines += edge_warning(score.summary.offset, len(score.summary.mean_dists) // 2, score.summary.confidence,
                          min_conf)
    if score.timeline is not None:
        lines.append(timeline_line(score.timeline))
    return "\n".join(lines)


def offset_ms_line(offset):
    """The offset in milliseconds, after the reference's lines (1 frame = 40 ms)."""
    way = "audio early" if offset > 0 else "audio late" if offset < 0 else "in sync"
    return f"AV offset (ms): \t{offset * 1000 // FRAME_RATE:+d} ms ({way})"


def timeline_line(timeline):
    """One line on the sync over time: the verdict and the numbers behind it."""
    reliable, total = len(timeline.reliable_segments), len(timeline.segments)
    head = f"Timeline: {timeline.verdict} ({reliable} of {total} segments of {timeline.segment_s:g} s reliable"
    if timeline.fit is None:
        return head + ")"
    numbers = (f"offset {timeline.offset_ms_at_start:+.0f} ms at the start, {timeline.offset_ms_at_end:+.0f} ms "
               f"at the end, drift {timeline.drift_ms_per_min:+.1f} ms/min")
    jumps = f", jumps at {', '.join(f'{jump:.1f}' for jump in timeline.jumps_s)} s" if timeline.jumps_s else ""
    return f"{head}; {numbers}{jumps})"


def result_lines(offset, min_dist, confidence):
    """The reference's three result lines, byte for byte."""
    return "AV offset: \t%d \nMin dist: \t%.3f\nConfidence: \t%.3f" % (offset, min_dist, confidence)


def edge_warning(offset, vshift, confidence, min_conf=OutputOptions.min_conf):
    """A note when the best offset is the largest one searched: with a confidence of at least
    `min_conf`, the true lag may lie beyond it; below, the offset is unreliable (an unconfident
    curve's minimum lands anywhere, its ends included), and a wider search would not help."""
    if not vshift or abs(offset) != vshift:
        return []
    if not confidence >= min_conf:
        return [f"Note: the best offset, {offset:+d}, is at the edge of the searched range, but the confidence "
                f"{confidence:.3f} is below --min_conf {min_conf:g}: the offset is unreliable (no clear sync "
                "peak), not necessarily beyond the range."]
    return [f"Note: the best offset, {offset:+d}, is at the edge of the searched range "
            f"(-{vshift}..+{vshift}), so the true offset may lie outside it: rerun with a "
            "larger --vshift to search further."]


def no_track_report(tally, options, crop_dir, detected=True):
    """Why run_pipeline kept no face track: how many frames had a face, and what each filter
    removed, naming the option to change. `tally` is a syncnet.pipeline.tracking.TrackTally,
    `options` the PipelineOptions; `detected`: the faces came from S3FD (not --faces)."""
    from syncnet.pipeline.tracking import NO_FACES

    head = f"No face track was kept, so {crop_dir} is empty ({tally.reason}): "
    if tally.reason == NO_FACES:
        where = (f"S3FD found no face scoring above --facedet_conf {options.facedet_conf:g} in any of the "
                 f"{tally.n_frames} frames (a lower --facedet_conf keeps less certain faces)"
                 if detected else f"the detections given list no face in any of the {tally.n_frames} frames")
        return head + where + "."
    removed = []
    if tally.too_short:
        removed.append(f"{tally.too_short} had --min_track {options.min_track} detections or fewer "
                       "(or lay in a shorter scene)")
    if tally.too_small:
        removed.append(f"{tally.too_small} had a mean face size of --min_face_size {options.min_face_size} "
                       "pixels or less")
    return (head + f"{tally.frames_with_faces} of {tally.n_frames} frames have a face, but of their "
            f"{tally.too_short + tally.too_small} track(s), " + " and ".join(removed) + ".")


def track_report(track, crop_path, vshift, min_conf=OutputOptions.min_conf):
    """run_syncnet's block for one face track, named by its crop file (its edge note judged by `min_conf`)."""
    if not track.scored:
        return f"{crop_path} (frames {track.start_frame}-{track.end_frame}): not scored, no audio for its frames"
    lines = [f"{crop_path} (frames {track.start_frame}-{track.end_frame})",
             result_lines(track.offset, track.min_dist, track.confidence), offset_ms_line(track.offset)]
    if track.timeline is not None:
        lines.append(timeline_line(track.timeline))
    return "\n".join(lines + edge_warning(track.offset, vshift, track.confidence, min_conf))


def describe_shift(target, offset, shift, rate):
    """One line for the user: what was written, and which way the audio moved."""
    if offset == 0:
        return f"Wrote {target}: offset 0, the audio is unchanged."
    way = "delayed" if offset > 0 else "advanced"
    return (f"Wrote {target}: audio {way} by {abs(offset)} frame(s) "
            f"({abs(shift)} samples at {rate} Hz).")


def written(paths):
    """One line listing the files a command wrote."""
    return "Wrote " + ", ".join(str(path) for path in paths)

"""Who speaks when, in the active-speaker field's formats: AVA-ActiveSpeaker's CSV (asd.csv) and
RTTM (speakers.rttm), from the same decision as speakers.json (syncnet.scoring.speakers).

asd.csv has no header, as the AVA files have none; its columns are AVA's prediction columns:
video_id, frame_timestamp (seconds), entity_box_x1, y1, x2, y2 (normalised to the frame, 0..1),
label, entity_id, score. Every row is labelled SPEAKING_AUDIBLE, the class its score is for (the
official evaluation refuses any other label in predictions); `score` is the speaking score, and
a box that could not be scored (its track's audio had ended) gets the lowest score, -inf, not a
missing row. speakers.rttm has one SPEAKER line per run of frames in which a track speaks.
"""
import csv
import io
import math

from syncnet.io.media import FRAME_RATE

SPEAKING, NOT_SPEAKING = "SPEAKING_AUDIBLE", "NOT_SPEAKING"
AVA_COLUMNS = ("video_id", "frame_timestamp", "entity_box_x1", "entity_box_y1", "entity_box_x2", "entity_box_y2",
               "label", "entity_id", "score")
UNSCORED = -math.inf  # the score of a box that could not be scored: below every real score


def entity_id(reference, track):
    """A track's AVA entity id: the video's reference and the track's index."""
    return f"{reference}:{track}"


def frame_timestamp(frame):
    """A 25 fps frame's time in seconds, as asd.csv writes it."""
    return round(frame / FRAME_RATE, 2)


def ava_row(video_id, timestamp, box, entity, score):
    """One AVA prediction row (a list in AVA_COLUMNS' order); `box` is (x1, y1, x2, y2), normalised."""
    return [video_id, timestamp, *(float(value) for value in box), SPEAKING, entity,
            UNSCORED if score is None or math.isnan(score) else float(score)]


def asd_rows(reference, tracks, decisions, frame_size):
    """asd.csv's rows: one per box of every track (TrackResults, with their (scores, speaking)
    decisions), boxes divided by `frame_size` (width, height)."""
    width, height = frame_size
    rows = []
    for track, (scores, _) in zip(tracks, decisions):
        for frame, box, score in zip(track.frames.tolist(), track.boxes.tolist(), scores.tolist()):
            x1, y1, x2, y2 = box
            rows.append(ava_row(reference, frame_timestamp(frame), (x1 / width, y1 / height, x2 / width, y2 / height),
                                entity_id(reference, track.track), score))
    return rows


def csv_text(rows):
    """Rows as CSV text without a header (AVA's files have none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([repr(value) if isinstance(value, float) and not math.isinf(value) else value
                         for value in row])
    return buffer.getvalue()


def rttm_text(reference, tracks, decisions):
    """speakers.rttm: a SPEAKER line for each run of frames in which a track speaks (overlaps
    included), the track named `track_N`, times in seconds at 25 fps."""
    lines = []
    for track, (_, speaking) in zip(tracks, decisions):
        frames = track.frames.tolist()
        start = None
        for position, on in enumerate(list(speaking) + [False]):
            if on and start is None:
                start = position
            elif not on and start is not None:
                onset, duration = frames[start] / FRAME_RATE, (position - start) / FRAME_RATE
                lines.append(f"SPEAKER {reference} 1 {onset:.3f} {duration:.3f} <NA> <NA> track_{track.track} "
                             "<NA> <NA>")
                start = None
    return "".join(line + "\n" for line in sorted(lines, key=lambda line: float(line.split()[3])))

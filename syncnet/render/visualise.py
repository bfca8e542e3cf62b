"""run_visualise: every track's box drawn on the video, coloured by its per-frame confidence (or,
with `speakers`, green where the face speaks and red where it is silent, as the active-speaker
field draws it), and the who-speaks-when plot."""
import json
import math
import os

import cv2
import numpy as np

from syncnet.errors import InputError, MediaError
from syncnet.io import media
from syncnet.io.fileio import atomic_path, load_pickle
from syncnet.io.frames import frame_files, read_image, read_images
from syncnet.scoring.offsets import track_frame_confidence


def faces_by_frame(tracks, dists_per_track, n_frames):
    """For each frame, the (track, conf, x, y, s) of every track visible in it."""
    faces = [[] for _ in range(n_frames)]
    for index, (track, dists) in enumerate(zip(tracks, dists_per_track)):
        frames = track["track"]["frame"].tolist()
        confidence = track_frame_confidence(dists, len(frames))
        smoothed = track["proc_track"]
        for position, frame in enumerate(frames):
            faces[frame].append({"track": index, "conf": float(confidence[position]),
                                 "x": float(smoothed["x"][position]), "y": float(smoothed["y"][position]),
                                 "s": float(smoothed["s"][position])})
    return faces


def speaking_frames(rttm_path):
    """{track: set of frames in which it speaks} from speakers.rttm."""
    speaking = {}
    with open(rttm_path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 8 and fields[0] == "SPEAKER" and fields[7].startswith("track_"):
                first = int(round(float(fields[3]) * media.FRAME_RATE))
                count = int(round(float(fields[4]) * media.FRAME_RATE))
                speaking.setdefault(int(fields[7][len("track_"):]), set()).update(range(first, first + count))
    return speaking


def mark_speakers(faces, speakers, speaking):
    """Each face of `faces_by_frame` with its speaking score (speakers.json's) as its confidence,
    and whether it speaks there (`speaking`, from speaking_frames)."""
    for frame, frame_faces in enumerate(faces):
        scores = speakers["frames"][frame]["confidence"] if frame < len(speakers["frames"]) else {}
        for face in frame_faces:
            face["conf"] = scores.get(str(face["track"]), math.nan)
            face["speaking"] = frame in speaking.get(face["track"], ())
    return faces


BOX_THICKNESS = 3
SPEAKING_GREEN, SILENT_RED = (0.0, 255.0, 0.0), (0.0, 0.0, 255.0)
LABEL_FONT, LABEL_SCALE, LABEL_THICKNESS = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 2


def draw_faces(image, faces):
    """Each face's box, coloured by its confidence (red 0 to green 10+), with its label; a face
    marked by mark_speakers is green where it speaks and red where it is silent, with its score.

    As the reference draws them: the label's baseline on the box's top edge (the golden frames
    of tests/integration/test_pipeline.py hold that placement to 3 levels, which moving the text by even a
    few pixels exceeds). Where the reference would draw off the frame, the box is clipped to it
    (its edges stay visible) and the label is kept inside: just below the box's top edge when
    there is no room above it, and shifted left from the frame's right border.
    """
    height, width = image.shape[:2]
    for face in faces:
        unscored = math.isnan(face["conf"])  # the track's audio had ended: no confidence
        green = 0.0 if unscored else min(max(face["conf"] * 25, 0.0), 255.0)
        colour = (0.0, green, 255.0 - green)
        if "speaking" in face:
            colour = SPEAKING_GREEN if face["speaking"] else SILENT_RED
        left, top = _clip(int(face["x"] - face["s"]), width), _clip(int(face["y"] - face["s"]), height)
        right, bottom = _clip(int(face["x"] + face["s"]), width), _clip(int(face["y"] + face["s"]), height)
        # Plain floats: OpenCV 5 rejects numpy scalars in a colour.
        cv2.rectangle(image, (left, top), (right, bottom), colour, BOX_THICKNESS)
        label = ("Track %d, no audio" % face["track"] if unscored
                 else "Track %d, Conf %.3f" % (face["track"], face["conf"]) if "speaking" not in face
                 else "Track %d, %s %.2f" % (face["track"], "speaking" if face["speaking"] else "silent", face["conf"]))
        cv2.putText(image, label, _label_origin(label, left, top, width, height), LABEL_FONT, LABEL_SCALE,
                    (255, 255, 255), LABEL_THICKNESS)
    return image


def _clip(value, size):
    """A coordinate inside the frame, one line's half thickness from its border."""
    return min(max(value, BOX_THICKNESS // 2), size - 1 - BOX_THICKNESS // 2)


def _label_origin(label, left, top, width, height):
    """Where the label's baseline starts: the reference's place, the box's top-left corner, when
    the label fits in the frame there; else inside the frame, clear of the box's top edge."""
    (text_width, text_height), descent = cv2.getTextSize(label, LABEL_FONT, LABEL_SCALE, LABEL_THICKNESS)
    baseline = top
    if baseline - text_height < 0:  # no room above the box: just inside its top edge
        baseline = top + BOX_THICKNESS // 2 + 1 + descent + text_height
    x = min(max(left, 0), max(width - text_width, 0))
    return x, min(baseline, height - 1 - descent)


def write_visualisation(frame_paths, faces, avi_dir, frame_rate):
    """pyavi/R/video_only.avi (XVID) and video_out.avi (the same with the audio); both appear
    complete, or neither does."""
    if not frame_paths:
        raise InputError("no frames to draw on: run run_pipeline.py first")
    height, width = read_image(frame_paths[0]).shape[:2]
    video_only, video_out = os.path.join(avi_dir, "video_only.avi"), os.path.join(avi_dir, "video_out.avi")
    with atomic_path(video_only) as silent, atomic_path(video_out) as with_audio:
        writer = cv2.VideoWriter(silent, cv2.VideoWriter_fourcc(*"XVID"), frame_rate, (width, height))
        if not writer.isOpened():
            raise MediaError(f"OpenCV cannot write the XVID video {video_only}")
        try:
            for image, frame_faces in zip(read_images(frame_paths), faces):
                writer.write(draw_faces(image, frame_faces))
        finally:
            writer.release()
        media.check_video_written(silent, len(frame_paths))
        media.mux(silent, os.path.join(avi_dir, "audio.wav"), with_audio)
    return video_only, video_out


def track_timelines(path, tracks):
    """(timeline.json's entry, start s, length s) of each track with segments; none when the run
    has no timeline.json (one from before timelines)."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)["tracks"]
    chosen = []
    for entry in entries:
        frames = tracks[entry["track"]]["track"]["frame"]
        if entry["segments"]:
            chosen.append((entry, frames[0] / media.FRAME_RATE, len(frames) / media.FRAME_RATE))
    return chosen


def visualise_run(layout, frame_rate=25, speakers=False):
    """run_visualise.py: video_only.avi, video_out.avi and confidence.png in pyavi/REFERENCE;
    returns their paths. With `speakers`, the boxes mark who speaks (speakers.rttm) with their
    speaking scores (speakers.json), green or red."""
    from syncnet.render.plots import plot_speakers

    with layout.lock():
        _, layout = layout.require_pipeline("run_visualise.py")
        needed = {name: layout.work_file(name) for name in ("tracks.pckl", "activesd.pckl", "speakers.json")}
        for path in needed.values():
            if not os.path.isfile(path):
                raise InputError(f"{path} not found: run run_syncnet.py first")
        tracks = load_pickle(needed["tracks.pckl"])
        dists_per_track = [np.asarray(dists) for dists in load_pickle(needed["activesd.pckl"])]
        if len(tracks) != len(dists_per_track):
            raise InputError(f"{needed['tracks.pckl']} has {len(tracks)} tracks but "
                             f"{needed['activesd.pckl']} has {len(dists_per_track)}: rerun run_syncnet.py")
        frame_paths = frame_files(layout.frames)
        faces = faces_by_frame(tracks, dists_per_track, len(frame_paths))
        with open(needed["speakers.json"], encoding="utf-8") as handle:
            table = json.load(handle)
        if speakers:
            rttm = layout.work_file("speakers.rttm")
            if not os.path.isfile(rttm):
                raise InputError(f"{rttm} not found: run run_syncnet.py again (it writes speakers.rttm)")
            faces = mark_speakers(faces, table, speaking_frames(rttm))
        paths = list(write_visualisation(frame_paths, faces, layout.avi, frame_rate))
        plot = os.path.join(layout.avi, "confidence.png")
        plot_speakers(table, plot, track_timelines(layout.work_file("timeline.json"), tracks))
    return paths + [plot]

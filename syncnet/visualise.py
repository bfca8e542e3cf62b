"""run_visualise: every track's box drawn on the video, coloured by its per-frame confidence."""
import os

import cv2
import numpy as np

from . import media
from .errors import SyncNetError
from .fileio import atomic_path
from .frames import read_image, read_images
from .scoring import track_frame_confidence


def faces_by_frame(tracks, dists_per_track, n_frames):
    """For each frame, the (track, conf, x, y, s) of every track visible in it."""
    faces = [[] for _ in range(n_frames)]
    for index, (track, dists) in enumerate(zip(tracks, dists_per_track)):
        confidence = track_frame_confidence(np.asarray(dists))
        smoothed = track["proc_track"]
        for position, frame in enumerate(track["track"]["frame"].tolist()):
            faces[frame].append({"track": index, "conf": float(confidence[position]),
                                 "x": float(smoothed["x"][position]), "y": float(smoothed["y"][position]),
                                 "s": float(smoothed["s"][position])})
    return faces


def draw_faces(image, faces):
    for face in faces:
        green = min(max(face["conf"] * 25, 0.0), 255.0)
        top_left = (int(face["x"] - face["s"]), int(face["y"] - face["s"]))
        bottom_right = (int(face["x"] + face["s"]), int(face["y"] + face["s"]))
        # Plain floats: OpenCV 5 rejects numpy scalars in a colour.
        cv2.rectangle(image, top_left, bottom_right, (0.0, green, 255.0 - green), 3)
        cv2.putText(image, "Track %d, Conf %.3f" % (face["track"], face["conf"]), top_left,
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
    return image


def write_visualisation(frame_paths, faces, avi_dir, frame_rate):
    """pyavi/R/video_only.avi (XVID) and video_out.avi (the same with the audio)."""
    if not frame_paths:
        raise SyncNetError("no frames to draw on: run run_pipeline.py first")
    height, width = read_image(frame_paths[0]).shape[:2]
    video_only = os.path.join(avi_dir, "video_only.avi")
    with atomic_path(video_only) as temporary:
        writer = cv2.VideoWriter(temporary, cv2.VideoWriter_fourcc(*"XVID"), frame_rate, (width, height))
        if not writer.isOpened():
            raise SyncNetError(f"OpenCV cannot write the XVID video {video_only}")
        try:
            for image, frame_faces in zip(read_images(frame_paths), faces):
                writer.write(draw_faces(image, frame_faces))
        finally:
            writer.release()
    with atomic_path(os.path.join(avi_dir, "video_out.avi")) as temporary:
        media.mux(video_only, os.path.join(avi_dir, "audio.wav"), temporary)

"""run_pipeline's steps: convert, detect faces, find scenes, track, and crop each face track."""
import logging
import os
import shutil

import cv2

from . import media
from .cropping import crop_face, smooth_track
from .errors import InputError, SyncNetError
from .fileio import atomic_path, load_pickle, save_pickle
from .frames import read_images
from .progress import progress_bar
from .scenes import detect_scenes
from .tracking import track_faces

log = logging.getLogger(__name__)

CROP_SIZE = 224


def convert_input(layout, videofile):
    """pyavi/R/video.avi (25 fps), pyframes/R/%06d.jpg and pyavi/R/audio.wav."""
    video = os.path.join(layout.avi, "video.avi")
    media.convert_video(videofile, video)
    media.extract_frames(video, layout.frames, quality=2)
    media.extract_audio(video, os.path.join(layout.avi, "audio.wav"), resync=False)
    frame_paths = layout.frame_files()
    if not frame_paths:
        raise InputError(f"{videofile}: ffmpeg found no video frames in it")
    return video, frame_paths


def read_saved_faces(layout):
    """The detections of an earlier run (faces.pckl), or None when there are none."""
    path = os.path.join(layout.work, "faces.pckl")
    if not os.path.isfile(path):
        return None
    try:
        faces = load_pickle(path)
    except Exception as error:
        raise InputError(f"--reuse_faces: cannot read {path}: {error}") from None
    if not isinstance(faces, list) or not all(isinstance(frame, list) for frame in faces):
        raise InputError(f"--reuse_faces: {path} is not a list of per-frame detection lists")
    return faces


def check_faces_match_frames(faces, frame_paths, source):
    if len(faces) != len(frame_paths):
        raise InputError(f"{source} has detections for {len(faces)} frames but the video has "
                         f"{len(frame_paths)}; run without --reuse_faces to detect again")


def crop_track(track, frame_paths, crop_path, audio_path, tmp_dir, crop_scale, frame_rate):
    """Write the 224x224 face video of one track with its audio; returns the tracks.pckl entry."""
    smoothed = smooth_track(track["bbox"])
    silent = os.path.join(tmp_dir, os.path.basename(crop_path)[:-4] + "t.avi")
    writer = cv2.VideoWriter(silent, cv2.VideoWriter_fourcc(*"XVID"), frame_rate, (CROP_SIZE, CROP_SIZE))
    if not writer.isOpened():
        raise SyncNetError(f"OpenCV cannot write the XVID video {silent}")
    try:
        images = read_images([frame_paths[f] for f in track["frame"]])
        for index, image in enumerate(images):
            writer.write(crop_face(image, smoothed["x"][index], smoothed["y"][index],
                                   smoothed["s"][index], crop_scale, CROP_SIZE))
    finally:
        writer.release()

    track_audio = os.path.join(tmp_dir, "audio.wav")
    first, last = int(track["frame"][0]), int(track["frame"][-1])
    media.cut_audio(audio_path, first / frame_rate, (last + 1) / frame_rate, track_audio)
    with atomic_path(crop_path) as temporary:
        media.mux(silent, track_audio, temporary)
    os.remove(silent)
    return {"track": track, "proc_track": smoothed}


def run_pipeline(opt, layout, detector_factory):
    """All of run_pipeline.py after argument parsing; returns the list of tracks.pckl entries.

    `opt` is run_pipeline.py's options; `detector_factory()` makes the face detector when needed.
    """
    saved_faces = read_saved_faces(layout) if opt.reuse_faces else None
    if opt.reuse_faces and saved_faces is None:
        log.warning("--reuse_faces: no %s, detecting faces", os.path.join(layout.work, "faces.pckl"))
    layout.reset()

    _, frame_paths = convert_input(layout, opt.videofile)
    faces_path = os.path.join(layout.work, "faces.pckl")
    if saved_faces is not None:
        check_faces_match_frames(saved_faces, frame_paths, faces_path)
        faces = saved_faces
    else:
        from .detection import detect_faces_in_frames

        detector = detector_factory()
        with progress_bar(len(frame_paths), "detecting faces", "frame", opt.quiet) as bar:
            faces = detect_faces_in_frames(detector, frame_paths, opt.facedet_scale,
                                           conf_th=opt.facedet_conf, progress=bar.update)
    save_pickle(faces, faces_path)

    scenes = detect_scenes(os.path.join(layout.avi, "video.avi"))
    save_pickle(scenes, os.path.join(layout.work, "scene.pckl"))

    tracks = track_faces(faces, scenes, num_failed_det=opt.num_failed_det, min_track=opt.min_track,
                         min_face_size=opt.min_face_size)
    audio_path = os.path.join(layout.avi, "audio.wav")
    cropped = [crop_track(track, frame_paths, os.path.join(layout.crop, "%05d.avi" % index),
                          audio_path, layout.tmp, opt.crop_scale, opt.frame_rate)
               for index, track in enumerate(tracks)]
    save_pickle(cropped, os.path.join(layout.work, "tracks.pckl"))
    shutil.rmtree(layout.tmp, ignore_errors=True)
    return cropped

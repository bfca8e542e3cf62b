"""run_pipeline's stage: convert the video, detect faces, find scenes, track, and crop each track.

Everything is built in staging folders (syncnet.io.layout.StagedPipeline) and swapped in at the
end, so a failed or interrupted run leaves the previous run's folders, its detections
included, exactly as they were.
"""
import dataclasses
import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np

from syncnet.errors import InputError, MediaError
from syncnet.io import media
from syncnet.io.fileio import load_pickle, save_pickle
from syncnet.io.frames import frame_files, read_images
from syncnet.io.layout import StagedPipeline
from syncnet.io.locking import FolderLock
from syncnet.options import PipelineOptions, as_dict
from syncnet.pipeline.cropping import crop_face, smooth_track
from syncnet.pipeline.detection import check_faces, detect_faces_in_frames, faces_for_pyframes
from syncnet.pipeline.scenes import detect_scenes
from syncnet.pipeline.tracking import TrackTally, track_faces
from syncnet.runtime.progress import progress_bar

log = logging.getLogger(__name__)

CROP_SIZE = 224
# How each container's face crops are written: OpenCV's video codec, and the audio codec ffmpeg muxes.
CROP_CODECS = {"avi": ("XVID", "copy"), "mp4": ("mp4v", "aac")}


@dataclass(frozen=True)
class PipelineOutcome:
    tracks: list        # the tracks.pckl entries: {'track': {'frame', 'bbox'}, 'proc_track': {'x', 'y', 's'}}
    n_frames: int       # frames of the converted video (pyframes)
    crop_dir: str
    tally: TrackTally   # what tracking kept and what each filter removed (tally.reason: why none)


def convert_input(layout, videofile, alignment):
    """pyavi/R/video.avi (25 fps), pyframes/R/%06d.jpg and pyavi/R/audio.wav; returns the frame paths."""
    media.convert_video(videofile, layout.video, alignment)
    media.extract_frames(layout.video, layout.frames, quality=2)
    media.extract_audio(layout.video, layout.audio, resync=False)
    frame_paths = frame_files(layout.frames)
    if not frame_paths:
        raise MediaError(f"{videofile}: no video frame could be decoded from it")
    return frame_paths


def read_saved_faces(layout):
    """The detections of an earlier run (faces.pckl), or None when there are none."""
    path = layout.work_file("faces.pckl")
    if not os.path.isfile(path):
        return None
    try:
        faces = load_pickle(path)
    except Exception as error:
        raise InputError(f"--reuse_faces: cannot read {path}: {error}") from None
    return check_faces(faces, f"--reuse_faces: {path}")


def check_faces_match_frames(faces, frame_paths, source, remedy):
    if len(faces) != len(frame_paths):
        raise InputError(f"{source} has detections for {len(faces)} frames but the converted video has "
                         f"{len(frame_paths)}; {remedy}")


def crop_track(track, frame_paths, crop_path, audio_path, scratch, options):
    """Write the 224x224 face video of one track with its audio; returns the tracks.pckl entry."""
    smoothed = smooth_track(track["bbox"])
    fourcc, audio_codec = CROP_CODECS[options.container]
    stem, extension = os.path.splitext(os.path.basename(crop_path))
    silent = os.path.join(scratch, stem + "t" + extension)
    writer = cv2.VideoWriter(silent, cv2.VideoWriter_fourcc(*fourcc), options.frame_rate, (CROP_SIZE, CROP_SIZE))
    if not writer.isOpened():
        raise MediaError(f"OpenCV cannot write the {fourcc} video {silent}")
    try:
        images = read_images([frame_paths[f] for f in track["frame"]])
        for index, image in enumerate(images):
            writer.write(crop_face(image, smoothed["x"][index], smoothed["y"][index],
                                   smoothed["s"][index], options.crop_scale, CROP_SIZE))
    finally:
        writer.release()
    media.check_video_written(silent, len(track["frame"]))

    track_audio = os.path.join(scratch, "audio.wav")
    first, last = int(track["frame"][0]), int(track["frame"][-1])
    media.cut_audio(audio_path, first / options.frame_rate, (last + 1) / options.frame_rate, track_audio)
    media.mux(silent, track_audio, crop_path, audio_codec=audio_codec)
    os.remove(silent)
    return {"track": track, "proc_track": smoothed}


def given_faces(tracks, n_frames):
    """faces.pckl's per-frame detections that given face tracks hold (their boxes, score 1)."""
    faces = [[] for _ in range(n_frames)]
    for track in tracks:
        for frame, box in zip(track["frame"], track["bbox"]):
            if 0 <= frame < n_frames:
                faces[frame].append({"frame": int(frame), "bbox": [float(v) for v in box], "conf": 1.0})
    return faces


def _within_video(track, n_frames):
    """A given track (its other keys kept, a name say) without its frames past the video's end."""
    frames = np.asarray(track["frame"], dtype=int)
    inside = (frames >= 0) & (frames < n_frames)
    return {**track, "frame": frames[inside], "bbox": np.asarray(track["bbox"], dtype=float)[inside]}


def run_face_pipeline(videofile, layout, options=PipelineOptions(), detector_factory=None, *, min_input_side,
                      faces=None, reuse_faces=False, quiet=True, probed=None, tracks=None):
    """All of run_pipeline.py: returns a PipelineOutcome, with the folders of `layout` written.

    tracks: face tracks to crop as they are, instead of detecting and tracking ({"frame": frame
    numbers of the 25 fps converted video, consecutive, "bbox": one (x1, y1, x2, y2) per frame;
    other keys, a name say, are kept in tracks.pckl), as an active-speaker benchmark's boxes give
    them; frames outside the video are dropped, and a track left without any.
    faces: detections to use instead of the detector's (faces.pckl's format); reuse_faces: use
    the layout's own faces.pckl. Otherwise `detector_factory()` makes the face detector, which
    searches images of at least `min_input_side` pixels a side (its FaceDetector.min_input_side).
    `probed` is media.require_scorable's answer for the video, when the caller has it already.
    """
    info, alignment = probed or media.require_scorable(videofile)
    media.require_face_sized(videofile, info, options.facedet_scale, min_input_side)
    layout = dataclasses.replace(layout, container=options.container)
    if faces is not None:
        faces = check_faces(faces, "faces")
    with layout.lock(), FolderLock(layout.tmp), StagedPipeline(layout) as staged_run:
        if faces is None and reuse_faces:
            faces = read_saved_faces(layout)
            if faces is None:
                log.warning("--reuse_faces: no %s, detecting faces", layout.work_file("faces.pckl"))
        # Loaded before the conversion, which can take minutes: missing weights are refused first.
        # Given tracks or detections need no detector.
        detector = detector_factory() if faces is None and tracks is None else None
        staged = staged_run.staged
        log.info("converting %s to 25 fps frames and 16 kHz audio", videofile)
        frame_paths = convert_input(staged, videofile, alignment)
        if tracks is not None:
            tracks = [clipped for clipped in (_within_video(track, len(frame_paths)) for track in tracks)
                      if len(clipped["frame"])]
            faces = given_faces(tracks, len(frame_paths))
        elif faces is not None:
            if reuse_faces:
                check_faces_match_frames(faces, frame_paths, layout.work_file("faces.pckl"),
                                         "run without --reuse_faces to detect again")
            else:
                faces = faces_for_pyframes(faces, frame_paths, "the detections given (--faces)")
        else:
            log.info("detecting faces in %d frames", len(frame_paths))
            with progress_bar(len(frame_paths), "detecting faces", "frame", quiet) as bar:
                faces = detect_faces_in_frames(detector, frame_paths, options.facedet_scale,
                                               conf_th=options.facedet_conf, progress=bar.update)
        save_pickle(faces, staged.work_file("faces.pckl"))

        scenes = detect_scenes(staged.video)
        save_pickle(scenes, staged.work_file("scene.pckl"))

        tally = TrackTally()
        if tracks is None:
            tracks = track_faces(faces, scenes, num_failed_det=options.num_failed_det, min_track=options.min_track,
                                 min_face_size=options.min_face_size, tally=tally)
        log.info("%d face track(s) in %d scene(s): cropping", len(tracks), len(scenes))
        cropped = [crop_track(track, frame_paths, staged.crop_file(index), staged.audio, staged.tmp, options)
                   for index, track in enumerate(tracks)]
        save_pickle(cropped, staged.work_file("tracks.pckl"))
        staged_run.commit({"videofile": os.path.abspath(videofile), "reference": layout.reference,
                           "n_frames": len(frame_paths), "n_tracks": len(cropped), "tracking": tally.as_dict(),
                           "audio_start_seconds": float(alignment.gap), "options": as_dict(options)})
    return PipelineOutcome(tracks=cropped, n_frames=len(frame_paths), crop_dir=layout.crop, tally=tally)

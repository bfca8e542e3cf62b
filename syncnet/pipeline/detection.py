"""Face detection over the extracted frames, in the reference's faces.pckl format."""
import concurrent.futures
import math
import numbers
import os

import cv2

from syncnet.errors import InputError
from syncnet.io.frames import read_image

DETECTION_BATCH = 8
# S3FD's activations take about 0.55 kB per network input pixel (measured: a 4000x4000 clip at
# scale 0.25 peaked at 5.0 GB in batches of 8 frames, 1.0 GB one frame at a time). Frames are
# batched up to this many network pixels, 8 frames of 720p at the default scale.
DETECTION_PIXELS = 8 * 320 * 180
FACES_FORMAT = "a list with, for each frame f, a list of {'frame': f, 'bbox': [x1, y1, x2, y2], 'conf': score}"


def check_faces(faces, source):
    """Refuse, in one line, detections that are not in faces.pckl's format; returns them."""
    def fail(where, problem):
        raise InputError(f"{source}: {where}{problem} (expected {FACES_FORMAT})")

    if not isinstance(faces, (list, tuple)):
        fail("", f"is a {type(faces).__name__}")
    for frame, detections in enumerate(faces):
        if not isinstance(detections, (list, tuple)):
            fail(f"frame {frame} ", f"holds a {type(detections).__name__}, not a list of detections")
        for index, face in enumerate(detections):
            where = f"frame {frame}, detection {index} "
            if not isinstance(face, dict):
                fail(where, f"is a {type(face).__name__}, not a dict")
            missing = [key for key in ("frame", "bbox", "conf") if key not in face]
            if missing:
                fail(where, f"has no {missing[0]!r}")
            if face["frame"] != frame:
                fail(where, f"says it is of frame {face['frame']!r}")
            box = face["bbox"]
            if (not hasattr(box, "__len__") or len(box) != 4
                    or not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in box)):
                fail(where, f"has bbox {box!r}, not 4 finite numbers")
            if not isinstance(face["conf"], numbers.Real):
                fail(where, f"has conf {face['conf']!r}, not a number")
    return list(faces)


def _read_rgb(path):
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)


def _batches(items, size):
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def load_faces_file(path):
    """Detections from a .json or .pckl file in faces.pckl's format (see check_faces)."""
    import json

    from syncnet.io.fileio import load_pickle

    if not os.path.isfile(path):
        raise InputError(f"--faces {path}: no such file")
    try:
        if path.lower().endswith(".json"):
            with open(path, encoding="utf-8") as handle:
                faces = json.load(handle)
        else:
            faces = load_pickle(path)
    except Exception as error:
        raise InputError(f"--faces {path}: cannot read it as JSON or a pickle ({error})") from None
    return check_faces(faces, f"--faces {path}")


def _batch_size(first_frame, facedet_scale):
    """frames_per_batch for the frames of this one's size."""
    height, width = read_image(first_frame).shape[:2]
    return frames_per_batch(height, width, facedet_scale)


def frames_per_batch(height, width, facedet_scale):
    """Frames per network batch: DETECTION_BATCH, fewer for large frames (see DETECTION_PIXELS)."""
    pixels = max(1.0, height * facedet_scale) * max(1.0, width * facedet_scale)
    return max(1, min(DETECTION_BATCH, int(DETECTION_PIXELS // pixels)))


def detect_faces_in_frames(detector, frame_paths, facedet_scale, conf_th=0.9, progress=None):
    """faces[f] = [{'frame': f, 'bbox': [x1, y1, x2, y2], 'conf': score}, ...] for every frame.

    The next batch of frames is decoded on a worker thread while the network runs.
    """
    faces = []
    batches = list(_batches(frame_paths, _batch_size(frame_paths[0], facedet_scale) if frame_paths else 1))

    def read_batch(index):
        return [_read_rgb(path) for path in batches[index][1]]

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read_batch, 0) if batches else None
        for index, (start, _) in enumerate(batches):
            images = pending.result()
            if index + 1 < len(batches):
                pending = pool.submit(read_batch, index + 1)
            for offset, boxes in enumerate(detector.detect_faces_batch(images, conf_th=conf_th,
                                                                       scales=[facedet_scale])):
                frame = start + offset
                faces.append([{"frame": frame, "bbox": [float(v) for v in box[:4]], "conf": float(box[4])}
                              for box in boxes])
            if progress is not None:
                progress(len(images))
    return faces

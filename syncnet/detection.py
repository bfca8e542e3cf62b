"""Face detection over the extracted frames, in the reference's faces.pckl format."""
import concurrent.futures

import cv2

from .frames import read_image

DETECTION_BATCH = 8


def _read_rgb(path):
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)


def _batches(items, size):
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def detect_faces_in_frames(detector, frame_paths, facedet_scale, conf_th=0.9, progress=None):
    """faces[f] = [{'frame': f, 'bbox': [x1, y1, x2, y2], 'conf': score}, ...] for every frame.

    The next batch of frames is decoded on a worker thread while the network runs.
    """
    faces = []
    batches = list(_batches(frame_paths, DETECTION_BATCH))

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

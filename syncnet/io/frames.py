"""Decoded frames as iterators, so that a video is never held in memory whole."""
import os

import cv2

from syncnet.errors import MediaError


def read_image(path):
    """One BGR uint8 image, or MediaError naming the file."""
    image = cv2.imread(path)
    if image is None:
        raise MediaError(f"cannot read the frame image {path}")
    return image


def read_images(paths):
    """Yield BGR uint8 images from image files, in the given order."""
    for path in paths:
        yield read_image(path)


def read_video(path):
    """Yield BGR uint8 frames straight from a video file (no JPEG round trip)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise MediaError(f"OpenCV cannot open the video {path}")
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield image
    finally:
        capture.release()


def frame_files(folder):
    """The extracted %06d.jpg frames of `folder` in name order, which is frame order."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".jpg"))

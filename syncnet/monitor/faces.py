"""Where the monitored face is in each frame. `--face_box full`: the whole frame is the face, as
the demo scores a face crop (a feed already cropped to a face, and the tests)."""
import cv2
import numpy as np

from syncnet.scoring.face_video import FACE_SIZE

# A frame whose pixels vary less than this (standard deviation, 0..255) shows no picture at all:
# black, a slate of one colour. With the whole frame as the face, that is the one "no face" it can tell.
BLANK_STD = 2.0


class FullFrame:
    """The whole frame as the face: each frame resized to the network's 224x224 (bilinear, as the
    demo's --resize), in the network's BGR order."""

    def __init__(self):
        self.box = None  # [x1, y1, x2, y2] in the source's pixels, once a frame was seen

    def crops(self, frames):
        """(n x 224 x 224 x 3 uint8 BGR crops, n flags: whether each frame shows a picture)."""
        if len(frames) == 0:
            return np.zeros((0, FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8), []
        height, width = frames.shape[1:3]
        self.box = [0, 0, int(width), int(height)]
        if (height, width) == (FACE_SIZE, FACE_SIZE):
            crops = frames[..., ::-1]
        else:
            crops = np.stack([cv2.resize(frame, (FACE_SIZE, FACE_SIZE)) for frame in frames])[..., ::-1]
        present = [float(crop.std()) >= BLANK_STD for crop in crops[:, ::8, ::8]]
        return np.ascontiguousarray(crops), present

"""What every face detector is: the pipeline (syncnet.pipeline.detection) knows a detector only
through this class, after face-alignment's detection/core.py."""
import os
from pathlib import Path

from syncnet.models.paths import OFFLINE_HINT, find_official_file, named_file_hint
from syncnet.runtime.devices import resolve_device


class FaceDetector:
    """A face detector, made as `Detector(device="auto", weights=None)`: `device` is 'auto'
    (CUDA when present), 'cpu', 'cuda' or 'cuda:N'; `weights` a file in the layout of the
    detector's official weights (None: the official file, found by `find_weights`).

    A subclass sets what the pipeline and the model lookup need to know before it loads:
      min_input_side  the smallest image side, after scaling, that it can search (pixels); the
                      pipeline refuses smaller frames before it converts a video
      weights_file    the official weights' file name (None: it needs no weights file); its row
                      in the model-files table (syncnet.models.files) gives its URL, its checksum
                      (a file in the default place must be that exact file) and its place in a
                      checkout; installed, the model cache holds it
    and implements `detect_faces_batch`. Messages name it by its class name.
    """
    min_input_side = 1
    weights_file = None

    def __init__(self, device="auto", weights=None):
        self.device = resolve_device(device)
        found = self.find_weights(weights)
        self.weights = None if found is None else Path(found)
        # Found in the default place: it must be the official file, not only of its layout.
        self.official_weights = weights is None

    @classmethod
    def find_weights(cls, path=None):
        """`path` when given; else the official weights_file in its place in a checkout, then in
        the model cache (WeightsError naming both when neither holds it)."""
        if path is not None:
            return os.fspath(path)
        if cls.weights_file is None:
            return None
        return find_official_file(cls.weights_file, f"{cls.__name__} weights")

    def load_weights(self, module):
        """`module` with self.weights loaded, strictly and safely (see syncnet.models.weights)."""
        from syncnet.models.weights import load_state_dict  # here: the options import syncnet.detection, without torch

        name = type(self).__name__
        how_to_get = (f"run `bash download_model.sh` to get the official {self.weights_file}, {OFFLINE_HINT}"
                      if self.official_weights else named_file_hint(name, self.weights_file))
        return load_state_dict(module, self.weights, f"{name} weights", how_to_get, official=self.official_weights)

    def detect_faces_batch(self, images, conf_th, scales):
        """The faces in each of `images` (RGB, H x W x 3 numpy arrays, uint8 or float; sizes may
        differ): per image, a float64 array of rows (x1, y1, x2, y2, score) in that image's
        pixels, best first, keeping the faces that score above `conf_th` when the image is
        searched at each of `scales` (a resize factor per search; results merged)."""
        raise NotImplementedError

    def detect_faces(self, image, **options):
        """detect_faces_batch for one image (`options`: its conf_th and scales)."""
        return self.detect_faces_batch([image], **options)[0]

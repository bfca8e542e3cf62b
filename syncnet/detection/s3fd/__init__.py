"""S3FD face detector (Zhang et al. 2017), as used by the SyncNet pipeline.

    detector = S3FD(device="auto")
    boxes = detector.detect_faces(rgb_image, conf_th=0.9, scales=[0.25])  # rows x1,y1,x2,y2,score
"""
import cv2
import numpy as np
import torch

from syncnet.detection.core import FaceDetector
from syncnet.errors import InputError

from .box_utils import decode, nms, prior_boxes, select_faces
from .nets import S3FDNet

__all__ = ["S3FD", "S3FDNet"]

# Training means per channel, in the RGB order the network sees.
IMG_MEAN = np.array([123.0, 117.0, 104.0], dtype=np.float32)
FINAL_NMS_IOU = 0.1


def _check_image(image, index):
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image {index}: expected an H x W x 3 RGB numpy array, got shape {shape}")
    if image.dtype not in (np.uint8, np.float32, np.float64):
        raise ValueError(f"image {index}: expected uint8 or float pixels, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image {index}: empty image of shape {image.shape}")
    return np.ascontiguousarray(image)


def _check_scales(scales):
    scales = [float(s) for s in scales]
    for s in scales:
        if not np.isfinite(s) or s <= 0:
            raise ValueError(f"scales must be positive, got {s}")
    return scales


class S3FD(FaceDetector):
    """Face detector. `device` is 'auto' (CUDA when present), 'cpu' or 'cuda'; `weights` a file of
    S3FD's layout (default: the official sfd_face.pth, checksummed, in detectors/s3fd/weights of
    a checkout, where the reference keeps it, or in the model cache)."""
    # Smallest side that survives the trunk's five 2x2 max-pools (the third rounds up).
    min_input_side = 28
    weights_file = "sfd_face.pth"

    def __init__(self, device="auto", weights=None):
        super().__init__(device, weights)
        self.net = self.load_weights(S3FDNet()).to(self.device).eval()

    def _prepare(self, image, scale):
        """Resize by `scale` and subtract the means: float32 C x H x W."""
        resized = cv2.resize(image, dsize=(0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        if min(resized.shape[:2]) < self.min_input_side:
            raise InputError(f"scale {scale} makes the {image.shape[1]}x{image.shape[0]} image "
                             f"{resized.shape[1]}x{resized.shape[0]}; S3FD needs at least "
                             f"{self.min_input_side}x{self.min_input_side} (use a larger --facedet_scale)")
        return (resized.astype(np.float32) - IMG_MEAN).transpose(2, 0, 1)

    def _run(self, batch):
        """Network + decode for a stack of same-sized inputs: (boxes (N,P,4), face scores (N,P))."""
        x = torch.from_numpy(np.stack(batch)).to(self.device)
        loc, conf, feature_maps = self.net(x)
        priors = prior_boxes(tuple(x.shape[2:]), tuple(feature_maps), self.device)
        return decode(loc, priors), conf[..., 1]

    def detect_faces_batch(self, rgb_images, conf_th=0.8, scales=(1,)):
        """FaceDetector.detect_faces_batch. Per scale each image is resized (INTER_LINEAR) and
        searched, same-sized images through the network together; boxes with score > conf_th are
        mapped to the original image, and a final NMS at IoU 0.1 merges the scales."""
        images = [_check_image(image, i) for i, image in enumerate(rgb_images)]
        scales = _check_scales(scales)
        found = [[] for _ in images]  # per image, per scale: (boxes float32, scores float32)
        with torch.inference_mode():
            for scale in scales:
                inputs = [self._prepare(image, scale) for image in images]
                groups = {}
                for i, inp in enumerate(inputs):
                    groups.setdefault(inp.shape, []).append(i)
                for members in groups.values():
                    boxes, scores = self._run([inputs[i] for i in members])
                    for row, i in enumerate(members):
                        kept, kept_scores = select_faces(boxes[row], scores[row], conf_th)
                        h, w = images[i].shape[:2]
                        # float32 product, as the reference scaled its float32 detections.
                        kept = kept * np.array([w, h, w, h], dtype=np.float32)
                        found[i].append((kept, kept_scores))
        results = []
        for per_scale in found:
            rows = np.empty((0, 5), dtype=np.float64)
            if per_scale:
                rows = np.concatenate([np.column_stack((b, s)).astype(np.float64) for b, s in per_scale])
            results.append(rows[nms(rows[:, :4], rows[:, 4], FINAL_NMS_IOU)])
        return results

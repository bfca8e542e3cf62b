"""Crop geometry for face tracks (run_pipeline step 6): smoothed boxes and the square face crop."""
import cv2
import numpy as np

from syncnet.filters import median_filter

CROP_SCALE = 0.4
CROP_SIZE = 224
PAD_VALUE = 110
SMOOTHING_KERNEL = 13


def smooth_track(bbox):
    """Per-frame centre x, y and half-size s = max(w, h)/2 of (n, 4) boxes, each median-filtered
    over 13 frames (a median filter that zero-pads the ends, as scipy's medfilt)."""
    bbox = np.asarray(bbox, dtype=np.float64)
    if bbox.ndim != 2 or bbox.shape[1] != 4:
        raise ValueError(f"expected an (n, 4) array of boxes, got shape {bbox.shape}")
    half_size = np.maximum(bbox[:, 3] - bbox[:, 1], bbox[:, 2] - bbox[:, 0]) / 2
    return {
        "x": median_filter((bbox[:, 0] + bbox[:, 2]) / 2, kernel_size=SMOOTHING_KERNEL),
        "y": median_filter((bbox[:, 1] + bbox[:, 3]) / 2, kernel_size=SMOOTHING_KERNEL),
        "s": median_filter(half_size, kernel_size=SMOOTHING_KERNEL),
    }


def crop_face(image, x, y, s, crop_scale=CROP_SCALE, size=CROP_SIZE):
    """The face crop around centre (x, y) with half-size s, resized to size x size.

    Defined as: pad the image by bsi = int(s*(1+2*crop_scale)) on every side with 110, then
    slice rows int(y+bsi-s) : int(y+bsi+s*(1+2*crop_scale)) and columns
    int(x+bsi-s*(1+crop_scale)) : int(x+bsi+s*(1+crop_scale)). Only the sliced window is built.
    """
    if not s > 0:
        raise ValueError(f"crop half-size must be positive, got {s}")
    bs = s
    bsi = int(bs * (1 + 2 * crop_scale))
    my = y + bsi
    mx = x + bsi
    height, width = image.shape[:2]
    # slice.indices gives numpy's reading of these bounds on the padded frame, clamping and
    # negative starts (counted from the far end) included, so odd boxes match the definition.
    rows = slice(int(my - bs), int(my + bs * (1 + 2 * crop_scale)))
    cols = slice(int(mx - bs * (1 + crop_scale)), int(mx + bs * (1 + crop_scale)))
    top, bottom, _ = rows.indices(height + 2 * bsi)
    left, right, _ = cols.indices(width + 2 * bsi)
    if bottom <= top or right <= left:
        raise ValueError(f"empty crop window for x={x}, y={y}, s={s} on a {width}x{height} image")
    window = np.full((bottom - top, right - left) + image.shape[2:], PAD_VALUE, dtype=image.dtype)
    # Padded row r is image row r - bsi; copy the part of the window that lies on the image.
    src_top, src_bottom = max(top - bsi, 0), min(bottom - bsi, height)
    src_left, src_right = max(left - bsi, 0), min(right - bsi, width)
    if src_top < src_bottom and src_left < src_right:
        inside = image[src_top:src_bottom, src_left:src_right]
        dst_top, dst_left = src_top + bsi - top, src_left + bsi - left
        window[dst_top:dst_top + inside.shape[0], dst_left:dst_left + inside.shape[1]] = inside
    return cv2.resize(window, (size, size))

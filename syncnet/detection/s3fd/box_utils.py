"""Prior boxes, box decoding and greedy non-maximum suppression for S3FD.

Everything is vectorised; the only Python loop is greedy NMS over the boxes it keeps,
each step suppressing the remaining candidates with one array operation.
"""
import functools

import numpy as np
import torch

STEPS = (4, 8, 16, 32, 64, 128)
MIN_SIZES = (16, 32, 64, 128, 256, 512)
VARIANCES = (0.1, 0.2)


@functools.lru_cache(maxsize=64)
def prior_boxes(image_size, feature_maps, device="cpu"):
    """(P, 4) float32 priors (cx, cy, w, h) relative to the input, rows in (source, i, j) order.

    `image_size` is the network input (H, W); `feature_maps` the six (h, w) source sizes.
    Cached per shape because every frame of a video has the same one. The tensor is shared
    between calls: treat it as read-only.
    """
    height, width = image_size
    blocks = []
    for k, (fh, fw) in enumerate(feature_maps):
        # Same float64 operations as the reference's scalar loop, so the float32 priors match.
        f_kw = width / STEPS[k]
        f_kh = height / STEPS[k]
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) / f_kh, (np.arange(fw) + 0.5) / f_kw, indexing="ij")
        block = np.empty((fh * fw, 4), dtype=np.float64)
        block[:, 0] = cx.ravel()
        block[:, 1] = cy.ravel()
        block[:, 2] = MIN_SIZES[k] / width
        block[:, 3] = MIN_SIZES[k] / height
        blocks.append(block)
    priors = np.concatenate(blocks) if blocks else np.empty((0, 4))
    return torch.from_numpy(priors.astype(np.float32)).to(device)


def decode(loc, priors, variances=VARIANCES):
    """Regression offsets (..., P, 4) + priors (P, 4) -> corner boxes (x1, y1, x2, y2), same dtype."""
    centres = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    sizes = priors[..., 2:] * torch.exp(loc[..., 2:] * variances[1])
    top_left = centres - sizes / 2
    # x2 = w + x1 rather than cx + w/2: the reference's order, which can differ in the last bit.
    return torch.cat((top_left, sizes + top_left), dim=-1)


def _as_boxes(boxes, name="boxes"):
    """Validate (N, 4) finite boxes; keep float32/float64, promote anything else to float64."""
    arr = np.asarray(boxes)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or infinite coordinates")
    return arr


def _intersection(box, others):
    """Intersection areas of one box with each of `others`; 0 where they do not overlap."""
    w = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    h = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return np.maximum(w, 0) * np.maximum(h, 0)


def _safe_ratio(inter, union):
    # inter > 0 implies both boxes have positive size and union >= inter > 0; anything else
    # (no overlap, zero or negative size) is IoU 0 instead of 0/0 or a negative ratio.
    positive = inter > 0
    return np.where(positive, inter / np.where(positive, union, 1), 0).astype(inter.dtype)


def iou_matrix(a, b):
    """(N, 4) x (M, 4) corner boxes -> (N, M) IoU, areas (x2-x1)(y2-y1) without +1."""
    a = _as_boxes(a, "a")
    b = _as_boxes(b, "b")
    dtype = np.result_type(a, b)
    a = a.astype(dtype, copy=False)
    b = b.astype(dtype, copy=False)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    # (area_a + area_b) - inter is symmetric in a and b bit for bit.
    union = (area_a[:, None] + area_b[None, :]) - inter
    return np.clip(_safe_ratio(inter, union), 0, 1)


def _greedy(boxes, threshold, max_keep=None, reference_union=False):
    """Greedy NMS over boxes already in processing order; returns kept positions.

    A candidate is dropped when its IoU with a kept box is > threshold (compared in the
    boxes' dtype, as the reference does). `reference_union` selects the detection head's
    union formula (area_j - inter) + area_i; the default (area_i + area_j) - inter is the
    final NMS's. They differ only in rounding, kept to reproduce the reference exactly.
    """
    threshold = boxes.dtype.type(threshold)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.arange(len(boxes))
    keep = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        inter = _intersection(boxes[i], boxes[rest])
        if reference_union:
            union = (areas[rest] - inter) + areas[i]
        else:
            union = (areas[i] + areas[rest]) - inter
        order = rest[~(_safe_ratio(inter, union) > threshold)]
    return np.asarray(keep, dtype=np.int64)


def nms(boxes, scores, threshold, top_k=None):
    """Greedy NMS: indices of the kept boxes, by descending score.

    `top_k` limits the candidates to the best top_k scores. Equal scores are common (flat
    image regions give identical scores), and which of them goes first changes which boxes
    survive, so the order is the reference's own call, numpy's default argsort reversed,
    rather than a stable sort: that is what reproduces the golden detections.
    """
    boxes = _as_boxes(boxes)
    scores = np.asarray(scores)
    if scores.shape != (len(boxes),):
        raise ValueError(f"scores must have shape ({len(boxes)},), got {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    order = np.argsort(scores)[::-1]
    if top_k is not None:
        order = order[:top_k]
    return order[_greedy(boxes[order], threshold)]


def select_faces(boxes, scores, conf_th, score_th=0.05, nms_th=0.3, top_k=5000, keep_top_k=750):
    """One image's detection step: (P, 4) decoded boxes and (P,) face scores (torch) ->
    float32 numpy (boxes (K, 4), scores (K,)) of the kept boxes with score > conf_th.

    The reference runs greedy NMS over every candidate above score_th and then keeps the
    leading ones above conf_th. A box is only ever suppressed by higher-ranked boxes, so
    running NMS on just the candidates above conf_th gives the same boxes, much faster.
    """
    # index_select, not tensor[mask]: on CPU advanced indexing costs milliseconds here.
    candidates = torch.nonzero(scores.gt(score_th), as_tuple=True)[0]
    scores = scores.index_select(0, candidates)
    boxes = boxes.index_select(0, candidates)
    if scores.numel() == 0:
        return np.empty((0, 4), np.float32), np.empty((0,), np.float32)
    # The same ascending sort call as the reference, so equal scores break ties the same way.
    _, order = scores.sort(0)
    order = order[-top_k:].flip(0)
    scores = scores.index_select(0, order)
    boxes = boxes.index_select(0, order)
    # Torch compares float32 with the threshold cast to float32, as the reference did.
    n_above = int(scores.gt(conf_th).sum())
    boxes = boxes[:n_above].cpu().numpy()
    scores = scores[:n_above].cpu().numpy()
    keep = _greedy(boxes, nms_th, max_keep=keep_top_k, reference_union=True)
    return boxes[keep], scores[keep]

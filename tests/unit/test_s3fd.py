"""S3FD's box utilities on made-up boxes: priors, decoding, the detection step against a literal
restatement, IoU and NMS properties. (The detector with weights: integration/test_s3fd.py.)"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syncnet.detection.s3fd.box_utils import decode, iou_matrix, nms, prior_boxes, select_faces

# --- priors, decode, detection step ----------------------------------------------------------

def test_priors_layout_and_cache():
    maps = ((4, 6), (2, 3), (1, 2), (1, 1), (1, 1), (1, 1))
    priors = prior_boxes((16, 24), maps)
    assert priors.dtype == torch.float32 and priors.shape == (24 + 6 + 2 + 3, 4)
    # Second row of the first source: i = 0, j = 1 -> cx = 1.5 * 4 / 24.
    np.testing.assert_allclose(priors[1].numpy(), [1.5 * 4 / 24, 0.5 * 4 / 16, 16 / 24, 16 / 16], rtol=1e-6)
    # First row of the second source (step 8, min size 32).
    np.testing.assert_allclose(priors[24].numpy(), [4 / 24, 4 / 16, 32 / 24, 32 / 16], rtol=1e-6)
    assert prior_boxes((16, 24), maps) is priors


def test_decode_zero_offsets_give_the_priors():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.1, 0.9, 1.0, 0.5]])
    boxes = decode(torch.zeros(1, 2, 4), priors)
    np.testing.assert_allclose(boxes[0].numpy(), [[0.4, 0.3, 0.6, 0.7], [-0.4, 0.65, 0.6, 1.15]], rtol=1e-6)
    shifted = decode(torch.tensor([[1.0, 0.0, 0.0, 5.0]]), priors[:1])
    np.testing.assert_allclose(shifted.numpy(), [[0.42, 0.5 - 0.2 * np.e, 0.62, 0.5 + 0.2 * np.e]], rtol=1e-6)


def _reference_select(boxes, scores, conf_th, score_th=0.05, nms_th=0.3, top_k=5000, keep_top_k=750):
    """The detection step written the slow, literal way: greedy NMS over every candidate,
    keep keep_top_k, then the leading boxes above conf_th."""
    mask = scores > score_th
    scores, boxes = scores[mask], boxes[mask]
    if scores.numel() == 0:
        return np.empty((0, 4), np.float32), np.empty(0, np.float32)
    _, idx = scores.sort(0)
    idx = idx[-top_k:]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while idx.numel() > 0:
        i = idx[-1]
        keep.append(int(i))
        idx = idx[:-1]
        w = (torch.minimum(boxes[idx, 2], boxes[i, 2]) - torch.maximum(boxes[idx, 0], boxes[i, 0])).clamp(min=0)
        h = (torch.minimum(boxes[idx, 3], boxes[i, 3]) - torch.maximum(boxes[idx, 1], boxes[i, 1])).clamp(min=0)
        inter = w * h
        idx = idx[(inter / ((area[idx] - inter) + area[i])).le(nms_th)]
    keep = keep[:keep_top_k]
    kept_scores = scores[keep]
    n = 0
    while n < len(keep) and kept_scores[n] > conf_th:
        n += 1
    return boxes[keep[:n]].numpy(), kept_scores[:n].numpy()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), levels=st.integers(1, 50),
       conf_th=st.sampled_from([0.0, 0.05, 0.3, 0.5, 0.8]), keep_top_k=st.sampled_from([3, 750]))
def test_select_faces_equals_literal_reference(seed, n, levels, conf_th, keep_top_k):
    # Few distinct score levels: many ties, which is where the order of processing shows.
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1, (n, 2))
    boxes = torch.from_numpy(np.hstack([xy, xy + rng.uniform(0.02, 0.3, (n, 2))]).astype(np.float32))
    scores = torch.from_numpy((rng.integers(0, levels, n) / levels).astype(np.float32))
    got = select_faces(boxes, scores, conf_th, keep_top_k=keep_top_k)
    want = _reference_select(boxes, scores, conf_th, keep_top_k=keep_top_k)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


# --- iou_matrix and nms properties ---------------------------------------------------------

coordinate = st.floats(-1e4, 1e4, allow_nan=False)
extent = st.one_of(st.just(0.0), st.floats(-50, -1e-3), st.floats(1e-3, 1e3))


@st.composite
def box_arrays(draw, min_size=0, max_size=12):
    rows = draw(st.lists(st.tuples(coordinate, coordinate, extent, extent), min_size=min_size, max_size=max_size))
    return np.array([[x, y, x + w, y + h] for x, y, w, h in rows], dtype=np.float64).reshape(-1, 4)


def _areas(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


@given(a=box_arrays(), b=box_arrays())
def test_iou_in_unit_interval_and_symmetric(a, b):
    iou = iou_matrix(a, b)
    assert iou.shape == (len(a), len(b))
    assert np.all((iou >= 0) & (iou <= 1))
    np.testing.assert_array_equal(iou, iou_matrix(b, a).T)


@given(a=box_arrays(min_size=1))
def test_self_iou_and_degenerate_boxes(a):
    iou = iou_matrix(a, a)
    positive = (a[:, 2] > a[:, 0]) & (a[:, 3] > a[:, 1]) & (_areas(a) > 0)
    assert np.all(np.diag(iou)[positive] == 1)
    # Zero or negative width/height: overlaps nothing, not even itself, and no NaN.
    assert np.all(iou[~positive] == 0) and np.all(iou[:, ~positive] == 0)


@given(a=box_arrays(min_size=1), row=st.integers(0, 100), col=st.integers(0, 3))
def test_nan_boxes_refused(a, row, col):
    a[row % len(a), col] = np.nan
    with pytest.raises(ValueError):
        iou_matrix(a, a)
    with pytest.raises(ValueError):
        nms(a, np.arange(len(a), dtype=float), 0.3)


@st.composite
def boxes_with_distinct_scores(draw):
    boxes = draw(box_arrays(max_size=20))
    scores = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=len(boxes), max_size=len(boxes), unique=True))
    return boxes, np.array(scores, dtype=np.float64)


@given(data=boxes_with_distinct_scores(), threshold=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.9]),
       perm_seed=st.integers(0, 2**32 - 1))
def test_nms_properties(data, threshold, perm_seed):
    boxes, scores = data
    kept = nms(boxes, scores, threshold)
    assert kept.dtype.kind == "i" and len(set(kept.tolist())) == len(kept)
    assert np.all(np.diff(scores[kept]) <= 0)  # best first
    iou = iou_matrix(boxes, boxes)
    kept_iou = iou[np.ix_(kept, kept)]
    np.fill_diagonal(kept_iou, 0)
    assert np.all(kept_iou <= threshold)
    # Greedy: every dropped box overlaps a better kept box by more than the threshold.
    for j in set(range(len(boxes))) - set(kept.tolist()):
        assert np.any((iou[kept, j] > threshold) & (scores[kept] > scores[j]))
    # The input order does not matter when scores are distinct.
    perm = np.random.default_rng(perm_seed).permutation(len(boxes))
    np.testing.assert_array_equal(perm[nms(boxes[perm], scores[perm], threshold)], kept)


@given(data=boxes_with_distinct_scores(), top_k=st.integers(0, 5))
def test_nms_top_k_and_torch_input(data, top_k):
    boxes, scores = data
    kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.3, top_k=top_k)
    best = np.argsort(-scores)[:top_k]
    assert set(kept.tolist()) <= set(best.tolist())
    np.testing.assert_array_equal(kept, best[nms(boxes[best], scores[best], 0.3)])

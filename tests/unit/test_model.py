"""The network's state-dict layout and the scoring arithmetic, on random tensors: streamed
distances, lip windows, audio columns and the summary. (Weight files: integration/test_model.py.)"""
import json

import numpy as np
import pytest
import torch

from syncnet.scoring.distances import ShiftedDistances, audio_batch, lip_batches, summarise, window_columns
from SyncNetModel import S


def test_layout_matches_official(shared_dir):
    layout = json.loads((shared_dir / "fixtures" / "state_dict_layout.json").read_text())["syncnet"]
    state = S().state_dict()
    assert [key for key, _, _ in layout] == list(state)
    for key, shape, dtype in layout:
        assert list(state[key].shape) == shape, key
        assert str(state[key].dtype) == f"torch.{dtype}", key


def _reference_dists(video, audio, vshift):
    """The reference's way: pad the audio rows, then pairwise_distance row by row."""
    padded = torch.nn.functional.pad(audio, (0, 0, vshift, vshift))
    rows = [torch.nn.functional.pairwise_distance(video[[i]].repeat(2 * vshift + 1, 1),
                                                  padded[i:i + 2 * vshift + 1])
            for i in range(len(video))]
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("n,batch", [(1, 20), (7, 3), (40, 20), (45, 1), (33, 50)])
def test_streamed_distances_equal_reference_formula(n, batch):
    generator = torch.Generator().manual_seed(n)
    video = torch.randn(n, 16, generator=generator)
    audio = torch.randn(n, 16, generator=generator)
    streamed = ShiftedDistances(vshift=15)
    for start in range(0, n, batch):
        streamed.add(video[start:start + batch], audio[start:start + batch])
    np.testing.assert_allclose(streamed.finish(), _reference_dists(video, audio, 15), rtol=1e-6, atol=1e-6)


def test_lip_batches_are_five_frame_windows():
    frames = [np.full((4, 6, 3), i, dtype=np.uint8) + np.arange(3, dtype=np.uint8) for i in range(13)]
    batches = list(lip_batches(iter(frames), batch_size=4))
    assert [first for first, _ in batches] == [0, 4, 8]
    windows = torch.cat([batch for _, batch in batches])
    assert windows.shape == (9, 3, 5, 4, 6) and windows.dtype == torch.uint8
    for i in range(9):
        for t in range(5):
            for channel in range(3):
                assert torch.all(windows[i, channel, t] == i + t + channel)
    limited = list(lip_batches(iter(frames), batch_size=4, n_windows=6))
    assert sum(len(batch) for _, batch in limited) == 6


def test_audio_batch_columns():
    coefficients = np.arange(13 * 60, dtype=np.float32).reshape(13, 60)
    start, stop = window_columns(first=2, count=3)
    assert (start, stop) == (8, 36)
    patches = audio_batch(coefficients[:, start:stop])
    assert patches.shape == (3, 1, 13, 20)
    for k in range(3):
        window = 2 + k
        np.testing.assert_array_equal(patches[k, 0].numpy(), coefficients[:, 4 * window:4 * window + 20])


def test_summary_on_a_known_curve():
    dists = np.tile(np.abs(np.arange(31) - 12).astype(np.float32) + 1, (20, 1))
    summary = summarise(dists, vshift=15)
    assert summary.offset == 3
    assert summary.min_dist == 1.0
    assert summary.confidence == pytest.approx(np.median(dists[0]) - 1.0)
    assert summary.framewise_conf.shape == (20,)

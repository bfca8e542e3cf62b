"""syncnet-train's arithmetic on labelled arrays: batches, negatives, the loss, sharding over
processes, finding and splitting clips. (Real clips: integration/test_train.py; the model trained
from scratch: system/test_train.py.)"""
import numpy as np
import pytest
import torch

from syncnet.train.data import Clip, PairBatches, find_clips, split_clips
from syncnet.train.options import TrainOptions


def _labelled_clip(index, n_frames):
    """A clip whose pixels say (channel 0) the frame and (channel 1) the clip, and whose MFCC
    columns say column + 1000 * clip: a drawn pair tells exactly where it came from."""
    frames = np.zeros((n_frames, 224, 224, 3), np.uint8)
    frames[..., 0] = np.arange(n_frames)[:, None, None]
    frames[..., 1] = index
    columns = 4 * n_frames + 16
    mfcc = np.tile(np.arange(columns, dtype=np.float32) + 1000 * index, (13, 1))
    return Clip(path=f"clip{index}", frames=frames, mfcc=mfcc, n_windows=n_frames - 5)


EXACT = dict(crop_shift=0, brightness=0.0, batch_size=8, negatives=4, min_negative_shift=3,
             max_negative_shift=12)


def test_positives_are_aligned_and_negatives_shifted_beyond_n_or_from_another_clip():
    clips = [_labelled_clip(0, 40), _labelled_clip(1, 30), _labelled_clip(2, 60)]
    batches = PairBatches(clips, TrainOptions(**EXACT, other_clip_share=0.3), steps=50)
    same, other = 0, 0
    for step in range(50):
        lips, positives, negatives = batches[step]
        for lip, positive, negative in zip(lips.numpy(), positives.numpy(), negatives.numpy()):
            window, clip = int(lip[0, 0, 0, 0]), int(lip[1, 0, 0, 0])
            assert lip.shape == (3, 5, 224, 224) and list(lip[0, :, 0, 0]) == list(range(window, window + 5))
            # the scorer pairs frames i..i+4 with MFCC columns 4i..4i+19
            assert positive.shape == (1, 13, 20) and positive[0, 0, 0] == 4 * window + 1000 * clip
            for patch in negative:
                source, column = divmod(int(patch[0, 0, 0]), 1000)
                if source == clip:
                    same += 1
                    assert 3 < abs(column // 4 - window) <= 12
                else:
                    other += 1
    assert same > 2 * other > 0


def test_the_loss_keeps_lip_features_away_from_the_scorers_zero_padding():
    """Past a clip's ends the scorer compares a lip feature with zero audio features: a lip
    feature at the origin costs the margin even beside its own audio, one beyond it nothing."""
    from syncnet.train.losses import contrastive_loss

    far = torch.full((4, 4), 100.0)  # two negatives a window, far beyond the margin: no cost
    at_origin = torch.zeros(2, 4)
    # 4 shifted negatives cost 0, the 2 zero pads (10 - 0)^2 each: half the mean of the 6
    assert float(contrastive_loss(at_origin, at_origin.clone(), far, margin=10.0)) == pytest.approx(100 / 6, rel=1e-4)
    away = torch.full((2, 4), 6.0)  # |lip| = 12, beyond the margin of 10
    assert float(contrastive_loss(away, away.clone(), far, margin=10.0)) == pytest.approx(0, abs=1e-6)


def test_a_batch_is_the_same_whatever_the_number_of_processes():
    clips = [_labelled_clip(0, 40), _labelled_clip(1, 30)]
    options = TrainOptions(**EXACT)
    whole = PairBatches(clips, options, steps=10)[7]
    shards = [PairBatches(clips, options, rank=rank, world_size=2, steps=10)[7] for rank in (0, 1)]
    for part in range(3):
        rebuilt = torch.empty_like(whole[part])
        rebuilt[0::2], rebuilt[1::2] = shards[0][part], shards[1][part]
        assert torch.equal(rebuilt, whole[part])
    other_seed = PairBatches(clips, options.replace(seed=1), steps=10)[7]
    assert not torch.equal(other_seed[0], whole[0])


def test_clips_are_found_recursively_in_folders_and_list_files(tmp_path):
    for name in ("a/x.avi", "a/b/y.mp4", "a/b/notes.txt", "c.mkv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "more.txt"
    listing.write_text(f"{tmp_path / 'c.mkv'}\n")
    found = find_clips([tmp_path / "a", listing])
    assert [p.replace(str(tmp_path), "") for p in found] == ["/a/b/y.mp4", "/a/x.avi", "/c.mkv"]


def test_the_validation_split_is_by_clip_and_seeded():
    paths = [f"clip{i}" for i in range(20)]
    train, val = split_clips(paths, 0.2, seed=5)
    assert len(val) == 4 and sorted(train + val) == sorted(paths) and not set(train) & set(val)
    assert split_clips(paths, 0.2, seed=5) == (train, val) and split_clips(paths, 0.2, seed=6) != (train, val)



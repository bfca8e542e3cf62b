"""syncnet-train: batches, negatives and validation against independent truths (fast), and a
model trained from scratch on the synthetic world that finds true offsets through
demo_syncnet.py where the random stand-in weights do not (slow)."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from syncnet.synthetic import constant, make_face_clip
from syncnet.train.data import Clip, PairBatches, find_clips, split_clips
from syncnet.train.options import TrainOptions
from tests.helpers import REPO_ROOT, run_script
from tests.integration.test_synthetic import _best_lag, _frames, _loudness, _mouth_area


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
    from syncnet.train.loop import contrastive_loss

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


def test_validation_copies_carry_the_shift_they_name(tmp_path):
    from syncnet.train.validation import make_val_items

    truth = make_face_clip(tmp_path / "held.avi", seconds=3.0, seed=21, offset=constant(0))
    items = make_val_items([truth.path], 2, 8, seed=3, folder=tmp_path / "val")
    assert len({item.shift for item in items}) == 2 and any(item.shift for item in items)
    for item in items:
        lag, _ = _best_lag(_loudness(item.path, tmp_path), _mouth_area(_frames(item.path)))
        assert lag == item.shift


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


# ------------------------------------------------------------------ with a trained model (slow)

HELD_OUT_SHIFTS = range(-10, 11)


def _held_out_clips(root):
    """Clips the model never saw (seeds 5000+), one per shift in -10..+10, half MP3-coded."""
    return [make_face_clip(root / f"held_{shift:+d}.avi", seconds=3.0, seed=5000 + index, offset=constant(shift),
                           mp3=index % 2 == 0)
            for index, shift in enumerate(HELD_OUT_SHIFTS)]


def _demo_offset(model, video, tmp_path):
    result = run_script("demo_syncnet.py", "--videofile", video, "--initial_model", model, "--tmp_dir",
                        tmp_path / "demo", "--device", "cpu", "--quiet", cwd=tmp_path)
    return int(re.search(r"AV offset:\s+(-?\d+)", result.stdout).group(1))


@pytest.mark.slow
def test_a_model_trained_from_scratch_finds_the_true_offset_and_the_random_model_does_not(
        trained_syncnet, syncnet_weights, tmp_path):
    from syncnet.api import VideoScorer

    clips = _held_out_clips(tmp_path)
    found = [_demo_offset(trained_syncnet, truth.path, tmp_path) for truth in clips]
    errors = np.array(found) - np.array(HELD_OUT_SHIFTS)
    within = np.mean(np.abs(errors) <= 1)
    print(f"trained model: {np.mean(errors == 0):.0%} exact, {within:.0%} within 1 frame; errors {errors.tolist()}")
    assert within >= 0.9, errors

    # The same clips, the same scoring code, the random stand-in weights: far from it.
    scorer = VideoScorer(device="cpu", syncnet_model=str(syncnet_weights))
    random_found = [scorer.score_face_video(truth.path, tmp_path / "random", f"r{index}").summary.offset
                    for index, truth in enumerate(clips[::3])]
    random_within = np.mean(np.abs(np.array(random_found) - np.array(HELD_OUT_SHIFTS[::3])) <= 1)
    print(f"stand-in weights: {random_within:.0%} within 1 frame")
    assert random_within < 0.5


@pytest.mark.slow
def test_the_fixture_run_wrote_its_record_curves_and_an_official_format_model(trained_syncnet):
    import json

    from SyncNetInstance import SyncNetInstance
    from syncnet.models.loading import load_syncnet

    run = trained_syncnet.parent
    record = json.loads((run / "train.json").read_text())
    assert record["steps"] == record["total_steps"] and record["data"]["clips_skipped"] == 0
    assert record["best"]["val_within1"] >= 0.5
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("step,loss,val_exact,val_within1")
    assert (run / "curves.png").stat().st_size > 10000
    state = torch.load(trained_syncnet, weights_only=True)
    layout = {name for name in load_syncnet(str(trained_syncnet), "cpu").state_dict()}
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()) and layout
    instance = SyncNetInstance()
    instance.loadParameters(str(trained_syncnet))


@pytest.mark.slow
def test_fine_tuning_from_the_stand_in_weights_keeps_batchnorm_and_writes_a_loadable_file(
        syncnet_weights, tmp_path):
    from SyncNetInstance import SyncNetInstance
    from syncnet.train.loop import train

    for index in range(3):
        make_face_clip(tmp_path / "clips" / f"c{index}.avi", seconds=2.0, seed=300 + index)
    result = train([tmp_path / "clips"], tmp_path / "run", TrainOptions(max_steps=3, batch_size=4, val_share=0.0),
                   init=str(syncnet_weights), device="cpu")
    before = torch.load(syncnet_weights, weights_only=True)
    after = torch.load(result.model, weights_only=True)
    assert set(after) == set(before) and result.steps == 3
    statistics = [name for name in before if name.endswith(("running_mean", "running_var"))]
    weights = [name for name in before if name.endswith("weight")]
    assert all(torch.equal(before[name], after[name]) for name in statistics)  # frozen with --init
    assert any(not torch.equal(before[name], after[name]) for name in weights)  # but it learned
    SyncNetInstance().loadParameters(result.model)

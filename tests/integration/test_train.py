"""syncnet-train on real clips: the validation copies carry the shift they name (by the synthetic
world's numpy oracle), and a short fine-tuning of the stand-in weights keeps BatchNorm's
statistics and writes a file the reference's class loads."""
import pytest
import torch

from syncnet.synthetic import constant, make_face_clip
from syncnet.train.options import TrainOptions
from tests.helpers import audio_loudness, best_lag, decoded_frames, mouth_area


def test_validation_copies_carry_the_shift_they_name(tmp_path):
    from syncnet.train.validation import make_val_items

    truth = make_face_clip(tmp_path / "held.avi", seconds=3.0, seed=21, offset=constant(0))
    items = make_val_items([truth.path], 2, 8, seed=3, folder=tmp_path / "val")
    assert len({item.shift for item in items}) == 2 and any(item.shift for item in items)
    for item in items:
        lag, _ = best_lag(audio_loudness(item.path, tmp_path), mouth_area(decoded_frames(item.path)))
        assert lag == item.shift


@pytest.mark.slow
def test_fine_tuning_from_the_stand_in_weights_keeps_batchnorm_and_writes_a_loadable_file(
        syncnet_weights, tmp_path):
    from syncnet.train.dispatch import train
    from SyncNetInstance import SyncNetInstance

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

"""The model that syncnet-train trained from scratch for this run (`trained_syncnet`) finds true
offsets through demo_syncnet.py where the random stand-in weights do not, and its run folder
holds its record, curves and an official-format model."""
import re

import numpy as np
import pytest
import torch

from syncnet.synthetic import constant, make_face_clip
from tests.helpers import run_command

HELD_OUT_SHIFTS = range(-10, 11)


def _held_out_clips(root):
    """Clips the model never saw (seeds 5000+), one per shift in -10..+10, half MP3-coded."""
    return [make_face_clip(root / f"held_{shift:+d}.avi", seconds=3.0, seed=5000 + index, offset=constant(shift),
                           mp3=index % 2 == 0)
            for index, shift in enumerate(HELD_OUT_SHIFTS)]


def _demo_offset(model, video, tmp_path):
    result = run_command("demo_syncnet.py", "--videofile", video, "--initial_model", model, "--tmp_dir",
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

    from syncnet.models.loading import load_syncnet
    from SyncNetInstance import SyncNetInstance

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

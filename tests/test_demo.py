"""demo_syncnet.py and demo_feature.py against what the reference computed with the same weights."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import demo_syncnet
import SyncNetInstance as instance_module
from syncnet.scoring import summarise
from tests.conftest import REPO_ROOT

# The fixtures README's tolerances: JPEG encoders differ slightly across ffmpeg versions.
MEAN_DIST_TOL = 0.005
WINDOW_DIST_TOL = 0.05
RESULT_LINES = re.compile(r"AV offset: \t(-?\d+) \nMin dist: \t(\d+\.\d{3})\nConfidence: \t(-?\d+\.\d{3})\n")


@pytest.fixture
def evaluate_spy(monkeypatch):
    """Record what SyncNetInstance.evaluate returns while the real script runs."""
    returned = []
    real = instance_module.SyncNetInstance.evaluate

    def spy(self, opt, videofile):
        returned.append(real(self, opt, videofile))
        return returned[-1]

    monkeypatch.setattr(instance_module.SyncNetInstance, "evaluate", spy)
    return returned


@pytest.mark.parametrize("name", ["example", "synced_example"])
def test_demo_matches_reference(name, clip, golden_dir, syncnet_weights, tmp_path, capsys, evaluate_spy):
    video = clip(f"{name}.avi")
    golden = json.loads((golden_dir / f"demo_{name}.json").read_text())
    golden_dists = np.load(golden_dir / f"demo_{name}_dists.npy")

    status = demo_syncnet.main(["--initial_model", str(syncnet_weights), "--videofile", str(video),
                                "--tmp_dir", str(tmp_path / "pytmp"), "--device", "cpu"])
    assert status == 0
    out = capsys.readouterr().out
    offset, confidence, dists = evaluate_spy[0]

    assert dists.shape == golden_dists.shape == (golden["n_windows"], 31)
    np.testing.assert_allclose(dists, golden_dists, rtol=0, atol=WINDOW_DIST_TOL)
    summary = summarise(dists, vshift=15)
    np.testing.assert_allclose(summary.mean_dists, golden["mean_dists"], rtol=0, atol=MEAN_DIST_TOL)
    np.testing.assert_allclose(summary.min_dist, golden["min_dist"], rtol=0, atol=MEAN_DIST_TOL)
    np.testing.assert_allclose(summary.confidence, golden["confidence"], rtol=0, atol=MEAN_DIST_TOL)
    np.testing.assert_allclose(summary.framewise_conf, golden["framewise_conf"], rtol=0, atol=WINDOW_DIST_TOL)
    assert offset == summary.offset == golden["offset"]
    assert confidence == pytest.approx(summary.confidence)

    assert out.startswith(f"Model {syncnet_weights} loaded.\n")
    match = RESULT_LINES.search(out)
    assert match, out
    assert match.group(0) == "AV offset: \t%d \nMin dist: \t%.3f\nConfidence: \t%.3f\n" % (
        summary.offset, summary.min_dist, summary.confidence)
    assert "Framewise conf: \n[" in out


def test_features_match_reference(clip, golden_dir, syncnet_weights, tmp_path):
    save_as = tmp_path / "out dir" / "features.pt"
    save_as.parent.mkdir()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "demo_feature.py"), "--initial_model", str(syncnet_weights),
         "--videofile", str(clip("example.avi")), "--save_as", str(save_as), "--device", "cpu"],
        cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    features = torch.load(save_as, weights_only=True).numpy()
    golden = np.load(golden_dir / "feature_example.npy")
    assert features.shape == golden.shape == (313, 512)
    np.testing.assert_allclose(features, golden, rtol=1e-3, atol=1e-3 * np.abs(golden).max())

"""demo_syncnet.py and demo_feature.py against what the reference computed with the same weights."""
import argparse
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import demo_syncnet
from SyncNetInstance import SyncNetInstance
from tests.helpers import REPO_ROOT, TEST_DEVICE, reference_summary

# The fixtures README's tolerances: JPEG encoders differ slightly across ffmpeg versions.
MEAN_DIST_TOL = 0.005
WINDOW_DIST_TOL = 0.05
RESULT_LINES = re.compile(r"AV offset: \t(-?\d+) \nMin dist: \t(\d+\.\d{3})\nConfidence: \t(-?\d+\.\d{3})\n")


def _golden(golden_dir, name):
    return (json.loads((golden_dir / f"demo_{name}.json").read_text()),
            np.load(golden_dir / f"demo_{name}_dists.npy"))


# synced_example takes the same code path on another clip: the whole suite runs it, the fast
# tier only example (a sixth of the fast tier's time).
@pytest.mark.parametrize("name", ["example", pytest.param("synced_example", marks=pytest.mark.slow)])
def test_reference_interface_matches_reference(name, clip, golden_dir, syncnet_weights, tmp_path, capsys):
    """SyncNetInstance(...).evaluate(opt, videofile), called as the reference's demo called it."""
    golden, golden_dists = _golden(golden_dir, name)
    instance = SyncNetInstance(device=TEST_DEVICE)
    instance.loadParameters(str(syncnet_weights))
    opt = argparse.Namespace(tmp_dir=str(tmp_path / "pytmp"), reference="demo", batch_size=20, vshift=15)
    offset, confidence, dists = instance.evaluate(opt, videofile=str(clip(f"{name}.avi")))
    out = capsys.readouterr().out

    assert dists.shape == golden_dists.shape == (golden["n_windows"], 31)
    np.testing.assert_allclose(dists, golden_dists, rtol=0, atol=WINDOW_DIST_TOL)
    np.testing.assert_allclose(dists.mean(0), golden["mean_dists"], rtol=0, atol=MEAN_DIST_TOL)
    expected_offset, min_dist, expected_confidence = reference_summary(dists)
    assert offset == expected_offset == golden["offset"]
    assert confidence == pytest.approx(expected_confidence, abs=1e-5)
    assert confidence == pytest.approx(golden["confidence"], abs=MEAN_DIST_TOL)
    assert min_dist == pytest.approx(golden["min_dist"], abs=MEAN_DIST_TOL)

    match = RESULT_LINES.search(out)
    assert match, out
    assert (int(match.group(1)), float(match.group(2)), float(match.group(3))) == \
        (golden["offset"], pytest.approx(golden["min_dist"], abs=MEAN_DIST_TOL + 5e-4),
         pytest.approx(golden["confidence"], abs=MEAN_DIST_TOL + 5e-4))
    framewise = [float(v) for v in out.split("Framewise conf: \n[", 1)[1].split("]", 1)[0].split()]
    np.testing.assert_allclose(framewise, golden["framewise_conf"], rtol=0, atol=WINDOW_DIST_TOL)


@pytest.mark.slow
def test_demo_script_prints_the_reference_lines(clip, golden_dir, syncnet_weights, tmp_path, capsys):
    golden, _ = _golden(golden_dir, "example")
    status = demo_syncnet.main(["--initial_model", str(syncnet_weights), "--videofile", str(clip("example.avi")),
                                "--tmp_dir", str(tmp_path / "pytmp"), "--device", TEST_DEVICE])
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Model {syncnet_weights} loaded.\n")
    assert re.search(r"\nCompute time \d+\.\d{3} sec\.\nFramewise conf: \n\[", out)
    match = RESULT_LINES.search(out)
    assert match and int(match.group(1)) == golden["offset"]
    assert float(match.group(3)) == pytest.approx(golden["confidence"], abs=MEAN_DIST_TOL + 5e-4)


@pytest.mark.slow  # a whole demo_feature.py run; the fast tier's demo golden runs the same lip network
def test_features_match_reference(clip, golden_dir, syncnet_weights, tmp_path):
    save_as = tmp_path / "out dir" / "features.pt"
    save_as.parent.mkdir()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "demo_feature.py"), "--initial_model", str(syncnet_weights),
         "--videofile", str(clip("example.avi")), "--save_as", str(save_as), "--device", TEST_DEVICE],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # The reference's stdout line says the model loaded; no log line repeats it on stderr.
    assert (result.stdout + result.stderr).count("loaded") == 1
    assert result.stdout.startswith(f"Model {syncnet_weights} loaded.\n")
    features = torch.load(save_as, weights_only=True).numpy()
    golden = np.load(golden_dir / "feature_example.npy")
    assert features.shape == golden.shape == (313, 512)
    np.testing.assert_allclose(features, golden, rtol=1e-3, atol=1e-3 * np.abs(golden).max())

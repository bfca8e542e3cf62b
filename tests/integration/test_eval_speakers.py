"""syncnet-eval --protocol ava / columbia on a synthetic conversation scene written as the
benchmarks' CSV (stand-in weights: the numbers are not the point, their computation is): a
prediction row for every ground-truth box, an unscorable box at the lowest score, and the mAP in
dataset.json equal to an AP computed here from predictions.csv by the VOC definition."""
import csv
import json
import math

import pytest

from syncnet.synthetic import make_conversation_clip
from tests.helpers import run_command

pytestmark = pytest.mark.timeout(600)


def _independent_ap(scores, positives):
    """AP as VOC defines it, step by step: rank by score (ties in file order), precision and
    recall after each row, then for each recall level the best precision at that recall or beyond."""
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
    total, hits, points = sum(positives), 0, []
    for count, index in enumerate(ranked, 1):
        hits += positives[index]
        points.append((hits / total, hits / count))
    area, previous_recall = 0.0, 0.0
    for position, (recall, _) in enumerate(points):
        if recall > previous_recall:
            area += (recall - previous_recall) * max(p for _, p in points[position:])
            previous_recall = recall
    return area


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 2 s turn-taking scene and its ground truth in AVA's CSV: every other frame of each face,
    and a third entity whose boxes come after the video's end (it cannot be scored)."""
    folder = tmp_path_factory.mktemp("ava")
    truth = make_conversation_clip(folder / "talk.avi", "turns", seconds=2.0, seed=3)
    rows = []
    for frame in range(0, len(truth.faces), 2):
        for side, face in enumerate(truth.faces[frame]):
            x1, y1, x2, y2 = face["bbox"]
            label = "SPEAKING_AUDIBLE" if truth.speaking[frame, side] else "NOT_SPEAKING"
            rows.append(["talk", f"{frame / 25:.2f}", x1 / 640, y1 / 360, x2 / 640, y2 / 360, label, f"talk:{side}"])
    rows += [["talk", f"{3 + k / 25:.2f}", 0.1, 0.1, 0.3, 0.4, "SPEAKING_AUDIBLE", "talk:ghost"] for k in range(3)]
    labels = folder / "gt.csv"
    with open(labels, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return truth, labels, rows


@pytest.mark.parametrize("protocol", ["ava", "columbia"])
def test_eval_speaker_protocols_on_the_ground_truth_boxes(scene, protocol, syncnet_weights, tmp_path):
    truth, labels, rows = scene
    out = tmp_path / "eval"
    result = run_command("syncnet.eval", truth.path, "--protocol", protocol, "--labels", labels, "--out", out,
                         "--initial_model", syncnet_weights, "--device", "cpu", "--n_boot", "200", cwd=tmp_path)
    summary = json.loads((out / "dataset.json").read_text())
    predictions = list(csv.reader(open(out / "predictions.csv", newline="")))
    assert [row[:6] + row[7:8] for row in predictions] == [[str(v) for v in row[:6] + row[7:8]] for row in rows]
    assert {row[6] for row in predictions} == {"SPEAKING_AUDIBLE"}
    scores = [float(row[8]) for row in predictions]
    assert scores[-3:] == [-math.inf] * 3 and all(math.isfinite(s) for s in scores[:-3])
    if protocol == "ava":
        expected = _independent_ap(scores, [row[6] == "SPEAKING_AUDIBLE" for row in rows])
        assert summary["mAP"] == pytest.approx(expected, abs=1e-12)
        assert f"mAP {summary['mAP']:.3f}" in result.stdout.splitlines()[-1]
    else:
        assert set(summary["F1"]) == {"talk:0", "talk:1", "talk:ghost"} and summary["F1"]["talk:ghost"] == 0.0
        assert summary["mean_F1"] == pytest.approx(sum(summary["F1"].values()) / 3)


def test_eval_speaker_protocols_refuse_bad_input(scene, tmp_path):
    truth, labels, _ = scene
    result = run_command("syncnet.eval", truth.path, "--protocol", "ava", "--out", tmp_path / "e", cwd=tmp_path,
                         check=False)
    assert result.returncode != 0 and "needs --labels" in result.stderr and "Traceback" not in result.stderr
    result = run_command("syncnet.eval", truth.path, "--protocol", "ava", "--labels", labels, "--desync_ms", "40",
                         "--out", tmp_path / "e", cwd=tmp_path, check=False)
    assert result.returncode != 0 and "--desync_ms" in result.stderr and "Traceback" not in result.stderr

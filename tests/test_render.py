"""What the pictures show: box labels clear of their box and inside the frame, and the demo
plot's note clear of the curve."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from syncnet.render.visualise import draw_faces

WHITE = (255, 255, 255)


def _drawn(x, y, s, conf=2.0):
    image = np.zeros((360, 640, 3), np.uint8)
    return draw_faces(image, [{"track": 0, "conf": conf, "x": x, "y": y, "s": s}])


@pytest.mark.parametrize("x, y, s", [(300, 180, 60), (30, 20, 60), (620, 340, 60), (320, 5, 200)])
def test_a_label_is_clear_of_its_box_and_inside_the_frame(x, y, s):
    """The label (white) never crosses the box's top edge, and the box's edges are on the frame
    even when the face runs off it."""
    image = _drawn(x, y, s)
    label = np.all(image == WHITE, axis=2)
    edge = (image[:, :, 2] > 0) & ~label  # the box is red-to-green, never white
    assert label.sum() > 100, "the label is drawn"
    rows, columns = np.nonzero(edge)
    top, left = max(int(y - s), 1), max(int(x - s), 1)
    assert rows.min() <= max(top, 1) and columns.min() <= max(left, 1), "the clipped box shows its edges"
    ys, xs = np.nonzero(label)
    # Clear of the box's top edge: every label pixel above it, or (no room above) below it.
    top_edge = max(min(int(y - s), 358), 1)
    assert ys.max() < top_edge - 1 or ys.min() > top_edge + 1


def test_a_label_keeps_the_references_place_above_the_box():
    """Where the label fits above the box it stays there, as the reference draws it, a few pixels up."""
    ys, xs = np.nonzero(np.all(_drawn(300, 180, 60) == WHITE, axis=2))
    assert xs.min() in range(240, 243) and 120 - 20 <= ys.min() and ys.max() < 120 - 1


@pytest.mark.parametrize("offset", [-3, 4])
def test_the_demo_plots_note_does_not_cover_the_curve(offset, tmp_path):
    from syncnet.render.plots import plot_demo

    rng = np.random.default_rng(offset + 20)
    shifts = 15 - np.arange(31)
    dists = 10 + rng.normal(0, 0.4, 31) - 4 * np.exp(-((shifts - offset) / 1.5) ** 2)
    summary = SimpleNamespace(offset=offset, min_dist=float(dists.min()), confidence=float(np.median(dists) - dists.min()),
                              mean_dists=dists, framewise_conf=rng.normal(1, 1, 60))
    figure = plot_demo(summary, 15, "made up", tmp_path / "plot.png")
    curve = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    note = next(t for t in curve.texts if t.get_text().startswith("confidence"))
    box = note.get_bbox_patch().get_window_extent(renderer)
    line = next(line for line in curve.lines if line.get_label() == "mean lip-audio distance")
    points = curve.transData.transform(np.column_stack(line.get_data()))
    dense = np.concatenate([np.linspace(a, b, 50) for a, b in zip(points[:-1], points[1:])])
    inside = [(px, py) for px, py in dense if box.x0 <= px <= box.x1 and box.y0 <= py <= box.y1]
    assert not inside, f"the curve passes through the note at {inside[:3]}"
    assert not box.overlaps(curve.get_legend().get_window_extent(renderer))
    assert math.isfinite(box.x0) and (tmp_path / "plot.png").stat().st_size > 0

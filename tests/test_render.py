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


@pytest.mark.parametrize("x, y, s", [(30, 20, 60), (620, 340, 60), (320, 5, 200), (600, 100, 30)])
def test_a_box_off_the_frame_is_clipped_and_its_label_kept_inside(x, y, s):
    """A face running off the frame: the box's edges are drawn on the frame's border, and the
    whole label is inside the frame, clear of the box's top edge."""
    image = _drawn(x, y, s)
    label = np.all(image == WHITE, axis=2)
    edge = (image[:, :, 2] > 0) & ~label  # the box is red-to-green, never white
    ys, xs = np.nonzero(label)
    assert label.sum() > 100, "the label is drawn"
    assert xs.max() < 639 and ys.min() > 0 and ys.max() < 359, "inside the frame"
    rows, columns = np.nonzero(edge)
    assert rows.min() <= max(int(y - s), 1) and columns.min() <= max(int(x - s), 1), "edges on the frame"
    assert rows.max() >= min(int(y + s), 358) and columns.max() >= min(int(x + s), 638)
    top_edge = max(int(y - s), 1)
    if int(y - s) < 14:  # no room above: the label is below the top edge, not on it
        assert ys.min() > top_edge + 1
    # The label's full width fits: it was moved left of the right border, not cut by it.
    assert xs.max() - xs.min() > 100


def test_a_label_inside_the_frame_stays_where_the_reference_draws_it():
    """Baseline on the box's top edge at its left corner: the golden frames need that place."""
    ys, xs = np.nonzero(np.all(_drawn(300, 180, 60) == WHITE, axis=2))
    assert xs.min() in range(240, 243) and ys.min() >= 120 - 14 and ys.max() in range(119, 124)


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

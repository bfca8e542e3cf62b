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
    summary = SimpleNamespace(offset=offset, min_dist=float(dists.min()),
                              confidence=float(np.median(dists) - dists.min()),
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


def _segment(start_s, offset_ms, confidence, reliable=True):
    return {"start_s": start_s, "end_s": start_s + 5.0, "offset_frames": None if offset_ms is None else offset_ms / 40,
            "offset_ms": offset_ms, "min_dist": 7.0, "confidence": confidence, "reliable": reliable}


@pytest.mark.parametrize("jumps", [[], [30.0]])
def test_the_offset_over_time_panel_shows_each_segment_the_fit_and_the_tolerance(jumps):
    """confidence.png's and the demo plot's panel, read back from the drawing: each spoken segment
    at its centre and offset, the silent one a grey span, the fitted course from the record's
    start to its end offset (stepping at a jump), and the tolerance band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    from syncnet.render.plots import draw_timeline

    segments = [_segment(0.0, 0.0, 1.2), _segment(10.0, None, 0.0, reliable=False), _segment(40.0, 200.0, 0.9),
                _segment(50.0, 160.0, 0.1, reliable=False)]
    record = {"segment_s": 5.0, "hop_s": 2.5, "tolerance_ms": [-125.0, 45.0], "segments": segments,
              "verdict": "jumps" if jumps else "drift", "drift_ms_per_min": None if jumps else 200.0,
              "offset_ms_at_start": 0.0, "offset_ms_at_end": 200.0, "jumps_s": jumps}
    figure, axes = plt.subplots()
    try:
        draw_timeline(axes, record, 60.0)
        points = {tuple(np.round(offset, 6)) for collection in axes.collections
                  if isinstance(collection, PathCollection) for offset in collection.get_offsets()}
        assert points == {(2.5, 0.0), (42.5, 200.0), (52.5, 160.0)}
        (fit,) = [line for line in axes.lines if line.get_label().startswith("fit: ")]
        expected = ([0, 30, 30, 60], [0, 0, 200, 200]) if jumps else ([0, 60], [0, 200])
        assert (list(fit.get_xdata()), list(fit.get_ydata())) == expected
        spans = [patch.get_extents() for patch in axes.patches]
        band = [box for box in spans if box.width > box.height]  # the tolerance: across the panel
        silence = [box for box in spans if box.height > box.width]  # the silent segment: full height
        to_data = axes.transData.inverted()
        (low, high) = [to_data.transform((0, y))[1] for y in (band[0].y0, band[0].y1)]
        assert (round(low), round(high)) == (-125, 45)
        (left, right) = [to_data.transform((x, 0))[0] for x in (silence[0].x0, silence[0].x1)]
        assert (round(left, 3), round(right, 3)) == (10.0, 15.0)
        assert ("drift +200.0 ms/min" in axes.get_title()) == (not jumps)
    finally:
        plt.close(figure)

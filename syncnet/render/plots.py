"""Pictures for people: the demo's distance curve and confidence, and who speaks when.

matplotlib is imported inside the functions (Agg canvas, no pyplot state), so importing this
module, or a script that uses it, stays fast.
"""
import os

import numpy as np

from syncnet.errors import InputError
from syncnet.io.fileio import atomic_path
from syncnet.io.media import FRAME_RATE
from syncnet.scoring.offsets import column_offsets, median_distance

PLOT_FORMATS = (".png", ".pdf", ".svg")


def check_plot_path(path):
    """Refuse a plot name whose extension matplotlib would not write as an image here."""
    if os.path.splitext(os.fspath(path))[1].lower() not in PLOT_FORMATS:
        raise InputError(f"{path}: the plot must end with {', '.join(PLOT_FORMATS)}")
    return path


def _figure(rows, height_ratios, size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, 1, height_ratios=height_ratios, squeeze=False)[:, 0]


def _save(figure, path):
    with atomic_path(path) as temporary:
        figure.savefig(temporary)


def _fitted_course(record, duration_s):
    """(times, offsets in ms) of the fitted line a timeline record describes: a line from its start
    to its end offset, or steps at its jumps (middle levels: the median of their reliable segments)."""
    start, end = record["offset_ms_at_start"], record["offset_ms_at_end"]
    if start is None:
        return [], []
    jumps = record["jumps_s"]
    if not jumps:
        return [0.0, duration_s], [start, end]
    bounds = [0.0, *jumps, duration_s]
    levels = []
    for index, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        inside = [segment["offset_ms"] for segment in record["segments"] if segment["reliable"]
                  and lo <= (segment["start_s"] + segment["end_s"]) / 2 < hi]
        levels.append(start if index == 0 else end if index == len(bounds) - 2
                      else float(np.median(inside)) if inside else np.nan)
    times = [time for lo, hi in zip(bounds[:-1], bounds[1:]) for time in (lo, hi)]
    return times, [level for level in levels for _ in (0, 1)]


def draw_timeline(axes, record, duration_s, label="", start_s=0.0, axis_s=None):
    """The offset-over-time panel of a timeline record (Timeline.record()) of something
    `duration_s` long that starts `start_s` into an axis of `axis_s` (default duration_s): each
    segment's offset in ms coloured by its confidence (hollow when unreliable, a grey span when
    silent), the fitted course, and the tolerance band shaded."""
    late, early = record["tolerance_ms"]
    axes.axhspan(late, early, color="C2", alpha=0.15, linewidth=0,
                 label=f"in sync: {early:+g} / {late:+g} ms (tolerance)")
    axes.axhline(0, color="grey", linewidth=0.8)
    segments = record["segments"]
    spoken = [segment for segment in segments if segment["offset_ms"] is not None]
    reliable = [segment for segment in spoken if segment["reliable"]]
    unreliable = [segment for segment in spoken if not segment["reliable"]]
    if unreliable:
        axes.scatter([start_s + (segment["start_s"] + segment["end_s"]) / 2 for segment in unreliable],
                     [segment["offset_ms"] for segment in unreliable], s=36, zorder=3, facecolors="none",
                     edgecolors="grey", label="segment offset (unreliable: low confidence)")
    if reliable:
        points = axes.scatter([start_s + (segment["start_s"] + segment["end_s"]) / 2 for segment in reliable],
                              [segment["offset_ms"] for segment in reliable], s=36, zorder=3,
                              c=[segment["confidence"] for segment in reliable], cmap="viridis", vmin=0,
                              label="segment offset (reliable)")
        axes.figure.colorbar(points, ax=axes, label="segment confidence", pad=0.01)
    for segment in segments:
        if segment["offset_ms"] is None:
            axes.axvspan(start_s + segment["start_s"], start_s + segment["end_s"], color="lightgrey", alpha=0.3,
                         linewidth=0)
    if any(segment["offset_ms"] is None for segment in segments):
        axes.plot([], [], color="lightgrey", linewidth=6, label="no speech")
    times, course = _fitted_course(record, duration_s)
    if times:
        axes.plot(np.add(times, start_s), course, color="C3", linewidth=1.5, label=f"fit: {record['verdict']}")
    for jump in record["jumps_s"]:
        axes.axvline(start_s + jump, color="C3", linestyle=":", linewidth=1)
    drift = record["drift_ms_per_min"]
    numbers = "" if drift is None else f", drift {drift:+.1f} ms/min"
    axes.set_title(f"{label}Offset over time: {record['verdict']}{numbers} "
                   f"(segments of {record['segment_s']:g} s every {record['hop_s']:g} s)")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("offset (ms; + = audio early)")
    axes.set_xlim(0, max(axis_s or duration_s, 1e-3))
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")


def plot_demo(summary, vshift, title, path, timeline=None):
    """The 31-point mean distance curve with its minimum, the framewise confidence over time, and
    with a Timeline, the offset over time."""
    rows = 2 if timeline is None else 3
    figure, panels = _figure(rows, [1] * rows, (9, 3.75 * rows))
    curve, framewise = panels[:2]
    figure.suptitle(f"{title}\nAV offset {summary.offset:+d} frames, min dist (LSE-D) "
                    f"{summary.min_dist:.3f}, confidence (LSE-C) {summary.confidence:.3f}")

    offsets = column_offsets(vshift)
    median = float(median_distance(summary.mean_dists))
    curve.plot(offsets, summary.mean_dists, "o-", color="C0", markersize=4,
               label="mean lip-audio distance")
    curve.axhline(median, color="grey", linestyle="--", label=f"median {median:.3f}")
    curve.plot([summary.offset], [summary.min_dist], "o", color="C3", markersize=10,
               label=f"minimum: best offset {summary.offset:+d}")
    curve.annotate("", xy=(summary.offset, summary.min_dist), xytext=(summary.offset, median),
                   arrowprops={"arrowstyle": "<->", "color": "C3"})
    # The note goes in a band added below the curve, on the side away from the dip, with an
    # arrow to the confidence it explains, so it never covers a point of the curve.
    low, high = float(np.min(summary.mean_dists)), float(np.max(summary.mean_dists))
    spread = max(high - low, 1e-6)
    curve.set_ylim(low - 0.55 * spread, high + 0.45 * spread)  # the band below, and room for the legend
    far_side = summary.offset <= 0  # the dip is on the right: the note goes to the left, and back
    curve.annotate(f"confidence = median - minimum\n= {summary.confidence:.3f}",
                   xy=(summary.offset, (summary.min_dist + median) / 2), color="C3",
                   xytext=(0.02 if not far_side else 0.98, 0.04), textcoords="axes fraction",
                   ha="left" if not far_side else "right", va="bottom",
                   arrowprops={"arrowstyle": "->", "color": "C3", "shrinkB": 4},
                   bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "C3", "alpha": 0.9})
    curve.set_xlabel("audio shift tested (video frames of 40 ms; + = audio early, - = audio late)")
    curve.set_ylabel("distance (lower = better match)")
    curve.set_title("How well the lips match the audio at each shift: the dip marks the offset")
    curve.grid(alpha=0.3)
    curve.legend(loc="upper center", fontsize="small", ncols=3)

    times = (np.arange(len(summary.framewise_conf)) + 2.5) / FRAME_RATE
    conf = summary.framewise_conf
    framewise.plot(times, conf, color="C2")
    framewise.fill_between(times, conf, 0, where=conf > 0, color="C2", alpha=0.3, interpolate=True)
    framewise.axhline(0, color="grey", linewidth=0.8)
    framewise.set_xlabel("time (s), centre of each 5-frame window")
    framewise.set_ylabel("confidence per window")
    framewise.set_title(f"Confidence over time at offset {summary.offset:+d} "
                        "(higher = lips and audio agree; near 0 = silence or no match)")
    framewise.grid(alpha=0.3)
    if timeline is not None:
        draw_timeline(panels[2], timeline.record(), timeline.duration_s)
    _save(figure, path)
    return figure


def plot_speakers(table, path, timelines=()):
    """Each track's per-frame confidence against time, the speaking intervals shaded, and a timeline;
    then for each of `timelines`, (timeline.json's entry, the track's start and length in s), its
    offset over time."""
    figure, panels = _figure(2 + len(timelines), [3, 1] + [2] * len(timelines), (10, 6.5 + 3.5 * len(timelines)))
    curves, timeline = panels[:2]
    rate = table["frame_rate"]
    threshold = table["speaker_threshold"]
    tracks = [entry["track"] for entry in table["tracks"]]
    names = {entry["track"]: f"track {entry['track']} ({entry['file']})" for entry in table["tracks"]}
    colours = {track: f"C{index % 10}" for index, track in enumerate(tracks)}
    n_frames = len(table["frames"])

    for track in tracks:
        points = [(entry["frame"], entry["confidence"][str(track)]) for entry in table["frames"]
                  if str(track) in entry["confidence"]]
        if points:
            frames, values = np.array(points).T
            curves.plot(frames / rate, values, color=colours[track], label=names[track])
            visible = (frames[0] / rate, (frames[-1] + 1 - frames[0]) / rate)
            timeline.broken_barh([visible], (track - 0.1, 0.2), color="lightgrey")
    for segment in table["segments"]:
        start, end = segment["start_frame"] / rate, (segment["end_frame"] + 1) / rate
        colour = colours[segment["track"]]
        curves.axvspan(start, end, color=colour, alpha=0.15, linewidth=0)
        timeline.broken_barh([(start, end - start)], (segment["track"] - 0.35, 0.7), color=colour)
    curves.axhline(threshold, color="black", linestyle="--", linewidth=1,
                   label=f"speaking threshold {threshold:g}")

    if not tracks:
        heard = "no face track was found in this video, so there is nobody to show"
    elif table["segments"]:
        heard = "shaded = that face is speaking (rose above the threshold, held above the release)"
    else:
        heard = "no face speaks for long enough above the threshold: nobody is marked as speaking"
    curves.set_title(f"Who speaks when: how well each face's lips match the audio\n{heard}")
    curves.set_ylabel("sync confidence (higher = lips match the audio)")
    curves.grid(alpha=0.3)
    if tracks:
        curves.legend(loc="upper right", fontsize="small")
    timeline.set_yticks(tracks, [f"track {track}" for track in tracks])
    timeline.set_ylim(max(tracks, default=0) + 0.6, min(tracks, default=0) - 0.6)
    timeline.set_title("Timeline: grey = face visible, colour = speaking", fontsize="medium")
    timeline.set_xlabel("time (s)")
    for axes in (curves, timeline):
        axes.set_xlim(0, max(n_frames, 1) / rate)
    for axes, (entry, start_s, duration_s) in zip(panels[2:], timelines):
        draw_timeline(axes, entry, duration_s, f"Track {entry['track']}: ", start_s, max(n_frames, 1) / rate)
    _save(figure, path)


def plot_training(rows, path, margin=None):
    """syncnet-train's curves.png: the training loss, the validation offset accuracy, and the
    validation distances and LSE-C, against the step (`rows`: metrics.csv's rows as dicts)."""
    figure, (losses, accuracy, distances) = _figure(3, [1, 1, 1], (9, 10))

    def series(name):
        points = [(row["step"], row[name]) for row in rows if row.get(name) not in (None, "")]
        return np.array(points, dtype=float).T if points else (np.zeros(0), np.zeros(0))

    steps, loss = series("loss")
    losses.plot(steps, loss, color="C0", alpha=0.6, label="training loss (mean over the rows' steps)")
    if len(loss) >= 5:
        width = max(len(loss) // 10, 3)
        smooth = np.convolve(loss, np.ones(width) / width, mode="valid")
        losses.plot(steps[width - 1:], smooth, color="C0", label=f"moving mean of {width} rows")
    losses.set_title("Training loss: it should fall, then flatten")
    losses.set_ylabel("loss")
    losses.grid(alpha=0.3)
    losses.legend(loc="best", fontsize="small")

    for name, label, colour in (("val_within1", "within ±1 frame", "C2"), ("val_exact", "exact", "C1")):
        steps, values = series(name)
        accuracy.plot(steps, 100 * values, "o-", color=colour, label=label)
    accuracy.set_ylim(-5, 105)
    accuracy.set_title("Validation: held-out clips with known shifts, scored as demo_syncnet.py scores them\n"
                       "share whose AV offset is found (a model that has not learned stays near 3-10%)")
    accuracy.set_ylabel("offset found (%)")
    accuracy.grid(alpha=0.3)
    accuracy.legend(loc="best", fontsize="small")

    for name, label, colour in (("pos_dist", "distance at the true offset", "C2"),
                                ("neg_dist", "distance at wrong offsets", "C3"),
                                ("lse_c", "confidence (LSE-C)", "C4")):
        steps, values = series(name)
        distances.plot(steps, values, "o-", color=colour, label=label)
    if margin is not None:
        distances.axhline(margin, color="grey", linestyle="--", linewidth=1, label=f"margin {margin:g}")
    last = max((row["step"] for row in rows), default=1)
    for axes in (losses, accuracy, distances):
        axes.set_xlim(0, last)
    distances.set_title("Validation distances: the true offset's should fall below the others'")
    distances.set_xlabel("training step")
    distances.set_ylabel("distance")
    distances.grid(alpha=0.3)
    distances.legend(loc="best", fontsize="small")
    _save(figure, path)

"""Active-speaker benchmarks: AVA-ActiveSpeaker's mAP and Columbia ASD's per-speaker F1, on the
ground truth's own face boxes, and the desync-robustness measure.

The ground truth is a CSV in AVA's layout, without a header: video_id, frame_timestamp (seconds
from the video's start), entity_box_x1, y1, x2, y2 (normalised to the frame), label
(SPEAKING_AUDIBLE, SPEAKING_NOT_AUDIBLE or NOT_SPEAKING), entity_id. A video's `video_id` is its
file name without the extension. Columbia's labels are written the same way, the speaker's name
(Bell, Boll, Lieb, Long, Sick) as the entity_id. Each entity's boxes become one face track per
run of boxes (linear between given timestamps, on the 25 fps frames), cropped and scored as
run_syncnet scores any track (syncnet.scoring.speakers' score and decision); every given box gets
one prediction row, in AVA's format, and a box that cannot be scored the lowest score.

AVA's mAP follows the official ActivityNet script (Evaluation/get_ava_active_speaker_performance.py):
rows are matched on `frame_timestamp:entity_id`, each ground-truth row needs exactly one prediction
with the same box (to 1e-9), a true positive is a SPEAKING_AUDIBLE row, rows are ranked by score
(ties in the ground truth's order: a stable sort), and the AP is VOC's: precision made monotone
from the right, summed over the steps of recall. Columbia's F1 is per speaker over its boxes, the
prediction being the decision (speaking or not), then the mean over speakers.
"""
import csv
import math
import os
from dataclasses import dataclass

import numpy as np

from syncnet.errors import InputError
from syncnet.eval.stats import bootstrap_interval
from syncnet.io.media import FRAME_RATE
from syncnet.scoring.asd import AVA_COLUMNS, SPEAKING, UNSCORED, ava_row, csv_text
from syncnet.scoring.speakers import track_decisions

LABELS = (SPEAKING, "SPEAKING_NOT_AUDIBLE", "NOT_SPEAKING")
BOX_TOLERANCE = 1e-9  # the official script's equality of boxes
# Given boxes further apart than this (seconds) start a new track: AVA's tracks are sampled at
# 20-30 boxes a second, Columbia's at every frame; a longer gap is the face leaving the shot.
TRACK_GAP_S = 0.5


@dataclass(frozen=True)
class LabelRow:
    """One row of an AVA-layout CSV (ground truth: score None)."""
    video_id: str
    timestamp: str     # as written: the official script matches on its text
    box: tuple         # (x1, y1, x2, y2), normalised
    label: str
    entity_id: str
    score: float = None

    @property
    def uid(self):
        """The official script's key: frame_timestamp:entity_id."""
        return f"{self.timestamp}:{self.entity_id}"


def read_labels(path, scored=False):
    """The rows of an AVA-layout CSV (with a score column when `scored`); one bad line is an
    InputError naming the file, the line and the problem."""
    width = len(AVA_COLUMNS) if scored else len(AVA_COLUMNS) - 1
    if not os.path.isfile(path):
        raise InputError(f"--labels {path}: no such file: give the ground truth CSV (AVA's columns)")
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, cells in enumerate(csv.reader(handle), 1):
            if not cells or cells[0] == "video_id":  # a blank line, or a header some copies carry
                continue
            where = f"{path}: line {number}"
            if len(cells) != width:
                raise InputError(f"{where}: {len(cells)} fields; expected {width} ({', '.join(AVA_COLUMNS[:width])})")
            try:
                float(cells[1])
                box = tuple(float(value) for value in cells[2:6])
                score = float(cells[8]) if scored else None
            except ValueError:
                raise InputError(f"{where}: frame_timestamp, the box and the score must be numbers") from None
            if cells[6] not in LABELS:
                raise InputError(f"{where}: label {cells[6]!r}; expected one of {', '.join(LABELS)}")
            rows.append(LabelRow(cells[0], cells[1], box, cells[6], cells[7], score))
    if not rows:
        raise InputError(f"{path}: no rows: give the ground truth CSV (AVA's columns)")
    return rows


def given_tracks(rows, frame_size):
    """Face tracks from one video's label rows: per entity, one track per run of boxes no more
    than TRACK_GAP_S apart, on every 25 fps frame from its first box to its last (boxes linear in
    between), in pixels of `frame_size` (width, height). Each track is named by its entity and
    run (`name`)."""
    width, height = frame_size
    by_entity = {}
    for row in rows:
        by_entity.setdefault(row.entity_id, []).append((float(row.timestamp), row.box))
    tracks = []
    for entity, boxes in sorted(by_entity.items()):
        boxes.sort(key=lambda item: item[0])
        runs = [[boxes[0]]]
        for item in boxes[1:]:
            if item[0] - runs[-1][-1][0] > TRACK_GAP_S:
                runs.append([])
            runs[-1].append(item)
        for run in runs:
            times = np.array([time for time, _ in run])
            pixels = np.array([box for _, box in run]) * [width, height, width, height]
            frames = np.arange(int(round(times[0] * FRAME_RATE)), int(round(times[-1] * FRAME_RATE)) + 1)
            bbox = np.stack([np.interp(frames / FRAME_RATE, times, pixels[:, k]) for k in range(4)], axis=1)
            tracks.append({"frame": frames, "bbox": bbox, "name": f"{entity}@{times[0]:.3f}"})
    return tracks


def predict_on_given_boxes(rows, named_tracks, results, outputs):
    """AVA prediction rows for one video's label rows, on their own boxes: each box's score is
    its track's speaking score on the box's 25 fps frame, and `speaking` the decision there.
    `named_tracks` are the cropped tracks' names, in the order of `results` (TrackResults).
    Returns (prediction LabelRows, the decision per row: speaking or not)."""
    decisions = track_decisions(results, outputs)
    lookup = {}
    for name, track, (scores, speaking) in zip(named_tracks, results, decisions):
        entity = name.rsplit("@", 1)[0]
        for frame, score, on in zip(track.frames.tolist(), scores.tolist(), speaking.tolist()):
            lookup[(entity, frame)] = (score, on)
    predictions, speaking = [], []
    for row in rows:
        score, on = lookup.get((row.entity_id, int(round(float(row.timestamp) * FRAME_RATE))), (UNSCORED, False))
        score = UNSCORED if math.isnan(score) else score
        predictions.append(LabelRow(row.video_id, row.timestamp, row.box, SPEAKING, row.entity_id, score))
        speaking.append(bool(on) and score != UNSCORED)
    return predictions, speaking


def average_precision(scores, positives):
    """VOC average precision of rows ranked by `scores` (highest first, ties in the given order),
    `positives` saying which rows are true: precision at each row over all rows so far, recall
    over all positives, precision made non-increasing from the right, summed over recall's steps."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    hits = np.asarray(positives, dtype=bool)[order]
    if not hits.any():
        return 0.0
    true_positives = np.cumsum(hits)
    precision = np.r_[0.0, true_positives / np.arange(1, len(hits) + 1), 0.0]
    recall = np.r_[0.0, true_positives / hits.sum(), 1.0]
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def match_predictions(ground_truth, predictions):
    """(scores, positives) of the ground-truth rows, each matched to its one prediction as the
    official script matches them; a mismatch is an InputError that says what differs."""
    by_uid = {}
    for row in predictions:
        if row.uid in by_uid:
            raise InputError(f"predictions: two rows for {row.uid}: one row per frame_timestamp:entity_id")
        by_uid[row.uid] = row
    if len(by_uid) != len({row.uid for row in ground_truth}):
        raise InputError(f"the ground truth has {len({row.uid for row in ground_truth})} rows and the predictions "
                         f"{len(by_uid)}: one prediction per ground-truth box")
    scores, positives = [], []
    for row in ground_truth:
        predicted = by_uid.get(row.uid)
        if predicted is None:
            raise InputError(f"no prediction for {row.uid}: one prediction per ground-truth box")
        if any(abs(a - b) > BOX_TOLERANCE for a, b in zip(row.box, predicted.box)):
            raise InputError(f"the prediction for {row.uid} has another box than the ground truth: use its boxes")
        scores.append(predicted.score)
        positives.append(row.label == SPEAKING)
    return np.array(scores, dtype=float), np.array(positives, dtype=bool)


def f1_score(predicted, actual):
    """F1 of boolean predictions against the truth (0 where there is nothing to find or find)."""
    predicted, actual = np.asarray(predicted, dtype=bool), np.asarray(actual, dtype=bool)
    hits = int((predicted & actual).sum())
    total = int(predicted.sum() + actual.sum())
    return 2 * hits / total if total else 0.0


def ava_summary(ground_truth, predictions, videos, seed, n_boot):
    """AVA's mAP over all rows, with a bootstrap interval over videos (resampled with their rows)."""
    scores, positives = match_predictions(ground_truth, predictions)
    video_of = np.array([row.video_id for row in ground_truth])
    index = {video: np.flatnonzero(video_of == video) for video in videos}

    def statistic(chosen):
        rows = np.concatenate([index[video] for video in chosen])
        return average_precision(scores[rows], positives[rows])

    return {"mAP": average_precision(scores, positives), "n_rows": len(ground_truth),
            "n_positives": int(positives.sum()),
            "ci95": bootstrap_interval(list(videos), statistic, seed=seed, n_boot=n_boot)}


def columbia_summary(ground_truth, speaking, seed, n_boot):
    """Columbia's F1 per speaker (entity) of the decision against SPEAKING_AUDIBLE, their mean,
    and a bootstrap interval of the mean over speakers."""
    speaking = np.asarray(speaking, dtype=bool)
    entity_of = np.array([row.entity_id for row in ground_truth])
    actual = np.array([row.label == SPEAKING for row in ground_truth])
    per_speaker = {entity: f1_score(speaking[entity_of == entity], actual[entity_of == entity])
                   for entity in sorted(set(entity_of))}
    values = list(per_speaker.values())
    return {"F1": per_speaker, "mean_F1": float(np.mean(values)),
            "ci95": bootstrap_interval(values, lambda chosen: float(np.mean(chosen)), seed=seed, n_boot=n_boot)}


def predictions_text(predictions):
    """The prediction rows as the AVA CSV (no header)."""
    return csv_text([ava_row(row.video_id, row.timestamp, row.box, row.entity_id, row.score) for row in predictions])


@dataclass
class SpeakerEvaluation:
    """What evaluate_active_speaker found and wrote."""
    protocol: str
    summary: dict      # dataset.json
    predictions: list  # LabelRows with scores, in the ground truth's order
    files: list


def _video_id(path):
    return os.path.splitext(os.path.basename(path))[0]


def _predict_videos(scorer, videos, rows, work_dir, outputs, pipeline, suffix=""):
    """Prediction rows and decisions for every ground-truth row, video by video."""
    from syncnet.io.media import probe

    by_video = {}
    for row in rows:
        by_video.setdefault(row.video_id, []).append(row)
    predictions, speaking = {}, {}
    for video in videos:
        video_rows = by_video[_video_id(video)]
        info = probe(video)
        tracks = given_tracks(video_rows, (info.width, info.height))
        reference = _video_id(video) + suffix
        outcome = scorer.find_tracks(video, work_dir, reference, pipeline, tracks=tracks)
        result = scorer.score_tracks(work_dir, reference, outputs=outputs, timeline=None)
        names = [entry["track"]["name"] for entry in outcome.tracks]
        video_predictions, video_speaking = predict_on_given_boxes(video_rows, names, result.tracks, outputs)
        for row, predicted, on in zip(video_rows, video_predictions, video_speaking):
            predictions[id(row)], speaking[id(row)] = predicted, on
    return [predictions[id(row)] for row in rows], [speaking[id(row)] for row in rows]


def evaluate_active_speaker(videos, protocol, labels, out, scorer, outputs, pipeline, seed, n_boot, desync_ms=None):
    """Score `videos` on the boxes of the ground truth CSV `labels` and compute `protocol`'s
    numbers ("ava": mAP; "columbia": F1 per speaker and their mean), with bootstrap intervals.
    Writes predictions.csv (AVA's format) and dataset.json in `out`; with `desync_ms`, also the
    same videos with their audio delayed by that much (whole frames), predictions_desync.csv, and
    in dataset.json how the numbers fall and how many speaking boxes are still called speaking."""
    from syncnet.io.fileio import json_text, save_text
    from syncnet.repair.resync import write_synced

    ground_truth = read_labels(labels)
    known = {row.video_id for row in ground_truth}
    chosen = [video for video in videos if _video_id(video) in known]
    if not chosen:
        raise InputError(f"none of the videos is named in {labels} (a video_id is the file name without its "
                         "extension)")
    rows = [row for row in ground_truth if row.video_id in {_video_id(video) for video in chosen}]
    work_dir = os.path.join(out, "work")
    os.makedirs(work_dir, exist_ok=True)
    predictions, speaking = _predict_videos(scorer, chosen, rows, work_dir, outputs, pipeline)
    summary = {"protocol": protocol, "videos": len(chosen), "labels": os.path.abspath(labels),
               **_protocol_numbers(protocol, rows, predictions, speaking, chosen, seed, n_boot)}
    files = [os.path.join(out, "predictions.csv"), os.path.join(out, "dataset.json")]
    save_text(predictions_text(predictions), files[0])
    if desync_ms is not None:
        shift = int(round(desync_ms / 1000 * FRAME_RATE))
        shifted = []
        for video in chosen:
            copy = os.path.join(work_dir, "desync", os.path.basename(video))
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            write_synced(video, copy, shift)
            shifted.append(copy)
        moved, moved_speaking = _predict_videos(scorer, shifted, rows, work_dir, outputs, pipeline, "_desync")
        actual = np.array([row.label == SPEAKING for row in rows])
        summary["desync"] = {
            "shift_frames": shift, "shift_ms": shift * 1000 / FRAME_RATE,
            **_protocol_numbers(protocol, rows, moved, moved_speaking, chosen, seed, n_boot),
            "speaking_still_called_speaking": float(np.mean(np.asarray(moved_speaking)[actual])) if actual.any()
            else None,
            "speaking_called_speaking_in_sync": float(np.mean(np.asarray(speaking)[actual])) if actual.any()
            else None}
        files.insert(1, os.path.join(out, "predictions_desync.csv"))
        save_text(predictions_text(moved), files[1])
    save_text(json_text(summary, indent=2) + "\n", files[-1])
    return SpeakerEvaluation(protocol, summary, predictions, files)


def _protocol_numbers(protocol, rows, predictions, speaking, videos, seed, n_boot):
    if protocol == "ava":
        return ava_summary(rows, predictions, [_video_id(video) for video in videos], seed, n_boot)
    return columbia_summary(rows, speaking, seed, n_boot)

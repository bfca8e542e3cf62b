"""Paper metrics: a dataset's LSE-D and LSE-C exactly as a published evaluation protocol computes
them, with a bootstrap confidence interval, and the paired comparison of two systems.

The videos run through the batch runner (syncnet.batch), so an evaluation resumes, retries and
scales like a batch, locally or on a Ray cluster; the protocol (syncnet.eval.protocols) sets the
preprocessing and turns the per-track scores into per-video and dataset numbers. Outputs in
the evaluation folder: per_track.csv, per_video.csv, scores.txt (where the protocol has its own
line format) and dataset.json. The command is syncnet.cli.eval (`syncnet-eval`).
"""
import csv
import io
import json
from dataclasses import dataclass, replace

from syncnet.io import storage
from syncnet.batch.driver import run_batch
from syncnet.errors import InputError
from syncnet.options import as_dict
from syncnet.eval.protocols import (TrackScore, VideoOutcome, aggregate_video, dataset_summary, format_scores_txt, get_protocol,
                        paired_difference)

TRACK_COLUMNS = ("video", "track", "start_frame", "end_frame", "lse_d", "lse_c", "offset")
VIDEO_COLUMNS = ("video", "status", "reason", "n_tracks", "lse_d", "lse_c", "offset")
FILES = ("per_track.csv", "per_video.csv", "scores.txt", "dataset.json")


@dataclass
class Evaluation:
    """What `evaluate` found and wrote: the scores at each level, dataset.json and the batch's report."""
    protocol: str
    tracks: list        # TrackScore of every scored track
    outcomes: list      # VideoOutcome of every input video
    summary: dict       # dataset.json
    files: list         # what was written
    batch: object       # the BatchReport of the run


def protocol_config(protocol, config, passed=()):
    """The BatchConfig for `protocol`: its preprocessing over `config`, except the pipeline
    options named in `passed`, which the user set and which win."""
    spec = get_protocol(protocol)
    overrides = {name: value for name, value in spec.pipeline_overrides.items() if name not in passed}
    return replace(config, pipeline=config.pipeline.replace(**overrides), whole_frames=not spec.face_tracks)


def outcomes_of(protocol, records):
    """(TrackScore list, VideoOutcome list) of the batch records, by the protocol's rules. A
    track whose audio ended before any window could be scored has no score and is left out."""
    tracks, outcomes = [], []
    for record in records:
        scored = [TrackScore(video=record["video"], track=t["track"], start_frame=t["start_frame"],
                             end_frame=t["end_frame"], lse_d=t["min_dist"], lse_c=t["confidence"], offset=t["offset"])
                  for t in record["tracks"] if t["confidence"] is not None]
        error = record["error"] if record["status"] != "ok" else None
        outcome = aggregate_video(protocol, record["video"], scored, error)
        outcomes.append(outcome)
        if outcome.status == "scored":
            tracks.extend(scored)
    return tracks, outcomes


def evaluate(videos, protocol, config, passed=(), seed=0, n_boot=10000, **batch_callbacks):
    """Score `videos` as `protocol` does and write its outputs in config.data_dir; returns an
    Evaluation. `passed` names the pipeline options the user set (they override the protocol's);
    `batch_callbacks` are run_batch's on_plan, on_record and stop."""
    spec = get_protocol(protocol)
    config = protocol_config(spec, config, passed)
    report = run_batch(videos, config, **batch_callbacks)
    tracks, outcomes = outcomes_of(spec, report.records)
    files = [write_table(config.data_dir, "per_track.csv", [track.__dict__ for track in tracks], TRACK_COLUMNS),
             write_table(config.data_dir, "per_video.csv", [outcome.__dict__ for outcome in outcomes], VIDEO_COLUMNS)]
    scores = format_scores_txt(spec, tracks)
    if scores is not None:
        files.append(_write(config.data_dir, "scores.txt", scores.encode()))
    summary = dataset_summary(spec, outcomes, tracks, seed=seed, n_boot=n_boot)
    summary["source"] = spec.source
    summary["options"] = {**as_dict(config.pipeline, config.scoring), "whole_frames": config.whole_frames,
                          "syncnet_model": config.models.syncnet_model, "s3fd_model": config.models.s3fd_model,
                          "passed": sorted(passed)}
    files.append(_write(config.data_dir, "dataset.json", (json.dumps(summary, indent=2) + "\n").encode()))
    return Evaluation(spec.name, tracks, outcomes, summary, files, report)


def _write(folder, name, data):
    path = storage.join(folder, name)
    storage.write_bytes(path, data)
    return path


def write_table(folder, name, rows, columns):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return _write(folder, name, text.getvalue().encode("utf-8", "backslashreplace"))


def read_outcomes(folder):
    """(protocol, VideoOutcome list) of an earlier evaluation's folder."""
    summary, rows = storage.read_bytes(storage.join(folder, "dataset.json")), \
        storage.read_bytes(storage.join(folder, "per_video.csv"))
    if summary is None or rows is None:
        raise InputError(f"{folder}: no dataset.json and per_video.csv there: run syncnet-eval --out {folder} first")

    def number(text, kind):
        return kind(text) if text not in ("", None) else None

    outcomes = [VideoOutcome(video=row["video"], status=row["status"], reason=row["reason"] or None,
                             n_tracks=int(row["n_tracks"]), lse_d=number(row["lse_d"], float),
                             lse_c=number(row["lse_c"], float), offset=number(row["offset"], int))
                for row in csv.DictReader(io.StringIO(rows.decode("utf-8")))]
    return json.loads(summary)["protocol"], outcomes


def compare(folder_a, folder_b, seed=0, n_boot=10000):
    """The paired difference B - A of two evaluations of the same protocol (see
    protocols.paired_difference), with the protocol recorded."""
    protocol_a, outcomes_a = read_outcomes(folder_a)
    protocol_b, outcomes_b = read_outcomes(folder_b)
    if protocol_a != protocol_b:
        raise InputError(f"{folder_a} was evaluated with {protocol_a}, {folder_b} with {protocol_b}: "
                         "compare runs of the same protocol")
    return dict(paired_difference(outcomes_a, outcomes_b, seed=seed, n_boot=n_boot), protocol=protocol_a,
                a=str(folder_a), b=str(folder_b))


def comparison_line(result):
    """One line for a paired comparison, e.g. `B - A: LSE-D -0.412 [-0.52, -0.30]  LSE-C +0.801 [...]  n=100 paired`."""
    def metric(label, value):
        if value is None:
            return f"{label} n/a"
        lo, hi = value["ci95"]
        return f"{label} {value['mean_diff']:+.3f} [{lo:+.2f}, {hi:+.2f}]"

    return (f"B - A: {metric('LSE-D', result['lse_d'])}  {metric('LSE-C', result['lse_c'])}  "
            f"n={result['n_paired']} paired ({result['n_only_a']} only in A, {result['n_only_b']} only in B)  "
            f"protocol {result['protocol']}")


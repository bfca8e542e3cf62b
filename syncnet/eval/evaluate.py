"""Paper metrics: a dataset's LSE-D and LSE-C exactly as a published evaluation protocol computes
them, with a bootstrap confidence interval, and the paired comparison of two systems.

The videos run through the batch runner (syncnet.batch), so an evaluation resumes, retries and
scales like a batch, locally or on a Ray cluster; the protocol (syncnet.eval.protocols) sets the
preprocessing and turns the per-track scores into per-video numbers, and syncnet.eval.stats
into dataset numbers. Outputs in the evaluation folder: per_track.csv, per_video.csv, scores.txt
(where the protocol has its own line format) and dataset.json. The command is syncnet.cli.eval (`syncnet-eval`).
"""
import csv
import io
import json
import math
from dataclasses import dataclass, replace

from syncnet.batch.driver import run_batch
from syncnet.errors import InputError, one_line
from syncnet.eval.protocols import PROTOCOLS, STATUSES, TrackScore, VideoOutcome, aggregate_video, get_protocol
from syncnet.eval.report import format_scores_txt
from syncnet.eval.stats import dataset_summary, paired_difference
from syncnet.io import storage
from syncnet.io.fileio import json_text
from syncnet.options import BootstrapOptions, as_dict

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
        outcome = aggregate_video(protocol, record["video"], scored, error, reason=record.get("reason"))
        outcomes.append(outcome)
        if outcome.status == "scored":
            tracks.extend(scored)
    return tracks, outcomes


def evaluate(videos, protocol, config, passed=(), seed=BootstrapOptions.seed, n_boot=BootstrapOptions.n_boot,
             **batch_callbacks):
    """Score `videos` as `protocol` does and write its outputs in config.data_dir; returns an
    Evaluation. `passed` names the pipeline options the user set (they override the protocol's);
    `batch_callbacks` are run_batch's on_plan, on_record and stop."""
    spec = get_protocol(protocol)
    BootstrapOptions(seed=seed, n_boot=n_boot)  # a bad value is refused before any video
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
    files.append(_write(config.data_dir, "dataset.json", (json_text(summary, indent=2) + "\n").encode()))
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
    """(protocol, VideoOutcome list) of an earlier evaluation's folder. A damaged or partial
    folder is refused with one line that names the file, the row and what is wrong."""
    summary_path, rows_path = storage.join(folder, "dataset.json"), storage.join(folder, "per_video.csv")
    summary, rows = storage.read_bytes(summary_path), storage.read_bytes(rows_path)
    if summary is None or rows is None:
        raise InputError(f"{folder}: no dataset.json and per_video.csv there: run syncnet-eval --out {folder} first")
    spec = get_protocol(_recorded_protocol(summary_path, summary))
    return spec.name, list(_read_video_rows(rows_path, rows, spec))


def _recorded_protocol(path, data):
    """The protocol that dataset.json records."""
    try:
        summary = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path}: not a dataset.json that syncnet-eval wrote ({one_line(error, 120)}): "
                         "run the evaluation again") from None
    protocol = summary.get("protocol") if isinstance(summary, dict) else None
    if protocol not in PROTOCOLS:
        found = "no protocol" if protocol is None else f"protocol {protocol!r}"
        raise InputError(f"{path}: {found} recorded; expected one of {', '.join(sorted(PROTOCOLS))}: "
                         "run the evaluation again")
    return protocol


def _read_video_rows(path, data, spec):
    """The VideoOutcome of each row of per_video.csv. A scored row needs finite numbers (an LSE-D
    too where the protocol reports one): a NaN or a gap would pass through every mean."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start}): run the evaluation again") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [name for name in VIDEO_COLUMNS if name not in header]:
        missing = VIDEO_COLUMNS if header is None else [name for name in VIDEO_COLUMNS if name not in header]
        raise InputError(f"{path}: no column {', '.join(missing)} in its header: not a per_video.csv that "
                         "syncnet-eval wrote")
    for cells in reader:
        where = f"{path}: line {reader.line_num}"
        if len(cells) != len(header):
            raise InputError(f"{where}: {len(cells)} fields, the header has {len(header)}")
        row = dict(zip(header, cells))
        status = row["status"]
        if status not in STATUSES:
            raise InputError(f"{where}: status {status!r}; expected one of {', '.join(STATUSES)}")
        scored = status == "scored"
        wanted = {"lse_d": scored and spec.reports_lse_d, "lse_c": scored, "offset": False}
        values = {name: _number(row[name], int if name == "offset" else float, where, name, wanted[name])
                  for name in ("lse_d", "lse_c", "offset")}
        yield VideoOutcome(video=row["video"], status=status, reason=row["reason"] or None,
                           n_tracks=_number(row["n_tracks"], int, where, "n_tracks", True), **values)


def _number(text, kind, where, column, required):
    """A cell's finite number (an int >= 0 for counts), None for an empty cell that may be empty."""
    if text == "" and not required:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or (column == "n_tracks" and value < 0):
        problem = "empty" if text == "" else f"{text!r} is not a finite number" if kind is float else \
            f"{text!r} is not a whole number" + (" >= 0" if column == "n_tracks" else "")
        raise InputError(f"{where}: {column} {problem}")
    return value


def compare(folder_a, folder_b, seed=BootstrapOptions.seed, n_boot=BootstrapOptions.n_boot):
    """The paired difference B - A of two evaluations of the same protocol (see
    stats.paired_difference), with the protocol recorded."""
    protocol_a, outcomes_a = read_outcomes(folder_a)
    protocol_b, outcomes_b = read_outcomes(folder_b)
    if protocol_a != protocol_b:
        raise InputError(f"{folder_a} was evaluated with {protocol_a}, {folder_b} with {protocol_b}: "
                         "compare runs of the same protocol")
    return dict(paired_difference(outcomes_a, outcomes_b, seed=seed, n_boot=n_boot), protocol=protocol_a,
                a=str(folder_a), b=str(folder_b))

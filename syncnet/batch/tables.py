"""A batch's tables: the summary's rows (a 'video' row per input, a 'track' row per face track)
and any table written as .csv, .json or .parquet (typed) in a folder or object prefix."""
import csv
import io

from syncnet.io import storage
from syncnet.io.fileio import json_text
from syncnet.runtime import extras

SUMMARY_FILES = ("summary.csv", "summary.json", "summary.parquet")
PARQUET_LEFT_OUT = "the .parquet tables are left out (the .csv and .json ones are written)"
TRACK_FIELDS = ("track", "start_frame", "end_frame", "offset", "min_dist", "confidence")
# reason: why a video has no scored track (syncnet.pipeline.tracking reasons, or
# syncnet.scoring.results.CLIP_TOO_SHORT); empty when one is scored.
# The timeline column group (syncnet.timeline.Timeline.columns); null in a record made before it.
TIMELINE_FIELDS = ("offset_ms", "verdict", "drift_ms_per_min", "offset_ms_at_start", "offset_ms_at_end", "n_jumps")
COLUMNS = ("video", "reference", "kind") + TRACK_FIELDS + TIMELINE_FIELDS + ("n_tracks", "status", "reason", "error")


def summary_rows(records):
    """A 'video' row per record, then a 'track' row per face track. The video row carries the
    track with the highest confidence (the likeliest speaker) and the number of tracks."""
    rows = []
    for record in records:
        base = dict.fromkeys(COLUMNS)
        base.update(video=record["video"], reference=record["reference"])
        tracks = record["tracks"]
        video_row = dict(base, kind="video", status=record["status"], reason=record.get("reason"),
                         error=record["error"])
        if record["status"] == "ok":
            video_row["n_tracks"] = len(tracks)
        scored = [track for track in tracks if track["confidence"] is not None]
        if scored:
            best = max(scored, key=lambda track: track["confidence"])
            video_row.update((name, best.get(name)) for name in TRACK_FIELDS + TIMELINE_FIELDS)
        rows.append(video_row)
        rows.extend(dict(base, kind="track", status="ok",
                         **{name: track.get(name) for name in TRACK_FIELDS + TIMELINE_FIELDS})
                    for track in tracks)
    return rows


# The Parquet types of the summary's columns (docs/batch.md, "Summary"); every column may be null.
SUMMARY_TYPES = {"video": "string", "reference": "string", "kind": "string", "track": "int32",
                 "start_frame": "int32", "end_frame": "int32", "offset": "int32", "min_dist": "float64",
                 "confidence": "float64", "offset_ms": "int32", "verdict": "string", "drift_ms_per_min": "float64",
                 "offset_ms_at_start": "float64", "offset_ms_at_end": "float64", "n_jumps": "int32",
                 "n_tracks": "int32", "status": "string", "reason": "string", "error": "string"}
MANIFEST_TYPES = {"video": "string", "reference": "string", "decision": "string", "reason": "string",
                  "offset": "int32", "confidence": "float64", "n_tracks": "int32", "output": "string"}


def table_bytes(rows, columns, kind):
    """`rows` as CSV, JSON or Parquet (typed by SUMMARY_TYPES / MANIFEST_TYPES) bytes."""
    if kind == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows({name: _text_value(value) for name, value in row.items()} for row in rows)
        return text.getvalue().encode("utf-8")
    if kind == "json":
        return (json_text(rows, indent=2) + "\n").encode("ascii")
    pa = extras.require("parquet", "a .parquet table", "pyarrow")
    pq = extras.require("parquet", "a .parquet table", "pyarrow.parquet")
    types = {**SUMMARY_TYPES, **MANIFEST_TYPES}
    schema = pa.schema([(name, pa.type_for_alias(types[name])) for name in columns])
    table = pa.Table.from_pylist([{name: _text_value(row[name]) for name in columns} for row in rows], schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _text_value(value):
    """A cell as any reader takes it: bytes that are not UTF-8 and NUL bytes as escapes."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\0", "\\x00")
    return value


def write_tables(folder, names, rows, columns):
    """rows as names[i]'s format (.csv, .json, .parquet) in a folder or object prefix.

    Without pyarrow (the parquet extra) the .parquet tables are left out, said once, and one
    an earlier run wrote is removed, so that no table there disagrees with the others."""
    paths = []
    for name in names:
        path = storage.join(folder, name)
        if name.endswith(".parquet") and not extras.available("parquet"):
            extras.warn_missing("parquet", PARQUET_LEFT_OUT)
            storage.remove(path)
            continue
        storage.write_bytes(path, table_bytes(rows, columns, name.rsplit(".", 1)[1]))
        paths.append(path)
    return tuple(paths)

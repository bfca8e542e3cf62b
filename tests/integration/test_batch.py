"""syncnet-batch on a folder of three clips: a two-face clip, a clip without faces, a corrupt file.

The two-face clip is the first 2 s of twoface.mp4, with the reference's detections of those
frames put in place for --reuse_faces (the stand-in S3FD weights find no real face); the
no-face clip goes through real S3FD detection. 2 s keeps three full batch runs within minutes.
"""
import contextlib
import csv
import io
import json
import logging
import os
import random
import re

import pytest

from syncnet.batch import driver as batch
from syncnet.batch.state import STATE_FILE, append_state, read_state, video_key
from syncnet.batch.tables import TRACK_FIELDS
from syncnet.cli import batch as batch_command
from syncnet.errors import InputError
from syncnet.io.fileio import load_pickle
from syncnet.io.inputs import collect_videos
from syncnet.io.layout import reference_for
from syncnet.io.media import run_ffmpeg
from tests.helpers import reference_summary, run_command

# Whole runs of the scripts: the full suite runs them, the fast tier (-m 'not slow') does not.
pytestmark = [pytest.mark.slow, pytest.mark.extras("parquet")]  # the summaries are read back from Parquet too

SHORT_FRAMES = 52  # pyframes of a 2 s cut: 50 frames, and the two that the conversion duplicates
MIN_TRACK = 25


@pytest.fixture(scope="module")
def clips(tmp_path_factory, clip):
    folder = tmp_path_factory.mktemp("clips")
    run_ffmpeg(["-i", str(clip("twoface.mp4")), "-t", "2", "-c:v", "mpeg4", "-q:v", "2", "-c:a", "aac",
                str(folder / "twoface.mp4")], "cut twoface.mp4")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=2",
                "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(folder / "noface.mp4")], "make noface.mp4")
    (folder / "corrupt.mp4").write_bytes(random.Random(7).randbytes(20000))
    return folder


@pytest.fixture(scope="module")
def faces(twoface_faces_json, tmp_path_factory):
    """The reference's detections of the 2 s cut, as a --faces file."""
    path = tmp_path_factory.mktemp("faces") / "twoface_2s.json"
    path.write_text(json.dumps(json.loads(twoface_faces_json.read_text())[:SHORT_FRAMES]))
    return path


def run_batch(clips, data_dir, faces, weights, *extra):
    """One batch run, in this process. The two-face clip's detections come from an earlier
    run_pipeline.py --faces run, which the batch's --reuse_faces takes up. Returns what it printed."""
    syncnet_model, s3fd_model = weights
    reference = reference_for(clips / "twoface.mp4")
    if not (data_dir / "pywork" / reference / "faces.pckl").exists():
        run_command("run_pipeline.py", "--videofile", clips / "twoface.mp4", "--data_dir", data_dir,
                    "--reference", reference, "--faces", faces, "--min_track", MIN_TRACK, "--device", "cpu",
                    cwd=data_dir)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = batch_command.main([str(clips), "--data_dir", str(data_dir), "--initial_model", str(syncnet_model),
                             "--s3fd_model", str(s3fd_model), "--reuse_faces", "--min_track", str(MIN_TRACK),
                             "--device", "cpu", "--quiet", *extra])
    assert status == batch.EXIT_SOME_FAILED, "the corrupt file fails"
    return printed.getvalue()


def read_summary(data_dir):
    """summary.csv's rows, checked against summary.json and the typed summary.parquet."""
    import pyarrow.parquet as pq

    with open(data_dir / "summary.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    typed = [{key: _typed(key, value) for key, value in row.items()} for row in rows]
    assert json.loads((data_dir / "summary.json").read_text()) == typed
    table = pq.read_table(data_dir / "summary.parquet")
    assert {name: str(table.schema.field(name).type) for name in ("track", "offset", "min_dist", "status")} == \
        {"track": "int32", "offset": "int32", "min_dist": "double", "status": "string"}
    assert table.to_pylist() == typed
    return rows


def _typed(key, value):
    if value == "":
        return None
    if key in ("track", "start_frame", "end_frame", "offset", "n_tracks", "offset_ms", "n_jumps"):
        return int(value)
    if key in ("min_dist", "confidence", "drift_ms_per_min", "offset_ms_at_start", "offset_ms_at_end"):
        return float(value)
    return value


@pytest.fixture(scope="module")
def weights(syncnet_weights, s3fd_weights):
    return syncnet_weights, s3fd_weights


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, clips, faces, weights):
    data_dir = tmp_path_factory.mktemp("batch1")
    return data_dir, run_batch(clips, data_dir, faces, weights, "--workers", "1")


def by_video(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(os.path.basename(row["video"]), []).append(row)
    return grouped


def test_summary_rows(first_run, clips):
    data_dir, out = first_run
    assert "3 video(s): 3 run, 0 skipped as done before; 1 of 3 failed; summary in" in out
    rows = read_summary(data_dir)
    assert [row["kind"] for row in rows] == ["video", "video", "video", "track", "track"]
    grouped = by_video(rows)
    assert sorted(grouped) == ["corrupt.mp4", "noface.mp4", "twoface.mp4"]

    (corrupt,) = grouped["corrupt.mp4"]
    assert corrupt["status"] == "failed" and corrupt["n_tracks"] == ""
    assert str(clips / "corrupt.mp4") in corrupt["error"] and "\n" not in corrupt["error"]

    (noface,) = grouped["noface.mp4"]
    assert (noface["status"], noface["n_tracks"], noface["track"], noface["error"]) == ("ok", "0", "", "")
    # The test pattern has no face for S3FD: the reason says so; scored and failed rows have none.
    assert (noface["reason"], corrupt["reason"]) == ("no faces detected", "")
    assert {row["reason"] for row in grouped["twoface.mp4"]} == {""}

    video, *tracks = grouped["twoface.mp4"]
    assert (video["status"], video["n_tracks"]) == ("ok", "2")
    assert [(t["track"], t["start_frame"], t["end_frame"]) for t in tracks] == [("0", "0", "49"), ("1", "0", "49")]
    best = max(tracks, key=lambda t: float(t["confidence"]))
    assert {k: video[k] for k in TRACK_FIELDS} == {k: best[k] for k in TRACK_FIELDS}
    # The timeline's column group: the offset in ms, and a verdict (twoface's 2 s tracks are
    # shorter than one segment, so theirs is unreliable with no fit).
    for track in tracks:
        assert int(track["offset_ms"]) == 40 * int(track["offset"])
        assert (track["verdict"], track["drift_ms_per_min"], track["n_jumps"]) == ("unreliable", "", "0")

    # The numbers are SPEC's summary of the kept activesd.pckl.
    reference = reference_for(clips / "twoface.mp4")
    activesd = load_pickle(data_dir / "pywork" / reference / "activesd.pckl")
    for track, dists in zip(tracks, activesd):
        offset, min_dist, confidence = reference_summary(dists)
        assert int(track["offset"]) == offset
        assert float(track["min_dist"]) == pytest.approx(min_dist, abs=1e-5)
        assert float(track["confidence"]) == pytest.approx(confidence, abs=1e-5)


def test_default_keep_deletes_frames_and_tmp(first_run, clips):
    data_dir, _ = first_run
    reference = reference_for(clips / "twoface.mp4")
    for name in ("pyavi", "pycrop", "pywork"):
        assert (data_dir / name / reference).is_dir(), name
    for name in ("pyframes", "pytmp"):
        assert not (data_dir / name / reference).exists(), name
    assert (data_dir / "pywork" / reference / "offsets.txt").is_file()
    assert sorted(p.name for p in (data_dir / "pycrop" / reference).glob("*.avi")) == ["00000.avi", "00001.avi"]


def test_second_run_skips_all(first_run, clips, faces, weights):
    data_dir, _ = first_run
    before = read_summary(data_dir)
    state = (data_dir / STATE_FILE).read_text()
    out = run_batch(clips, data_dir, faces, weights)
    assert ("3 video(s): 0 run, 3 skipped as done before; 1 of 3 failed, in an earlier run "
            "(--retry_failed runs them again); summary in") in out, "the line agrees with the exit status 3"
    assert (data_dir / STATE_FILE).read_text() == state
    assert read_summary(data_dir) == before


def test_retry_failed_runs_only_the_failed(first_run, clips, faces, weights):
    data_dir, _ = first_run
    out = run_batch(clips, data_dir, faces, weights, "--retry_failed")
    assert "3 video(s): 1 run, 2 skipped as done before; 1 of 3 failed; summary in" in out


def test_two_workers_match_one(first_run, tmp_path, clips, faces, weights):
    one = read_summary(first_run[0])
    out = run_batch(clips, tmp_path, faces, weights, "--workers", "2", "--keep", "pywork")
    assert "3 video(s): 3 run, 0 skipped as done before; 1 of 3 failed; summary in" in out
    two = read_summary(tmp_path)
    assert len(one) == len(two)
    for a, b in zip(one, two):
        assert {k: v for k, v in a.items() if k not in ("min_dist", "confidence")} == \
            {k: v for k, v in b.items() if k not in ("min_dist", "confidence")}
        for key in ("min_dist", "confidence"):
            assert (a[key] == b[key] == "") or float(a[key]) == pytest.approx(float(b[key]), abs=1e-5)
    reference = reference_for(clips / "twoface.mp4")
    assert (tmp_path / "pywork" / reference / "activesd.pckl").is_file()
    assert not (tmp_path / "pycrop" / reference).exists()
    assert not (tmp_path / "pyavi" / reference).exists()


def test_inputs_folder_glob_and_list(tmp_path, monkeypatch):
    for name in ("b.mp4", "a.avi", "notes.md"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.mov").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# videos\nsub/c.mov\n\nb.mp4\nmissing.mp4\n")
    monkeypatch.chdir(tmp_path)
    assert collect_videos([str(tmp_path)]) == [str(tmp_path / "a.avi"), str(tmp_path / "b.mp4")]
    assert collect_videos(["**/*.mov"]) == [str(tmp_path / "sub" / "c.mov")]
    assert collect_videos(["list.txt", "b.mp4", "a.avi"]) == [
        str(tmp_path / "sub" / "c.mov"), str(tmp_path / "b.mp4"), str(tmp_path / "missing.mp4"),
        str(tmp_path / "a.avi")]
    with pytest.raises(InputError, match="nothing.mp4"):
        collect_videos(["nothing.mp4"])
    with pytest.raises(InputError, match="no video found"):
        collect_videos(["*.webm"])


def test_keep_and_state_helpers(tmp_path):
    assert batch.parse_keep("pywork, pycrop") == {"pywork", "pycrop"}
    assert batch.parse_keep("all") == {"pyavi", "pycrop", "pywork", "pytmp", "pyframes"}
    assert batch.parse_keep("none") == set()
    with pytest.raises(InputError, match="frames"):
        batch.parse_keep("pywork,frames")

    video = tmp_path / "v.mp4"
    video.write_bytes(b"1")
    key = video_key(str(video))
    os.utime(video, ns=(1, key[2] + 10**9))
    assert video_key(str(video)) != key, "a changed file is run again"
    assert video_key(str(tmp_path / "gone.mp4")) == (str(tmp_path / "gone.mp4"), None, None)

    state = tmp_path / STATE_FILE
    record = {"video": str(video), "size": 1, "mtime_ns": 5, "status": "ok"}
    append_state(state, record)
    with open(state, "a") as handle:
        handle.write('{"video": "half a line')
    assert read_state(state) == {(str(video), 1, 5): record}


def test_bad_options_stop_before_any_video(tmp_path, capsys, syncnet_weights):
    with pytest.raises(SystemExit) as exit_info:
        batch_command.main([str(tmp_path), "--data_dir", str(tmp_path / "out"), "--keep", "frames"])
    assert exit_info.value.code == 1
    assert "syncnet-batch: error: --keep" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        batch_command.main([str(tmp_path / "nowhere"), "--initial_model", str(syncnet_weights),
                    "--s3fd_model", str(syncnet_weights), "--data_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err
    assert not (tmp_path / "out").exists()


def test_changed_options_are_not_silently_reused(first_run, clips, faces, weights, capsys):
    data_dir, _ = first_run
    before = {row["video"]: row for row in read_summary(data_dir) if row["kind"] == "video"}
    out = run_batch(clips, data_dir, faces, weights, "--min_track", str(MIN_TRACK + 1))
    assert "3 video(s): 3 run, 0 skipped as done before; 1 of 3 failed; summary in" in out
    assert "3 video(s) were scored with other options: running them again" in capsys.readouterr().err
    after = {row["video"]: row for row in read_summary(data_dir) if row["kind"] == "video"}
    assert after.keys() == before.keys()


def test_a_workers_lines_name_its_video(clips, weights, tmp_path, capsys):
    """Workers side by side interleave their lines: each line of a video's run names it once."""
    from syncnet.batch.worker import process_video
    from syncnet.options import ModelOptions
    from syncnet.runtime.logs import setup_logging

    setup_logging("syncnet-batch")
    video = str(clips / "noface.mp4")
    config = batch.BatchConfig(data_dir=str(tmp_path / "work"), models=ModelOptions(*map(str, weights), device="cpu"))
    record = process_video(config, video_key(video))
    logging.getLogger("syncnet.batch").info("outside any video")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("syncnet-batch: ")]
    assert record["status"] == "ok" and len(lines) >= 4, lines  # started, converting, detecting, tracks, done
    # Named once: at the start, or where the message names it already ("converting VIDEO to ...").
    assert all(line.count(video) == 1 for line in lines[:-1]), lines
    assert all(re.match(rf"syncnet-batch: (INFO|WARNING): {re.escape(video)}: ", line)
               for line in lines[:-1] if "converting" not in line), lines
    assert lines[-1] == "syncnet-batch: INFO: outside any video"


def test_diagnostics_follow_stderr_after_it_is_redirected():
    """A command set up once and run again under another stderr (a test's capture, a
    redirect_stderr block) writes its lines there, never to the stream it first saw, closed since."""
    import contextlib
    import io

    from syncnet.runtime.logs import setup_logging

    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(first):
        setup_logging("syncnet-train")
    first.close()
    with contextlib.redirect_stderr(second):
        logging.getLogger("syncnet.train").info("after the first stream closed")
    assert second.getvalue() == "syncnet-train: INFO: after the first stream closed\n"

"""Results that can be trusted and work that is never lost: damaged evaluation folders given to
--compare, NaN in what the suite writes, curation reruns, options and typed fields of every kind
(issue 19). The commands' main() runs in this process (the same code path as the console
command, without the interpreter start). (The cases that need a real process, a real S3 server,
a read-only mount or real clips: integration/test_trust.py.)
"""
import json
import math
import os

import pytest

from syncnet.batch import curation, driver, tables
from syncnet.batch.state import append_state
from syncnet.cli import batch as batch_command
from syncnet.cli import eval as eval_command
from syncnet.errors import InputError
from syncnet.io import fileio
from syncnet.options import BootstrapOptions, ModelOptions, RayOptions
from tests.helpers import GOOD_ROWS, VIDEO_COLUMNS, evaluation, with_cell


def strict_json(text):
    """json.loads as strict parsers read it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def refused_in_process(main, argv, capsys):
    """main(argv) as the console command runs it: exit status 1 and one line on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1, err
    assert "Traceback" not in err and "unexpected" not in err and "--debug" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]


# ------------------------------------------------------------------ 2 and 4: --compare on damaged folders

DAMAGED = {
    "nan": (dict(rows=with_cell("lse_c", "nan")), ["per_video.csv", "line 2", "lse_c", "nan"]),
    "inf": (dict(rows=with_cell("lse_d", "inf", 1)), ["line 3", "lse_d", "inf"]),
    "-infinity": (dict(rows=with_cell("lse_c", "-Infinity")), ["line 2", "lse_c"]),
    "empty-lse_c": (dict(rows=with_cell("lse_c", "")), ["line 2", "lse_c empty"]),
    "empty-lse_d": (dict(rows=with_cell("lse_d", "")), ["line 2", "lse_d empty"]),
    "non-numeric": (dict(rows=with_cell("lse_d", "7,5x")), ["line 2", "lse_d", "7,5x", "not a finite number"]),
    "empty-n_tracks": (dict(rows=with_cell("n_tracks", "")), ["line 2", "n_tracks empty"]),
    "fractional-n_tracks": (dict(rows=with_cell("n_tracks", "1.5")), ["line 2", "n_tracks", "whole number"]),
    "negative-n_tracks": (dict(rows=with_cell("n_tracks", "-1")), ["line 2", "n_tracks", ">= 0"]),
    "bad-offset": (dict(rows=with_cell("offset", "x")), ["line 2", "offset", "whole number"]),
    "unknown-status": (dict(rows=with_cell("status", "skipped")), ["line 2", "status 'skipped'", "scored"]),
    "missing-column": (dict(header=VIDEO_COLUMNS[:-1], rows=[r[:-1] for r in GOOD_ROWS]),
                       ["per_video.csv", "no column offset"]),
    "short-row": (dict(rows=[GOOD_ROWS[0], GOOD_ROWS[1][:4]]), ["line 3", "4 fields", "header has 7"]),
    "long-row": (dict(rows=[GOOD_ROWS[0] + ["extra"], GOOD_ROWS[1]]), ["line 2", "8 fields"]),
    "empty-csv": (dict(raw=b""), ["per_video.csv", "no column"]),
    "non-utf8-csv": (dict(raw=b"video,status,reason,n_tracks,lse_d,lse_c,offset\n/x/v\xff1.mp4,scored,,1,8,2,0\n"),
                     ["per_video.csv", "not UTF-8"]),
    "truncated-json": (dict(summary='{"protocol": "moc'), ["dataset.json", "not a dataset.json"]),
    "json-list": (dict(summary="[]"), ["dataset.json", "no protocol recorded"]),
    "json-empty-object": (dict(summary="{}"), ["dataset.json", "no protocol recorded"]),
    "json-unknown-protocol": (dict(summary='{"protocol": "wav2lop"}'), ["dataset.json", "'wav2lop'", "mocha"]),
    "non-utf8-json": (dict(summary=b'{"protocol": "\xff"}'.decode("latin-1")), ["dataset.json"]),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_compare_refuses_a_damaged_folder_naming_file_line_and_problem(case, tmp_path, capsys):
    damage, words = DAMAGED[case]
    good = evaluation(tmp_path / "good")
    if case == "non-utf8-json":
        bad = evaluation(tmp_path / "bad")
        (bad / "dataset.json").write_bytes(b'{"protocol": "\xff"}')
    else:
        bad = evaluation(tmp_path / "bad", **damage)
    message = refused_in_process(eval_command.main, ["--compare", good, bad, "--out", tmp_path / "cmp"], capsys)
    assert str(bad) in message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    assert not (tmp_path / "cmp" / "compare.json").exists()


def test_latentsync_rows_need_no_lse_d_and_compare_still_works(tmp_path, capsys):
    rows = [["/x/v1.mp4", "scored", "", "1", "", "2.0", "0"], ["/x/v2.mp4", "excluded", "no face track", "0", "",
                                                               "", ""]]
    a = evaluation(tmp_path / "a", "latentsync", rows)
    b = evaluation(tmp_path / "b", "latentsync", [["/y/v1.mp4", "scored", "", "1", "", "3.5", "0"]])
    assert eval_command.main(["--compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    compared = strict_json((tmp_path / "cmp" / "compare.json").read_text())
    assert compared["lse_d"] is None and compared["lse_c"]["mean_diff"] == pytest.approx(1.5)


# ------------------------------------------------------------------ 2: no NaN or Infinity in any JSON written


def test_every_json_writer_writes_null_for_nan_and_infinity(tmp_path):
    bad = {"confidence": float("nan"), "min_dist": float("inf"), "tracks": [{"offset": 1, "x": float("-inf")}],
           "fine": 1.5}
    expected = {"confidence": None, "min_dist": None, "tracks": [{"offset": 1, "x": None}], "fine": 1.5}
    fileio.save_json(bad, tmp_path / "saved.json")
    assert strict_json((tmp_path / "saved.json").read_text()) == expected
    state = tmp_path / "batch_state.jsonl"
    append_state(state, dict(bad, video="v", size=1, mtime_ns=2))
    assert strict_json(state.read_text())["confidence"] is None
    rows = [dict.fromkeys(tables.COLUMNS, None) | {"video": "v", "min_dist": float("nan"), "confidence": math.inf}]
    summary = strict_json(tables.table_bytes(rows, tables.COLUMNS, "json").decode())
    assert (summary[0]["min_dist"], summary[0]["confidence"]) == (None, None)


# ------------------------------------------------------------------ 5: options, URIs and typed fields


@pytest.mark.parametrize("args, words", [
    (["--seed", "-1"], ["--seed -1", "integer >= 0"]),
    (["--n_boot", "100000000000"], ["--n_boot 100000000000", "<= 1000000"]),
    (["--n_boot", "0"], ["--n_boot 0", ">= 1"]),
])
def test_bootstrap_options_have_documented_ranges(args, words, tmp_path, capsys):
    good = evaluation(tmp_path / "a")
    message = refused_in_process(eval_command.main, ["--compare", good, good, *args], capsys)
    for word in words:
        assert word in message, message
    # an evaluation is refused before any video too
    message = refused_in_process(eval_command.main, [tmp_path / "none.mp4", "--protocol", "wav2lip", "--out",
                                                     tmp_path / "out", *args], capsys)
    assert words[0] in message and not (tmp_path / "out" / "batch_state.jsonl").exists()


@pytest.mark.parametrize("args, words", [
    (["--ray_num_cpus", "nan"], ["--ray_num_cpus nan"]),
    (["--ray_num_cpus", "0"], ["--ray_num_cpus 0", "> 0"]),
    (["--ray_num_gpus", "inf"], ["--ray_num_gpus inf"]),
    (["--workers", "100000000"], ["--workers 100000000", "<= 4096"]),
    (["--data_dir", ""], ["--data_dir ''", "not empty"]),
])
def test_engine_options_are_checked_like_every_typed_option(args, words, tmp_path, capsys):
    (tmp_path / "clip.mp4").write_bytes(b"")  # refused before any video is read
    argv = [tmp_path / "clip.mp4", "--data_dir", tmp_path / "out", *args]
    message = refused_in_process(batch_command.main, argv, capsys)
    for word in words:
        assert word in message, message
    assert not (tmp_path / "out").exists()


def test_api_typed_fields_take_any_path_type_and_refuse_the_rest(tmp_path):
    from syncnet import score_video
    from syncnet.api import VideoScorer

    scorer = VideoScorer(device="cpu", syncnet_model=os.fsencode(str(tmp_path / "w.model")),
                         s3fd_model=tmp_path / "s.pth")
    assert scorer.models.syncnet_model == str(tmp_path / "w.model")
    assert scorer.models.s3fd_model == str(tmp_path / "s.pth")
    with pytest.raises(InputError, match="syncnet_model 5: expected a path"):
        ModelOptions(syncnet_model=5)
    with pytest.raises(InputError, match="path 12: expected a path"):
        score_video(12, device="cpu")
    with pytest.raises(InputError, match="not found|no such|does not exist"):
        score_video(os.fsencode(str(tmp_path / "missing.mp4")), device="cpu")
    config = driver.BatchConfig(data_dir=os.fsencode(str(tmp_path / "d")), scratch_dir=tmp_path / "s",
                                curate=curation.CurationOptions(tmp_path / "k"))
    assert (config.data_dir, config.scratch_dir, config.curate.out_dir) == (
        str(tmp_path / "d"), str(tmp_path / "s"), str(tmp_path / "k"))
    assert config.in_place, "a data folder given as bytes is a local folder"
    with pytest.raises(InputError, match="--ray_num_cpus"):
        RayOptions(num_cpus=float("nan"))
    with pytest.raises(InputError, match="--n_boot"):
        BootstrapOptions(n_boot=2.5)


# ------------------------------------------------------------------ 3: curation reruns


def test_a_rerun_removes_the_clips_its_manifest_no_longer_keeps(tmp_path):
    out = tmp_path / "kept"
    out.mkdir()
    for name in ("a-1.mkv", "b-2.mp4", "c-3.mkv", "mine.mp4"):
        (out / name).write_bytes(b"clip")
    elsewhere = tmp_path / "elsewhere.mkv"
    elsewhere.write_bytes(b"not in the folder")
    earlier = [{"video": v, "decision": "kept", "output": str(out / name)}
               for v, name in (("a", "a-1.mkv"), ("b", "b-2.mp4"), ("c", "c-3.mkv"))]
    earlier.append({"video": "e", "decision": "kept", "output": str(elsewhere)})
    (out / "manifest.csv").write_bytes(tables.table_bytes(
        [dict.fromkeys(curation.MANIFEST_COLUMNS) | row for row in earlier], curation.MANIFEST_COLUMNS, "csv"))
    before = curation.kept_clips(str(out))
    assert before == {str(out / "a-1.mkv"), str(out / "b-2.mp4"), str(out / "c-3.mkv"), str(elsewhere)}
    now = [{"video": "a", "decision": "rejected", "output": None},            # stricter options now
           {"video": "b", "decision": "kept", "output": str(out / "b-2.mp4")},
           {"video": "c", "decision": "rejected", "output": None}]           # failed this time
    curation.remove_unkept(str(out), before, now)
    assert sorted(p.name for p in out.iterdir()) == ["b-2.mp4", "manifest.csv", "mine.mp4"]
    assert elsewhere.exists(), "only clips directly in the curation folder are removed"

"""Results that can be trusted and work that is never lost: a shared scratch folder, damaged
evaluation folders given to --compare, NaN in what the suite writes, curation reruns, options
and URIs of every kind, a quiet API, outputs checked before the first video, and scratch folders
that a normal end removes (issue 19, items 1-8).

The fast cases call the commands' main() in this process (the same code path as the console
command, without the interpreter start); the hostile cases that need a real process, a real
lock holder, a real S3 server (moto's, on 127.0.0.1) or a read-only mount run as subprocesses
and are marked slow.
"""
import csv
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from syncnet.batch import curation, driver
from syncnet.cli import batch as batch_command
from syncnet.cli import eval as eval_command
from syncnet.errors import InputError
from syncnet.io import fileio, storage
from syncnet.options import BootstrapOptions, ModelOptions
from tests.helpers import REPO_ROOT, assert_refused, make_clip, mounted_tmpfs

VIDEO_COLUMNS = ["video", "status", "reason", "n_tracks", "lse_d", "lse_c", "offset"]
GOOD_ROWS = [["/x/v1.mp4", "scored", "", "1", "8.0", "2.0", "0"], ["/x/v2.mp4", "scored", "", "2", "7.0", "4.0", "1"]]


def strict_json(text):
    """json.loads as strict parsers read it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def command(module, *args, cwd, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})


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


def evaluation(folder, protocol="mocha", rows=GOOD_ROWS, header=VIDEO_COLUMNS, summary=None, raw=None):
    """An evaluation folder as syncnet-eval writes one, or damaged as the case says."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(summary if summary is not None else json.dumps({"protocol": protocol}))
    if raw is not None:
        (folder / "per_video.csv").write_bytes(raw)
        return folder
    with open(folder / "per_video.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return folder


def with_cell(column, value, row=0):
    rows = [list(r) for r in GOOD_ROWS]
    rows[row][VIDEO_COLUMNS.index(column)] = value
    return rows


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


def test_compare_of_a_nan_row_is_one_line_in_a_real_process(tmp_path):
    """The issue's case: it printed `+nan [+nan, +nan]`, exited 0 and wrote bare NaN."""
    good = evaluation(tmp_path / "a")
    bad = evaluation(tmp_path / "b", rows=with_cell("lse_c", "NaN"))
    result = command("syncnet.eval", "--compare", good, bad, "--out", tmp_path / "cmp", cwd=tmp_path)
    assert_refused(result, str(bad / "per_video.csv"), "line 2", "lse_c 'NaN' is not a finite number")
    assert "nan" not in result.stdout.lower()
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
    driver.append_state(state, dict(bad, video="v", size=1, mtime_ns=2))
    assert strict_json(state.read_text())["confidence"] is None
    rows = [dict.fromkeys(driver.COLUMNS, None) | {"video": "v", "min_dist": float("nan"), "confidence": math.inf}]
    summary = strict_json(driver.table_bytes(rows, driver.COLUMNS, "json").decode())
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
    make_clip(tmp_path / "clip.mp4", seconds=0.4)
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
        driver.RayOptions(num_cpus=float("nan"))
    with pytest.raises(InputError, match="--n_boot"):
        BootstrapOptions(n_boot=2.5)


@pytest.fixture
def s3_server(monkeypatch):
    """A real S3 server (moto's) on 127.0.0.1 with a bucket `videos`; (client, environment)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        environment = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        storage._client.cache_clear()
        client = boto3.client("s3", endpoint_url=environment["AWS_ENDPOINT_URL"])
        client.create_bucket(Bucket="videos")
        yield client, environment
    finally:
        storage._client.cache_clear()
        server.stop()


@pytest.mark.extras("s3")
@pytest.mark.parametrize("key", ["in/../clip.mp4", "a/./b.mp4", "a//b.mp4", "x/..", "..hidden/.."])
def test_object_keys_are_used_exactly_as_written(key, s3_server, tmp_path):
    """S3 allows '.', '..' and empty segments; a path library resolves them to another key."""
    client, _ = s3_server
    client.put_object(Bucket="videos", Key=key, Body=b"abc")
    uri = f"s3://videos/{key}"
    assert storage.stat(uri)[0] == 3
    assert storage.read_bytes(uri) == b"abc"
    assert Path(storage.download(uri, tmp_path / "copy")).read_bytes() == b"abc"
    assert uri in storage.list_files("s3://videos/")
    storage.write_bytes(uri, b"defg")
    assert client.get_object(Bucket="videos", Key=key)["Body"].read() == b"defg"
    storage.remove(uri)
    assert storage.stat(uri) == (None, None)


@pytest.mark.extras("s3")
@pytest.mark.parametrize("uri", ["s3://videos", "s3://videos/", "s3://videos/in/"])
def test_a_bucket_or_prefix_where_an_object_is_needed_is_one_line(uri, s3_server, tmp_path):
    for operation in (storage.stat, storage.read_bytes, lambda u: storage.write_bytes(u, b"x"), storage.remove,
                      lambda u: storage.download(u, tmp_path / "x")):
        with pytest.raises(InputError, match="names a bucket or a prefix, not an object"):
            operation(uri)
    assert driver.video_key(uri) == (uri, None, None)  # a list file's line: recorded as failed


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
    (out / "manifest.csv").write_bytes(driver.table_bytes(
        [dict.fromkeys(curation.MANIFEST_COLUMNS) | row for row in earlier], curation.MANIFEST_COLUMNS, "csv"))
    before = curation.kept_clips(str(out))
    assert before == {str(out / "a-1.mkv"), str(out / "b-2.mp4"), str(out / "c-3.mkv"), str(elsewhere)}
    now = [{"video": "a", "decision": "rejected", "output": None},            # stricter options now
           {"video": "b", "decision": "kept", "output": str(out / "b-2.mp4")},
           {"video": "c", "decision": "rejected", "output": None}]           # failed this time
    curation.remove_unkept(str(out), before, now)
    assert sorted(p.name for p in out.iterdir()) == ["b-2.mp4", "manifest.csv", "mine.mp4"]
    assert elsewhere.exists(), "only clips directly in the curation folder are removed"


# ------------------------------------------------------------------ 6: a quiet API prints nothing

QUIET_SCRIPT = """
import os, sys
from syncnet import score_video
path, weights = sys.argv[1], sys.argv[2]
if sys.argv[3] == "bytes":
    path, weights = os.fsencode(path), os.fsencode(weights)
result = score_video(path, syncnet_model=weights, device="cpu", faces=[[] for _ in range(52)], quiet=True)
print(len(result.tracks), result.n_frames)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_score_video_quiet_prints_nothing_and_takes_bytes_paths(kind, tmp_path, syncnet_weights):
    clip = make_clip(tmp_path / "noface.mp4", seconds=2)
    result = subprocess.run([sys.executable, "-c", QUIET_SCRIPT, str(clip), str(syncnet_weights), kind],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "52"]
    assert result.stderr == "", "quiet=True writes nothing on stderr"


# ------------------------------------------------------------------ 7: outputs checked before the first video


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=2)


def _batch(*args, cwd, env=None, weights):
    syncnet_model, s3fd_model = weights
    return command("syncnet.batch", *args, "--initial_model", syncnet_model, "--s3fd_model", s3fd_model, "--device",
                   "cpu", "--workers", "1", cwd=cwd, env=env)


@pytest.mark.extras("s3")
@pytest.mark.slow
def test_an_unwritable_output_is_refused_before_the_first_video(small_clip, tmp_path, s3_server, syncnet_weights,
                                                                 s3fd_weights):
    _, environment = s3_server
    weights = (syncnet_weights, s3fd_weights)
    missing = _batch(small_clip, "--data_dir", "s3://missing-bucket/runs", cwd=tmp_path, env=environment,
                     weights=weights)
    assert_refused(missing, "--data_dir s3://missing-bucket/runs", "cannot write there", "NoSuchBucket")
    assert "started" not in missing.stderr, "no video ran"

    with mounted_tmpfs(tmp_path / "read-only", read_only=True) as read_only:
        curate = _batch(small_clip, "--data_dir", tmp_path / "work", "--curate", read_only / "kept", cwd=tmp_path,
                        weights=weights)
        assert_refused(curate, f"--curate {read_only / 'kept'}", "cannot write there")
        assert "started" not in curate.stderr and not (tmp_path / "work" / "batch_state.jsonl").exists()
        evaluate = command("syncnet.eval", small_clip, "--protocol", "wav2lip-lrs", "--out", read_only / "eval",
                           "--initial_model", syncnet_weights, "--device", "cpu", cwd=tmp_path)
        assert_refused(evaluate, f"--out {read_only / 'eval'}", "cannot write there")
        compare = command("syncnet.eval", "--compare", evaluation(tmp_path / "a"), tmp_path / "a", "--out",
                          read_only / "cmp", cwd=tmp_path)
        assert_refused(compare, f"--out {read_only / 'cmp'}", "cannot write there")


@pytest.mark.extras("s3")
@pytest.mark.slow
def test_object_storage_inputs_a_bucket_line_fails_its_row_and_dotted_keys_compare(tmp_path, s3_server,
                                                                                  syncnet_weights, s3fd_weights):
    client, environment = s3_server
    listing = tmp_path / "inputs.txt"
    listing.write_text("s3://videos/\ns3://videos/in/\n")
    result = _batch(listing, "--data_dir", tmp_path / "work", cwd=tmp_path, env=environment,
                    weights=(syncnet_weights, s3fd_weights))
    assert result.returncode == driver.EXIT_SOME_FAILED, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    with open(tmp_path / "work" / "summary.csv", newline="") as handle:
        errors = [row["error"] for row in csv.DictReader(handle)]
    assert errors and all("names a bucket or a prefix, not an object" in error for error in errors), errors

    for side in ("a", "b"):
        folder = evaluation(tmp_path / side)
        for name in ("dataset.json", "per_video.csv"):
            client.upload_file(str(folder / name), "videos", f"runs/../eval-{side}/{name}")
    compared = command("syncnet.eval", "--compare", "s3://videos/runs/../eval-a", "s3://videos/runs/../eval-b",
                       cwd=tmp_path, env=environment)
    assert compared.returncode == 0, compared.stderr
    assert "n=2 paired" in compared.stdout


# ------------------------------------------------------------------ 1 and 8: a shared scratch folder

HOLDER = """
import os, sys, time
from syncnet.batch.worker import worker_scratch

class Config:
    scratch_dir = sys.argv[1]

mine = worker_scratch(Config)
moved = os.path.join(sys.argv[1], sys.argv[2])  # as another machine's worker names its folder
os.rename(mine, moved)
with open(os.path.join(moved, "live-work"), "w") as handle:
    handle.write("being written")
print("ready", flush=True)
time.sleep(600)
"""


def _scratch_holder(scratch, name):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(scratch), name], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert holder.stdout.readline().strip() == "ready"
    return holder


@pytest.mark.slow
def test_a_shared_scratch_keeps_live_work_of_other_machines_and_a_normal_end_leaves_nothing(small_clip, tmp_path,
                                                                                         syncnet_weights):
    """Another machine's live worker (its PID not running here) keeps its folder; a dead worker's
    folder (its PID running here) is cleared; a folder not proven dead, and a user's, stay; the
    run's own folder is gone at its normal end (local engine, whole-frame protocol)."""
    from syncnet.io.layout import make_owned_dir

    scratch = tmp_path / "shared-scratch"
    scratch.mkdir()
    live_name, dead_name = "syncnet-worker-othermachine-4000000", f"syncnet-worker-othermachine-{os.getpid()}"
    live = _scratch_holder(scratch, live_name)
    dead = _scratch_holder(scratch, dead_name)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        make_owned_dir(scratch / "syncnet-worker-4000001")       # no lock file: not proven dead
        (scratch / "syncnet-worker-notes").mkdir()                # the user's, unmarked
        result = command("syncnet.eval", small_clip, "--protocol", "wav2lip-lrs", "--out", tmp_path / "eval",
                         "--initial_model", syncnet_weights, "--device", "cpu", "--workers", "1", "--scratch_dir",
                         scratch, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (scratch / live_name / "live-work").read_text() == "being written", "live work was deleted"
        assert sorted(p.name for p in scratch.iterdir()) == sorted(
            [live_name, "syncnet-worker-4000001", "syncnet-worker-notes"])
    finally:
        live.kill()
        live.wait(timeout=30)

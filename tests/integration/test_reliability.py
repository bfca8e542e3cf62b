"""No run destroys or fakes data; interrupted and concurrent runs stay safe; real-world files score.

A run that is interrupted, killed, measured or raced against is a real subprocess of a script,
interrupted with real signals at a point the test controls (a log line, not a sleep); the other
runs call the script's main() in this process (run_command). Each asserts the exit status, the
one line, and what is on disk afterwards.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import REPO_ROOT, assert_refused, make_clip, mounted_tmpfs, need, run_command, wait_for_line

pytestmark = pytest.mark.slow


def start(script, *args, cwd):
    return subprocess.Popen([sys.executable, str(REPO_ROOT / script), *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def visible(folder):
    """A folder's entries but for lock files and ownership marks."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock") and p.name != ".syncnet-run")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, shared_dir):
    folder = tmp_path_factory.mktemp("clips")
    still = need(shared_dir / "fixtures" / "frames" / "twoface_200.png")
    made = {"short": make_clip(folder / "short.mp4", seconds=2),
            "longer": make_clip(folder / "longer.mp4", seconds=3),
            "medium": make_clip(folder / "medium.mp4", seconds=10),  # a run that lasts while another is tried
            "long": make_clip(folder / "long.mp4", seconds=30)}
    # Two faces on a still frame with a tone: the stand-in S3FD at --facedet_conf 0.5 tracks them.
    # Its audio stops 0.2 s (5 frames) before its video, as real files often do.
    made["faces_short_audio"] = folder / "faces_short_audio.mp4"
    from syncnet.io.media import run_ffmpeg
    run_ffmpeg(["-loop", "1", "-framerate", "25", "-t", "3", "-i", str(still), "-f", "lavfi", "-i",
                "sine=frequency=300:sample_rate=16000:duration=2.8", "-c:v", "mpeg4", "-q:v", "2",
                "-pix_fmt", "yuv420p", "-c:a", "aac", str(made["faces_short_audio"])], "make the face clip")
    return made


FACE_OPTIONS = ["--facedet_conf", "0.5", "--min_track", "30", "--min_face_size", "20"]


def pipeline(video, data_dir, s3fd, *extra, reference="r", check=False):
    return run_command("run_pipeline.py", "--videofile", video, "--data_dir", data_dir, "--reference", reference,
                       "--s3fd_model", s3fd, "--device", "cpu", *extra, cwd=data_dir.parent, check=check)


@pytest.fixture(scope="module")
def scored_faces(clips, tmp_path_factory, s3fd_weights, syncnet_weights):
    """run_pipeline and run_syncnet on the two-face clip whose audio ends early, once for the
    module; each test that goes on from there works on a copy (scored_copy)."""
    data_dir = tmp_path_factory.mktemp("faces_short_audio") / "work"
    pipeline(clips["faces_short_audio"], data_dir, s3fd_weights, *FACE_OPTIONS, check=True)
    run_command("run_syncnet.py", "--data_dir", data_dir, "--reference", "r", "--initial_model", syncnet_weights,
                "--device", "cpu", cwd=data_dir.parent)
    return data_dir


def scored_copy(scored_faces, tmp_path):
    data_dir = tmp_path / "work"
    shutil.copytree(scored_faces, data_dir)
    return data_dir


# ----------------------------------------------------------------- 1. inputs it was told to reuse


def test_a_failed_reuse_keeps_the_saved_detections(clips, tmp_path, s3fd_weights):
    data_dir = tmp_path / "work"
    pipeline(clips["short"], data_dir, s3fd_weights, check=True)
    work = data_dir / "pywork" / "r"
    before = {name: digest(work / name) for name in ("faces.pckl", "tracks.pckl", "pipeline.json")}

    mismatch = pipeline(clips["longer"], data_dir, s3fd_weights, "--reuse_faces")
    assert_refused(mismatch, "faces.pckl", "detections for 52 frames", "77")
    assert {name: digest(work / name) for name in before} == before
    for kind in ("pyavi", "pyframes", "pycrop", "pywork", "pytmp"):
        assert not [name for name in visible(data_dir / kind) if name.startswith(".")], kind

    with mounted_tmpfs(data_dir / "pytmp", read_only=True):
        read_only = pipeline(clips["short"], data_dir, s3fd_weights, "--reuse_faces")
    assert_refused(read_only, "read-only")
    assert {name: digest(work / name) for name in before} == before


# ----------------------------------------------------------------- 2. outputs appear complete or not at all


def test_an_interrupted_conversion_leaves_nothing_under_final_names(clips, tmp_path, s3fd_weights):
    data_dir = tmp_path / "work"
    process = start("run_pipeline.py", "--videofile", clips["long"], "--data_dir", data_dir, "--reference", "r",
                    "--s3fd_model", s3fd_weights, "--device", "cpu", cwd=tmp_path)
    try:
        wait_for_line(process.stderr, "converting")  # logged as ffmpeg's conversion starts
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    for kind in ("pyavi", "pyframes", "pycrop", "pywork", "pytmp"):
        assert visible(data_dir / kind) == [], kind


def test_a_full_disk_fails_in_one_line_and_leaves_nothing(clips, tmp_path, s3fd_weights):
    data_dir = tmp_path / "work"
    with mounted_tmpfs(data_dir, size="600k"):
        result = pipeline(clips["long"], data_dir, s3fd_weights)
        assert_refused(result, "disk is full")
        for kind in ("pyavi", "pyframes", "pycrop", "pywork", "pytmp"):
            assert visible(data_dir / kind) == [], kind


@pytest.mark.parametrize("spare", [20_000, 300_000], ids=["video_only-cut-short", "video_out-fails"])
def test_visualise_on_a_full_disk_leaves_no_short_video(spare, scored_faces, tmp_path):
    data_dir = scored_copy(scored_faces, tmp_path)
    avi = data_dir / "pyavi" / "r"
    saved = {p.name: p.read_bytes() for p in avi.iterdir()}
    room = sum(len(data) for data in saved.values()) + spare
    with mounted_tmpfs(avi, size=str(room)):
        for name, data in saved.items():
            (avi / name).write_bytes(data)
        result = run_command("run_visualise.py", "--data_dir", data_dir, "--reference", "r", cwd=tmp_path,
                             check=False)
        assert_refused(result)
        assert "disk is full" in result.stderr.splitlines()[-1] or "were written" in result.stderr
        assert sorted(visible(avi)) == sorted(name for name in saved if not name.startswith(".")), \
            "no video_only.avi or video_out.avi, and no temporary file left"


# ----------------------------------------------------------------- 3, 4. unfinished pipelines, concurrent runs


def test_run_syncnet_refuses_an_unfinished_or_running_pipeline(clips, tmp_path, s3fd_weights, syncnet_weights):
    data_dir = tmp_path / "work"
    score = ["--data_dir", data_dir, "--reference", "r", "--initial_model", syncnet_weights, "--device", "cpu"]
    process = start("run_pipeline.py", "--videofile", clips["long"], "--data_dir", data_dir, "--reference", "r",
                    "--s3fd_model", s3fd_weights, "--facedet_scale", "1", "--device", "cpu", cwd=tmp_path)
    try:
        wait_for_line(process.stderr, "detecting faces")
        running = run_command("run_syncnet.py", *score, cwd=tmp_path, check=False)
        message = assert_refused(running, "in use by another run", f"pid {process.pid}", "run_pipeline.py")
        second = pipeline(clips["short"], data_dir, s3fd_weights)
        assert_refused(second, "in use by another run", f"pid {process.pid}")
        process.send_signal(signal.SIGKILL)  # a killed run leaves its lock file and staging folders
        process.wait(timeout=60)
    finally:
        process.kill()
    assert "holder unknown" not in message
    unfinished = run_command("run_syncnet.py", *score, cwd=tmp_path, check=False)
    assert_refused(unfinished, "no completed run_pipeline.py run")
    assert not (data_dir / "pywork" / "r" / "offsets.json").exists()

    pipeline(clips["short"], data_dir, s3fd_weights, check=True)  # the stale lock does not block
    for kind in ("pyavi", "pyframes", "pycrop", "pywork"):
        assert visible(data_dir / kind) == ["r"], (kind, "abandoned staging folders are cleaned up")
    run_command("run_syncnet.py", *score, cwd=tmp_path)


def test_two_runs_on_one_reference_one_is_refused(clips, tmp_path, s3fd_weights):
    data_dir = tmp_path / "work"
    first = start("run_pipeline.py", "--videofile", clips["medium"], "--data_dir", data_dir, "--reference", "r",
                  "--s3fd_model", s3fd_weights, "--device", "cpu", cwd=tmp_path)
    try:
        wait_for_line(first.stderr, "converting")
        second = pipeline(clips["short"], data_dir, s3fd_weights)
        assert_refused(second, "in use by another run", f"pid {first.pid}")
        first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0
    record = json.loads((data_dir / "pywork" / "r" / "pipeline.json").read_text())
    assert record["videofile"] == str(clips["medium"]) and record["n_frames"] >= 250


# ----------------------------------------------------------------- 5. only folders the suite made are deleted


def test_a_users_folder_is_never_deleted(clips, tmp_path, s3fd_weights, syncnet_weights):
    mine = tmp_path / "demo"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    demo = run_command("demo_syncnet.py", "--videofile", clips["short"], "--tmp_dir", tmp_path,
                       "--initial_model", syncnet_weights, "--device", "cpu", cwd=tmp_path, check=False)
    assert_refused(demo, str(mine), "not made by SyncNet")
    assert (mine / "thesis.txt").read_text() == "precious"

    data_dir = tmp_path / "work"
    theirs = data_dir / "pyavi" / "r"
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text("precious")
    assert_refused(pipeline(clips["short"], data_dir, s3fd_weights), str(theirs), "not made by SyncNet")
    assert (theirs / "notes.txt").read_text() == "precious"

    (theirs / "notes.txt").unlink()  # an empty folder is adopted
    pipeline(clips["short"], data_dir, s3fd_weights, check=True)
    run_command("demo_syncnet.py", "--videofile", clips["short"], "--tmp_dir", data_dir / "pytmp",
                "--initial_model", syncnet_weights, "--device", "cpu", cwd=tmp_path)
    run_command("demo_syncnet.py", "--videofile", clips["short"], "--tmp_dir", data_dir / "pytmp",
                "--initial_model", syncnet_weights, "--device", "cpu", cwd=tmp_path)  # its own folder: cleared


# ----------------------------------------------------------------- 6. audio shorter than video


def test_audio_shorter_than_video_scores_and_draws(scored_faces, tmp_path):
    data_dir = scored_copy(scored_faces, tmp_path)
    run_command("run_visualise.py", "--data_dir", data_dir, "--reference", "r", cwd=tmp_path)
    work = data_dir / "pywork" / "r"
    speakers = json.loads((work / "speakers.json").read_text())
    tracks = json.loads((work / "offsets.json").read_text())["tracks"]
    assert tracks and all(track["end_frame"] >= 70 for track in tracks), "the tracks run to the video's end"
    n_frames = len(list((data_dir / "pyframes" / "r").glob("*.jpg")))
    assert [entry["frame"] for entry in speakers["frames"]] == list(range(n_frames))
    for track in tracks:
        seen = [entry for entry in speakers["frames"] if str(track["track"]) in entry["confidence"]]
        assert len(seen) == track["end_frame"] - track["start_frame"] + 1, "every frame of the track has a value"
    assert (data_dir / "pyavi" / "r" / "video_out.avi").stat().st_size > 0


# ----------------------------------------------------------------- 7. audio that starts late or early


def _click_clip(path, audio_delay):
    """A 224x224 clip whose audio is a 4 ms burst every second, starting `audio_delay` s after
    the video (negative: before it). PCM in Matroska, so that no codec priming moves the
    timestamps: the streams start exactly where -itsoffset puts them."""
    from syncnet.io.media import run_ffmpeg

    bursts = "aevalsrc='if(lt(mod(t\\,1)\\,0.004)\\,0.8*sin(2*PI*2000*t)\\,0)':s=48000:d=4"
    video = ["-f", "lavfi", "-i", "testsrc2=size=224x224:rate=25:duration=4"]
    audio = ["-f", "lavfi", "-i", bursts]
    if audio_delay >= 0:
        inputs = video + ["-itsoffset", str(audio_delay)] + audio
    else:
        inputs = ["-itsoffset", str(-audio_delay)] + video + audio
    run_ffmpeg([*inputs, "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-ar", "48000", str(path)], "make a click clip")
    return path


def _first_click(wav):
    from scipy.io import wavfile

    rate, samples = wavfile.read(wav)
    assert rate == 16000
    return int(np.flatnonzero(np.abs(samples.astype(float)) > 0.1 * 32768)[0])


def _click_runs(clip, folder, s3fd_weights, syncnet_weights):
    """The demo and run_pipeline on a click clip: (what the demo logged, the first burst's sample in
    the demo's wav and in the pipeline's audio.wav, their numbers of frames)."""
    demo = run_command("demo_syncnet.py", "--videofile", clip, "--tmp_dir", folder / "tmp",
                       "--initial_model", syncnet_weights, "--device", "cpu", cwd=folder)
    data_dir = folder / "work"
    pipeline(clip, data_dir, s3fd_weights, check=True)
    demo_dir, audio = folder / "tmp" / "demo", data_dir / "pyavi" / "r" / "audio.wav"
    return (demo.stderr, (_first_click(demo_dir / "audio.wav"), _first_click(audio)),
            (len(list(demo_dir.glob("*.jpg"))), len(list((data_dir / "pyframes" / "r").glob("*.jpg")))))


@pytest.fixture(scope="module")
def aligned_runs(tmp_path_factory, s3fd_weights, syncnet_weights):
    """_click_runs of the click clip with both streams at 0, once for every delay."""
    folder = tmp_path_factory.mktemp("aligned")
    return _click_runs(_click_clip(folder / "aligned.mkv", 0), folder, s3fd_weights, syncnet_weights)


@pytest.mark.parametrize("delay", [0.8, -0.32])
def test_audio_is_aligned_to_the_video(delay, aligned_runs, tmp_path, s3fd_weights, syncnet_weights):
    """The first burst lands `delay` s later than in the same clip with both streams at 0, in the
    demo's wav and in the pipeline's audio.wav; the frames are the same in number."""
    stderr, shifted_clicks, shifted_frames = _click_runs(_click_clip(tmp_path / "shifted.mkv", delay), tmp_path,
                                                         s3fd_weights, syncnet_weights)
    way = "after" if delay > 0 else "before"
    assert f"its audio starts {abs(delay):.3f} s {way} its video" in stderr, stderr
    _, aligned_clicks, aligned_frames = aligned_runs
    clicks = {"aligned": aligned_clicks, "shifted": shifted_clicks}
    frames = {"aligned": aligned_frames, "shifted": shifted_frames}
    expected = round(delay * 16000) if delay > 0 else 0
    for where in (0, 1):
        moved = clicks["shifted"][where] - clicks["aligned"][where]
        if delay > 0:
            assert abs(moved - expected) <= 16, (where, moved)  # within 1 ms
        else:  # the first burst (at 0 s of the audio) falls before the video and is trimmed away
            assert abs(clicks["shifted"][where] - (clicks["aligned"][where] + 16000 - round(-delay * 16000))) <= 16
    assert frames["shifted"] == frames["aligned"]


# ----------------------------------------------------------------- 8, 9. option values and degenerate frames


@pytest.mark.parametrize("args, words", [
    (["--batch_size", "0"], ["--batch_size 0", ">= 1"]),
    (["--batch_size", "-5"], ["--batch_size -5", ">= 1"]),
    (["--vshift", "-1"], ["--vshift -1", ">= 0"]),
    (["--vshift", "1000"], ["--vshift 1000", "45 windows", "44"]),
])
def test_bad_scoring_options_are_refused(args, words, clips, tmp_path, syncnet_weights):
    demo = run_command("demo_syncnet.py", "--videofile", clips["short"], "--tmp_dir", tmp_path / "tmp",
                       "--initial_model", syncnet_weights, "--device", "cpu", *args, cwd=tmp_path, check=False)
    assert_refused(demo, *words)
    if args[1].startswith("-") or args[1] == "0":
        batch = run_command("syncnet.batch", clips["short"], "--data_dir", tmp_path / "batch", *args, cwd=REPO_ROOT,
                            check=False)
        assert_refused(batch, *words)
        assert not (tmp_path / "batch").exists()


def test_frames_too_small_for_a_face_are_refused(tmp_path, s3fd_weights):
    from syncnet.io.media import run_ffmpeg

    tiny = tmp_path / "tiny.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=gray:size=1x1:rate=25:duration=2", "-f", "lavfi", "-i",
                "sine=duration=2", "-c:v", "mpeg4", "-c:a", "aac", str(tiny)], "make a 1x1 clip")
    data_dir = tmp_path / "work"
    assert_refused(pipeline(tiny, data_dir, s3fd_weights), "1x1", "too small", "--facedet_scale")
    assert not data_dir.exists()


def test_large_frames_are_detected_a_few_at_a_time(tmp_path, s3fd_weights):
    """A 4000x4000 clip: one frame per network batch keeps detection near 1 GB (8 at a time took 5 GB)."""
    big = make_clip(tmp_path / "big.mp4", seconds=0.2, size="4000x4000")
    code = ("import resource, sys; import run_pipeline\n"
            "try:\n    run_pipeline.main(sys.argv[1:])\nexcept SystemExit as stop:\n    assert not stop.code, stop\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    result = subprocess.run([sys.executable, "-c", code, "--videofile", str(big), "--data_dir", str(tmp_path / "work"),
                             "--reference", "r", "--s3fd_model", str(s3fd_weights), "--device", "cpu", "--quiet"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.split()[-1])
    assert peak_mb < 2000, f"peak {peak_mb} MB"


# ----------------------------------------------------------------- 14. messages in words a user knows


def test_messages_for_broken_files(tmp_path, syncnet_weights, s3fd_weights, clips):
    from syncnet.io.media import ffmpeg_exe, run_ffmpeg

    zero = tmp_path / "zero.avi"  # ffmpeg writes the file, then exits non-zero: no frame was encoded
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "quiet", "-f", "lavfi", "-i",
                    "testsrc2=size=224x224:rate=25:duration=1", "-f", "lavfi", "-i", "sine=d=1", "-map", "0:v",
                    "-map", "1:a", "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-frames:v", "0", str(zero)], check=False)
    timecode = tmp_path / "tc.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=1", "-c:v", "mpeg4",
                "-timecode", "00:00:00:00", str(timecode)], "make a timecode clip")
    data_only = tmp_path / "data_only.mp4"  # its video track renamed to an unknown type: data
    data_only.write_bytes(timecode.read_bytes().replace(b"vide", b"xxxx").replace(b"mp4v", b"xxxx"))
    for video, words in ((zero, ["zero.avi", "no frame ffmpeg can decode"]),
                         (data_only, ["data_only.mp4", "only data streams"])):
        demo = run_command("demo_syncnet.py", "--videofile", video, "--tmp_dir", tmp_path / "tmp",
                           "--initial_model", syncnet_weights, cwd=tmp_path, check=False)
        assert_refused(demo, *words)
        assert_refused(pipeline(video, tmp_path / "work", s3fd_weights), *words)

    with mounted_tmpfs(tmp_path / "full", size="40k"):
        result = run_command("demo_syncnet.py", "--videofile", clips["long"], "--tmp_dir", tmp_path / "full",
                             "--initial_model", syncnet_weights, "--device", "cpu", cwd=tmp_path, check=False)
        assert_refused(result, "disk is full")
        assert visible(tmp_path / "full") == [], "the partial frames are removed, so the disk is usable again"


# ----------------------------------------------------------------- 10-13. the batch runner


def _children(pid):
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _batch(inputs, data_dir, weights, *extra, cwd=None):
    """syncnet-batch as `python -m syncnet.batch`, run from `cwd` (default: the data folder's parent)."""
    syncnet_model, s3fd_model = weights
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, "-m", "syncnet.batch", *map(str, inputs), "--data_dir", str(data_dir),
                             "--initial_model", str(syncnet_model), "--s3fd_model", str(s3fd_model),
                             "--device", "cpu", *map(str, extra)], cwd=cwd or data_dir.parent, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def batch_clips(clips, tmp_path_factory):
    """Two 2 s clips that finish fast, then two 10 s ones that keep the workers busy."""
    folder = tmp_path_factory.mktemp("batch_clips")
    for name, source in (("a.mp4", "short"), ("b.mp4", "short"), ("c.mp4", "medium"), ("d.mp4", "medium")):
        os.link(clips[source], folder / name)
    return folder


def test_killing_the_batch_kills_its_workers(batch_clips, tmp_path, syncnet_weights, s3fd_weights):
    process = _batch([batch_clips / "c.mp4", batch_clips / "d.mp4"], tmp_path / "work",
                     (syncnet_weights, s3fd_weights), "--workers", "2", "--facedet_scale", "1")
    try:
        wait_for_line(process.stderr, "started")
        workers = _children(process.pid)
        assert len(workers) >= 2
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        deadline = time.time() + 20
        while any(_alive(pid) for pid in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if _alive(pid)], "the workers die with the batch"
        process.stdout.read()  # returns: no orphan holds the caller's stdout open
    finally:
        process.kill()
        for pid in _children(process.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_records_what_finished_and_removes_what_did_not(workers, batch_clips, tmp_path, syncnet_weights,
                                                                 s3fd_weights):
    data_dir = tmp_path / "work"
    process = _batch([batch_clips], data_dir, (syncnet_weights, s3fd_weights), "--workers", workers,
                     "--facedet_scale", "1")
    try:
        # The batch's line for a recorded video ("NAME: N face track(s), S s"), not the pipeline's
        # "N face track(s) in M scene(s)" that a worker logs under the video's name before it ends.
        seen = wait_for_line(process.stderr, "a.mp4: 0 face track(s), ", "b.mp4: 0 face track(s), ",
                             "c.mp4: started", timeout=300)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    stderr = "".join(seen) + stderr
    assert process.returncode == 130 and "interrupted" in stderr.splitlines()[-1], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    records = [json.loads(line) for line in (data_dir / "batch_state.jsonl").read_text().splitlines()]
    recorded = {os.path.basename(record["video"]) for record in records}
    assert {"a.mp4", "b.mp4"} <= recorded <= {"a.mp4", "b.mp4", "c.mp4", "d.mp4"}
    for kind in ("pyavi", "pycrop", "pywork", "pyframes", "pytmp"):
        for name in visible(data_dir / kind):
            assert any(name == record["reference"] for record in records), (kind, name, "an unfinished video's folder")
    started_after = stderr.split("c.mp4: started", 1)[1]
    assert "d.mp4: started" not in started_after or workers == 2, "nothing starts after the signal"
    summary = (data_dir / "summary.csv").read_text()
    assert all(name in summary for name in recorded)


def test_inputs_one_file_one_video_and_bad_lines_become_failed_rows(batch_clips, tmp_path, syncnet_weights,
                                                                    s3fd_weights, monkeypatch):
    from syncnet.batch.driver import EXIT_SOME_FAILED
    from syncnet.io.inputs import collect_videos

    tree = tmp_path / "tree"
    tree.mkdir()
    os.link(batch_clips / "a.mp4", tree / "a.mp4")
    (tree / "loop").symlink_to(tree)  # a symlink loop: ** would find a.mp4 again at every depth
    monkeypatch.chdir(tmp_path)
    assert collect_videos([str(tree / "**" / "*.mp4")]) == [str(tree / "a.mp4")]

    listing = tmp_path / "list.txt"
    listing.write_bytes(b"tree/a.mp4  # the first clip\n"
                        b"bad\x00name.mp4\n"
                        b"caf\xe9.mp4\n"
                        b"# a comment line\n"
                        b"take#2.mp4\n")
    videos = collect_videos([str(listing)])
    assert videos == [str(tree / "a.mp4"), str(tmp_path / "bad\x00name.mp4"),
                      os.fsdecode(str(tmp_path / "caf").encode() + b"\xe9.mp4"), str(tmp_path / "take#2.mp4")]
    # A process of its own: in a test worker that ran other batches, the in-process run failed only
    # in the whole suite (not alone); its report, which names the non-UTF-8 file, then broke xdist.
    process = _batch([listing], tmp_path / "work", (syncnet_weights, s3fd_weights), "--workers", "1", cwd=tmp_path)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == EXIT_SOME_FAILED, stderr.encode("utf-8", "backslashreplace").decode()
    rows = [json.loads(line) for line in (tmp_path / "work" / "batch_state.jsonl").read_text().splitlines()]
    assert [row["status"] for row in rows] == ["ok", "failed", "failed", "failed"]
    assert "NUL byte" in rows[1]["error"] and "not found" in rows[2]["error"] and "take#2.mp4" in rows[3]["error"]
    summary = (tmp_path / "work" / "summary.csv").read_text(encoding="utf-8")
    assert summary.count("\n") == 5, "a header and four video rows"
    assert "\0" not in summary and "bad\\x00name.mp4" in summary and "caf\\xe9.mp4" in summary


def test_a_local_worker_killed_mid_video_is_retried(batch_clips, tmp_path, syncnet_weights, s3fd_weights):
    data_dir = tmp_path / "work"
    process = _batch([batch_clips / "c.mp4", batch_clips / "d.mp4"], data_dir, (syncnet_weights, s3fd_weights),
                     "--workers", "2")
    try:
        wait_for_line(process.stderr, "c.mp4: started", "d.mp4: started", timeout=300)
        workers = [pid for pid in _children(process.pid)
                   if b"spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read()]
        os.killpg(workers[0], signal.SIGKILL)  # the worker and its ffmpeg
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in (data_dir / "batch_state.jsonl").read_text().splitlines()]
    assert sorted(os.path.basename(record["video"]) for record in records) == ["c.mp4", "d.mp4"]
    assert all(record["status"] == "ok" for record in records)
    assert max(record["attempt"] for record in records) == 2, "the videos in the broken pool ran again"

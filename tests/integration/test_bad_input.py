"""The bad-input matrix: every case is a run of a script, in this process through its main()
(run_command) unless the case is about the process: an interrupt, two runs at once, a fresh
interpreter's environment.

Each failing case must exit non-zero with one line naming the problem and no traceback;
each case must leave a sentinel file inside data_dir and one beside it untouched.
"""
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, assert_refused, make_clip, run_command, run_script, wait_for_line

# Whole runs of the scripts: the full suite runs them, the fast tier (-m 'not slow') does not.
pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "good": make_clip(folder / "good.mp4"),
        "no_audio": make_clip(folder / "no_audio.mp4", audio=False),
        "audio_only": make_clip(folder / "audio_only.mp4", video=False),
        "three_frames": make_clip(folder / "three.mp4", seconds=0.12),
        "30fps_44k_stereo": make_clip(folder / "30fps.mp4", fps=30, audio_rate=44100, channels=2),
        # Keep every third frame with its own timestamp: a variable-frame-rate stream.
        "vfr": make_clip(folder / "vfr.mkv", seconds=3,
                         extra=["-vf", "select='lt(mod(n,5),2)'", "-fps_mode", "vfr"]),
    }
    (folder / "empty.mp4").write_bytes(b"")
    made["empty"] = folder / "empty.mp4"
    (folder / "text.mp4").write_text("this is not a video\n")
    made["text"] = folder / "text.mp4"
    data = made["good"].read_bytes()
    (folder / "truncated.mp4").write_bytes(data[:int(len(data) * 0.3)])
    made["truncated"] = folder / "truncated.mp4"
    return made


@pytest.fixture
def data_dir(tmp_path):
    """A data_dir with a sentinel inside and one beside it; both must survive every run."""
    path = tmp_path / "work"
    path.mkdir()
    (path / "sentinel.txt").write_text("keep")
    (tmp_path / "beside.txt").write_text("keep")
    yield path
    assert (path / "sentinel.txt").read_text() == "keep"
    assert (tmp_path / "beside.txt").read_text() == "keep"


def run(script, *args, cwd):
    """The script run in this process; each case checks its exit status and what it printed."""
    return run_command(script, *args, cwd=cwd, check=False)


def assert_ok(result):
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def pipeline(video, data_dir, s3fd, reference="case", *extra):
    return run("run_pipeline.py", "--videofile", video, "--data_dir", data_dir, "--reference", reference,
               "--s3fd_model", s3fd, "--device", "cpu", *extra, cwd=data_dir.parent)


@pytest.mark.parametrize("case,words", [
    ("missing", ["not found", "missing.mp4"]),
    ("directory", ["not a file"]),
    ("empty", ["empty.mp4", "empty"]),
    ("text", ["text.mp4", "not a media file"]),
    ("truncated", ["truncated.mp4"]),
    ("no_audio", ["no_audio.mp4", "no audio stream"]),
    ("audio_only", ["audio_only.mp4", "no video stream"]),
])
def test_unusable_inputs_are_refused(case, words, clips, data_dir, s3fd_weights, syncnet_weights):
    video = {"missing": data_dir.parent / "missing.mp4", "directory": data_dir.parent}.get(case) or clips[case]
    assert_refused(pipeline(video, data_dir, s3fd_weights), *words)
    assert not (data_dir / "pyavi").exists(), "refused before any folder was made"
    demo = run("demo_syncnet.py", "--videofile", video, "--initial_model", syncnet_weights,
               "--tmp_dir", data_dir / "pytmp", "--device", "cpu", cwd=data_dir.parent)
    assert_refused(demo, *words)


def test_three_frame_clip(clips, data_dir, s3fd_weights, syncnet_weights):
    result = assert_ok(pipeline(clips["three_frames"], data_dir, s3fd_weights))
    assert "No face track" in result.stdout and "--facedet_conf" in result.stdout  # S3FD found no face
    demo = run("demo_syncnet.py", "--videofile", clips["three_frames"], "--initial_model", syncnet_weights,
               "--tmp_dir", data_dir / "pytmp", "--device", "cpu", cwd=data_dir.parent)
    assert_refused(demo, "three.mp4", "too short")


def test_demo_refuses_a_full_frame_video(clip, tmp_path, syncnet_weights):
    demo = run("demo_syncnet.py", "--videofile", clip("twoface.mp4"), "--initial_model", syncnet_weights,
               "--tmp_dir", tmp_path / "pytmp", "--device", "cpu", cwd=tmp_path)
    assert_refused(demo, "twoface.mp4", "224x224", "run_pipeline.py")


@pytest.mark.parametrize("case", ["30fps_44k_stereo", "vfr"])
def test_other_rates_are_converted(case, clips, data_dir, s3fd_weights, syncnet_weights):
    assert_ok(pipeline(clips[case], data_dir, s3fd_weights))
    frames = sorted((data_dir / "pyframes" / "case").glob("*.jpg"))
    assert len(frames) >= 40
    demo = assert_ok(run("demo_syncnet.py", "--videofile", clips[case], "--initial_model", syncnet_weights,
                         "--tmp_dir", data_dir / "pytmp", "--device", "cpu", cwd=data_dir.parent))
    assert "AV offset: \t" in demo.stdout


def test_hostile_file_names(clips, tmp_path, s3fd_weights, syncnet_weights):
    odd = tmp_path / "dir with spaces 'q' \"dq\" ünï $(touch PWNED)"
    odd.mkdir()
    (odd / "sentinel.txt").write_text("keep")
    video = odd / "-$(touch PWNED) `touch PWNED` ü 'x'.mp4"
    shutil.copy(clips["good"], video)
    data_dir = odd / "-data dir $(touch PWNED)"
    result = run("run_pipeline.py", "--videofile", video, "--data_dir", data_dir, "--reference", "ü $(x)",
                 "--s3fd_model", s3fd_weights, "--device", "cpu", cwd=odd)
    assert_ok(result)
    assert (data_dir / "pyavi" / "ü $(x)" / "video.avi").is_file()
    assert_ok(run("run_syncnet.py", "--data_dir", data_dir, "--reference", "ü $(x)",
                  "--initial_model", syncnet_weights, "--device", "cpu", cwd=odd))
    demo = assert_ok(run("demo_syncnet.py", "--videofile", video, "--initial_model", syncnet_weights,
                         "--tmp_dir", data_dir / "tmp $(touch PWNED)", "--device", "cpu", cwd=odd))
    assert "AV offset" in demo.stdout
    for where in (tmp_path, odd, data_dir, REPO_ROOT):
        assert not (where / "PWNED").exists()
    assert (odd / "sentinel.txt").read_text() == "keep"


@pytest.mark.parametrize("reference", ["../x", "", "..", "a/b"])
def test_unsafe_reference_is_refused(reference, clips, data_dir, s3fd_weights):
    victim = data_dir / "x"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    assert_refused(pipeline(clips["good"], data_dir, s3fd_weights, reference), "--reference")
    assert (victim / "precious.txt").exists()
    assert not (data_dir / "pyavi").exists()


def _read_only_dir(path):
    """Make `path` read-only for the test process, even as root (where permissions are ignored)."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True)
    return lambda: subprocess.run(["umount", str(path)], check=True)


def test_read_only_data_dir(clips, tmp_path, s3fd_weights):
    read_only = tmp_path / "readonly"
    release = _read_only_dir(read_only)
    try:
        message = assert_refused(run("run_pipeline.py", "--videofile", clips["good"], "--data_dir", read_only,
                                     "--reference", "r", "--s3fd_model", s3fd_weights, cwd=tmp_path))
        assert str(read_only) in message
        assert "read-only" in message.lower() or "permission" in message.lower()
    finally:
        release()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("case", ["missing", "truncated", "tampered", "payload", "wrong_layout", "fine_tuned"])
def test_bad_model_files(case, clips, tmp_path, syncnet_weights, s3fd_weights):
    """Only the default place (data/syncnet_v2.model) is held to the official checksum; a file
    passed with --initial_model, under any name, needs the network's layout, and a refusal of
    it does not suggest the flag the user passed."""
    model = tmp_path / "syncnet_v2.model"
    good = syncnet_weights.read_bytes()
    flag = ["--initial_model", model]
    if case == "truncated":
        model.write_bytes(good[:len(good) // 3])
    elif case == "tampered":
        model = tmp_path / "data" / "syncnet_v2.model"
        model.parent.mkdir()
        flipped = bytearray(good)
        flipped[len(flipped) // 2] ^= 0x01
        model.write_bytes(bytes(flipped))
        flag = []
    elif case == "payload":
        with open(model, "wb") as handle:
            pickle.dump({"netcnnaud.0.weight": _Payload()}, handle)
        model = model.rename(tmp_path / "custom.model")
        flag = ["--initial_model", model]
    elif case == "wrong_layout":
        shutil.copy(s3fd_weights, model)
    elif case == "fine_tuned":
        import torch

        state = torch.load(syncnet_weights, weights_only=True)
        state["netfcaud.0.bias"] = state["netfcaud.0.bias"] + 0.01
        torch.save(state, model)
    result = run("demo_syncnet.py", "--videofile", clips["good"], *flag,
                 "--tmp_dir", tmp_path / "pytmp", "--device", "cpu", cwd=tmp_path)
    if case == "fine_tuned":
        assert_ok(result)
        assert result.stdout.startswith(f"Model {model} loaded.") and "Confidence:" in result.stdout
        return
    message = assert_refused(result, str(model) if flag else "data/syncnet_v2.model", "download_model.sh")
    if case == "tampered":
        assert "checksum" in message and "--initial_model" in message
    else:
        assert "checksum" not in message and "--initial_model" not in message
    assert not (tmp_path / "PWNED").exists()


def test_cuda_without_cuda(clips, tmp_path, syncnet_weights):
    hidden = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # no CUDA device, even on a GPU machine: a fresh process
    result = run_script("demo_syncnet.py", "--videofile", clips["good"], "--initial_model", syncnet_weights,
                        "--tmp_dir", tmp_path / "pytmp", "--device", "cuda", cwd=tmp_path, check=False, env=hidden)
    assert_refused(result, "--device cuda", "no CUDA")


def test_clip_without_faces_runs_through(clips, data_dir, s3fd_weights, syncnet_weights):
    result = assert_ok(pipeline(clips["good"], data_dir, s3fd_weights))
    # The test pattern has no face: S3FD's threshold is the option to name, with the frame count.
    assert "No face track" in result.stdout and "(no faces detected)" in result.stdout
    assert "--facedet_conf 0.9 in any of the 52 frames" in result.stdout and "--min_track" not in result.stdout
    assert list((data_dir / "pycrop" / "case").glob("*.avi")) == []
    scored = assert_ok(run("run_syncnet.py", "--data_dir", data_dir, "--reference", "case",
                           "--initial_model", syncnet_weights, "--device", "cpu", cwd=data_dir.parent))
    assert "(no faces detected)" in scored.stdout
    work = data_dir / "pywork" / "case"
    assert (work / "offsets.txt").read_text().splitlines() == ["file\toffset\tmin_dist\tconfidence"]
    assert json.loads((work / "offsets.json").read_text())["tracks"] == []
    assert_ok(run("run_visualise.py", "--data_dir", data_dir, "--reference", "case", cwd=data_dir.parent))
    assert (data_dir / "pyavi" / "case" / "video_out.avi").stat().st_size > 0


@pytest.mark.parametrize("frames, box, words", [
    (range(0), (0, 0, 150, 150), ["(no faces detected)", "the detections given list no face in any of the 52"]),
    (range(20), (0, 0, 150, 150), ["(tracks shorter than --min_track)", "20 of 52 frames have a face",
                                   "1 had --min_track 30 detections or fewer"]),
    (range(52), (0, 0, 40, 40), ["(faces smaller than --min_face_size)", "52 of 52 frames have a face",
                                 "1 had a mean face size of --min_face_size 100 pixels or less"]),
])
def test_no_track_says_which_filter_removed_what(frames, box, words, clips, data_dir, s3fd_weights):
    """Detections of a known fate, given with --faces: the line counts frames with a face and
    names the filter that removed each track."""
    detections = [[{"frame": f, "bbox": list(box), "conf": 0.99}] if f in frames else [] for f in range(52)]
    faces = data_dir.parent / "faces.json"
    faces.write_text(json.dumps(detections))
    result = assert_ok(pipeline(clips["good"], data_dir, s3fd_weights, "case", "--faces", faces,
                                "--min_track", "30"))
    assert result.stdout.startswith("No face track was kept") and "--facedet_conf" not in result.stdout
    for word in words:
        assert word in result.stdout, result.stdout


def test_interrupt_during_detection_then_rerun(tmp_path, data_dir, s3fd_weights):
    long_clip = make_clip(tmp_path / "long.mp4", seconds=6)  # interrupted in its first frames: no need for more
    command = [sys.executable, str(REPO_ROOT / "run_pipeline.py"), "--videofile", str(long_clip),
               "--data_dir", str(data_dir), "--reference", "case", "--s3fd_model", str(s3fd_weights),
               "--facedet_scale", "2", "--device", "cpu"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(process.stderr, "detecting faces")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    for name in ("pyavi", "pyframes", "pycrop", "pywork", "pytmp"):
        assert not [entry for entry in (data_dir / name).iterdir() if not entry.name.endswith(".lock")], name
    assert_ok(pipeline(long_clip, data_dir, s3fd_weights, "case", "--facedet_scale", "0.25"))
    work = data_dir / "pywork" / "case"
    assert (work / "faces.pckl").exists() and (work / "tracks.pckl").exists()


def test_two_references_at_once(clips, data_dir, s3fd_weights):
    def start(reference):
        return subprocess.Popen([sys.executable, str(REPO_ROOT / "run_pipeline.py"), "--videofile",
                                 str(clips["good"]), "--data_dir", str(data_dir), "--reference", reference,
                                 "--s3fd_model", str(s3fd_weights), "--device", "cpu"],
                                cwd=data_dir.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first, second = start("one"), start("two")
    for process in (first, second):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    counts = []
    for reference in ("one", "two"):
        assert (data_dir / "pywork" / reference / "tracks.pckl").is_file()
        assert (data_dir / "pyavi" / reference / "video.avi").is_file()
        counts.append(len(list((data_dir / "pyframes" / reference).glob("*.jpg"))))
    assert counts[0] == counts[1] >= 50  # 2 s at 25 fps, each run in its own folders


@pytest.mark.timeout(120)
def test_missing_detector_weights_are_refused_before_the_conversion(clips, data_dir, monkeypatch):
    """Missing S3FD weights are named before the video is converted (minutes for a long one);
    with --faces no detector is needed, and the same run goes through."""
    import syncnet.pipeline.stage as stage

    converted = []
    real_convert = stage.convert_input
    monkeypatch.setattr(stage, "convert_input", lambda *args: converted.append(args) or real_convert(*args))
    missing = data_dir.parent / "no_such_sfd_face.pth"
    assert_refused(pipeline(clips["good"], data_dir, missing), "not found", str(missing))
    assert converted == []
    faces = data_dir.parent / "faces.json"
    faces.write_text(json.dumps([[] for _ in range(52)]))
    assert_ok(pipeline(clips["good"], data_dir, missing, "case", "--faces", faces))
    assert len(converted) == 1

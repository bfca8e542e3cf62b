"""syncnet-eval end to end: wav2lip-lrs against the golden demo and an independent restatement of
the reference, wav2lip and mocha on twoface.mp4 with the reference's detections, the paired
comparison, and the one-line errors."""
import csv
import json

import cv2
import numpy as np
import pytest

from syncnet.io.layout import reference_for
from syncnet.io.media import extract_audio, extract_frames, run_ffmpeg
from tests.helpers import assert_refused, make_clip, reference_evaluate, run_command

MEAN_DIST_TOL = 0.005  # the fixtures README's, for JPEG encoders of other ffmpeg versions


def syncnet_eval(*args, cwd):
    return run_command("syncnet.eval", *args, cwd=cwd, check=False)


def per_video(folder):
    with open(folder / "per_video.csv", newline="") as handle:
        return {row["video"].rsplit("/", 1)[1]: row for row in csv.DictReader(handle)}


def per_track(folder):
    with open(folder / "per_track.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_wav2lip_lrs_gives_the_golden_demo_numbers(clip, golden_dir, syncnet_weights, tmp_path):
    """example.avi and synced_example.avi are 224x224: resizing changes nothing, so the LRS
    protocol's per-video numbers are the demo's."""
    result = syncnet_eval(clip("example.avi"), clip("synced_example.avi"), "--protocol", "wav2lip-lrs",
                          "--out", tmp_path / "lrs", "--initial_model", syncnet_weights, "--device", "cpu",
                          "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = per_video(tmp_path / "lrs")
    for name in ("example", "synced_example"):
        golden = json.loads((golden_dir / f"demo_{name}.json").read_text())
        row = rows[f"{name}.avi"]
        assert (row["status"], int(row["n_tracks"]), int(row["offset"])) == ("scored", 1, golden["offset"])
        assert float(row["lse_d"]) == pytest.approx(golden["min_dist"], abs=MEAN_DIST_TOL)
        assert float(row["lse_c"]) == pytest.approx(golden["confidence"], abs=MEAN_DIST_TOL)
    dataset = json.loads((tmp_path / "lrs" / "dataset.json").read_text())
    mean_d = np.mean([float(rows[name]["lse_d"]) for name in rows])
    assert (dataset["protocol"], dataset["n_videos"], dataset["n_scored"]) == ("wav2lip-lrs", 2, 2)
    assert dataset["lse_d"]["mean"] == pytest.approx(mean_d, abs=1e-9)
    assert dataset["options"]["whole_frames"] is True
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"LSE-D {mean_d:.3f} [") and last.endswith("n=2  protocol wav2lip-lrs")


@pytest.mark.slow
def test_wav2lip_lrs_resizes_every_frame(clip, syncnet_weights, tmp_path):
    """A 2x-upscaled copy scores as the cv2.resize'd frames do, by an independent restatement
    of the reference with the official network; demo_syncnet --resize gives the same numbers."""
    from syncnet.models.loading import load_syncnet_weights
    from SyncNetModel import S

    upscaled = tmp_path / "up.avi"
    run_ffmpeg(["-i", str(clip("example.avi")), "-vf", "scale=448:448", "-c:v", "mpeg4", "-q:v", "2",
                "-c:a", "copy", str(upscaled)], "upscale example.avi")
    result = syncnet_eval(upscaled, "--protocol", "wav2lip-lrs", "--out", tmp_path / "lrs", "--initial_model",
                          syncnet_weights, "--device", "cpu", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    row = per_video(tmp_path / "lrs")["up.avi"]

    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    extract_frames(upscaled, frames_dir)
    extract_audio(upscaled, tmp_path / "audio.wav")
    frames = [cv2.resize(cv2.imread(str(path)), (224, 224)) for path in sorted(frames_dir.glob("*.jpg"))]
    model = load_syncnet_weights(S(), syncnet_weights).eval()
    offset, min_dist, confidence = reference_evaluate(model, frames, tmp_path / "audio.wav")
    assert int(row["offset"]) == offset
    assert float(row["lse_d"]) == pytest.approx(min_dist, abs=1e-3)
    assert float(row["lse_c"]) == pytest.approx(confidence, abs=1e-3)

    refused = run_command("demo_syncnet.py", "--videofile", upscaled, "--initial_model", syncnet_weights,
                          "--tmp_dir", tmp_path / "tmp", "--device", "cpu", cwd=tmp_path, check=False)
    assert_refused(refused, "448x448", "--resize")
    demo = run_command("demo_syncnet.py", "--videofile", upscaled, "--initial_model", syncnet_weights,
                       "--tmp_dir", tmp_path / "tmp", "--device", "cpu", "--resize", cwd=tmp_path)
    assert f"Min dist: \t{float(row['lse_d']):.3f}\nConfidence: \t{float(row['lse_c']):.3f}" in demo.stdout


@pytest.fixture(scope="module")
def twoface_cut(clip, twoface_faces_json, tmp_path_factory):
    """The first 9.6 s of twoface.mp4, and the reference's detections of its frames as --faces.

    Its second shot then runs from frame 152 to the end, fewer than 100 frames but more than 50:
    wav2lip (min_track 100) skips it, mocha (min_track 50) tracks its two faces.
    """
    folder = tmp_path_factory.mktemp("twoface_cut")
    video = folder / "cut.mp4"
    run_ffmpeg(["-i", str(clip("twoface.mp4")), "-t", "9.6", "-c:v", "mpeg4", "-q:v", "2", "-c:a", "aac",
                str(video)], "cut twoface.mp4")
    probe = folder / "probe"
    probe.mkdir()
    from syncnet.io.media import convert_video

    convert_video(video, probe / "video.avi")
    extract_frames(probe / "video.avi", probe, quality=2)
    n_frames = len(list(probe.glob("*.jpg")))
    faces = folder / "faces.json"
    faces.write_text(json.dumps(json.loads(twoface_faces_json.read_text())[:n_frames]))
    return video, faces, n_frames


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["wav2lip", "mocha"])
def test_face_track_protocols_on_twoface(protocol, twoface_cut, syncnet_weights, s3fd_weights, tmp_path):
    video, faces, n_frames = twoface_cut
    out = tmp_path / protocol
    run_command("run_pipeline.py", "--videofile", video, "--data_dir", out, "--reference", reference_for(video),
                "--faces", faces, "--min_track", "50", cwd=tmp_path)  # detections for --reuse_faces
    result = syncnet_eval(video, "--protocol", protocol, "--out", out, "--reuse_faces", "--initial_model",
                          syncnet_weights, "--s3fd_model", s3fd_weights, "--device", "cpu", "--workers", "1",
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tracks = per_track(out)
    spans = sorted((int(t["start_frame"]), int(t["end_frame"])) for t in tracks)
    # Shot 1 is frames 0..151 with two faces in every frame; shot 2 starts at 152 and holds
    # 9.6 s x 25 + 2 - 152 = 90 frames (the conversion repeats two frames), with two faces too.
    assert n_frames == 242
    if protocol == "wav2lip":
        assert spans == [(0, 151), (0, 151)]
        lines = (out / "scores.txt").read_text().splitlines()
        assert [line.split() for line in lines] == [[str(np.float32(t["lse_d"])), str(np.float32(t["lse_c"]))]
                                                    for t in tracks]
        dataset = json.loads((out / "dataset.json").read_text())
        assert dataset["unit"] == "track" and dataset["n"] == 2
        assert dataset["lse_c"]["mean"] == pytest.approx(np.mean([float(t["lse_c"]) for t in tracks]))
    else:
        last = max(end for _, end in spans)
        assert spans == [(0, 151), (0, 151), (152, last), (152, last)] and 152 + 50 < last < 152 + 100
        (row,) = per_video(out).values()
        assert float(row["lse_c"]) == max(float(t["lse_c"]) for t in tracks)
        assert float(row["lse_d"]) == min(float(t["lse_d"]) for t in tracks)
        assert not (out / "scores.txt").exists()
    assert json.loads((out / "dataset.json").read_text())["options"]["min_track"] == \
        (100 if protocol == "wav2lip" else 50)


def test_no_video_scored_is_one_line(tmp_path, syncnet_weights, s3fd_weights):
    short = make_clip(tmp_path / "short.mp4", seconds=0.8)  # a test pattern: no face for S3FD
    result = syncnet_eval(short, "--protocol", "mocha", "--out", tmp_path / "out", "--initial_model",
                          syncnet_weights, "--s3fd_model", s3fd_weights, "--device", "cpu", "--workers", "1",
                          cwd=tmp_path)
    assert_refused(result, "no video was scored", "1 excluded (no faces detected)", "protocol mocha")
    row = per_video(tmp_path / "out")["short.mp4"]
    assert (row["status"], row["reason"]) == ("excluded", "no faces detected")


def _evaluation(folder, protocol, rows):
    folder.mkdir()
    (folder / "dataset.json").write_text(json.dumps({"protocol": protocol}))
    with open(folder / "per_video.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "status", "reason", "n_tracks", "lse_d", "lse_c", "offset"])
        writer.writerows(rows)
    return folder


def test_compare_pairs_videos_and_refuses_other_protocols(tmp_path):
    a = _evaluation(tmp_path / "a", "mocha", [["/x/v1.mp4", "scored", "", 1, 8.0, 2.0, 0],
                                               ["/x/v2.mp4", "scored", "", 2, 7.0, 4.0, 1],
                                               ["/x/v3.mp4", "excluded", "no face track", 0, "", "", ""]])
    b = _evaluation(tmp_path / "b", "mocha", [["/y/v1.mp4", "scored", "", 1, 7.5, 3.0, 0],
                                               ["/y/v2.mp4", "scored", "", 1, 6.0, 6.0, 0],
                                               ["/y/v3.mp4", "scored", "", 1, 6.0, 6.0, 0]])
    result = syncnet_eval("--compare", a, b, "--out", tmp_path / "cmp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    # v1 and v2 pair: LSE-D differences -0.5 and -1.0 (mean -0.75); LSE-C +1 and +2 (mean +1.5).
    assert (compared["n_paired"], compared["n_only_a"], compared["n_only_b"]) == (2, 0, 1)
    assert compared["lse_d"]["mean_diff"] == pytest.approx(-0.75)
    assert compared["lse_c"]["mean_diff"] == pytest.approx(1.5)
    assert -1.0 <= compared["lse_d"]["ci95"][0] <= compared["lse_d"]["ci95"][1] <= -0.5
    assert result.stdout.strip() == ("B - A: LSE-D -0.750 [%+.2f, %+.2f]  LSE-C +1.500 [%+.2f, %+.2f]  n=2 paired "
                                     "(0 only in A, 1 only in B)  protocol mocha"
                                     % (*compared["lse_d"]["ci95"], *compared["lse_c"]["ci95"]))
    other = _evaluation(tmp_path / "c", "wav2lip", [["/y/v1.mp4", "scored", "", 1, 7.5, 3.0, ""]])
    assert_refused(syncnet_eval("--compare", a, other, cwd=tmp_path), "mocha", "wav2lip", "same protocol")
    assert_refused(syncnet_eval("--compare", a, tmp_path / "nowhere", cwd=tmp_path), "nowhere", "dataset.json")


def test_bad_command_lines_are_one_line(tmp_path):
    assert_refused(syncnet_eval(tmp_path, "--out", tmp_path / "o", cwd=tmp_path), "--protocol")
    assert_refused(syncnet_eval(tmp_path, "--protocol", "wav2lip", "--out", tmp_path / "o", "--min_track", "-3",
                                cwd=tmp_path), "--min_track -3")
    result = syncnet_eval("x.mp4", "--protocol", "latentsink", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice: 'latentsink'" in result.stderr

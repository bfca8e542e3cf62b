"""What several test modules share: where the shared data is, how commands are run, the docs'
shell examples, lavfi clips, evaluation folders, and independent oracles of the reference's
arithmetic and of the synthetic world's truth.

The oracles restate SPEC.md with numpy and scipy (the reference's own tools), never with the
project's code, so a test that compares against them can fail when the project is wrong.
"""
import contextlib
import csv
import importlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
import tomllib
from scipy import signal
from scipy.io import wavfile

from syncnet.io import media

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# SYNCNET_TEST_DEVICE=cuda runs the golden demo, feature, S3FD and pipeline tests on the GPU.
TEST_DEVICE = os.environ.get("SYNCNET_TEST_DEVICE", "cpu")

TWOFACE = "twoface"
# What the shared twoface run passes to run_syncnet beyond the reference's options: a forced
# shift for --write_synced (the stand-in weights' confidence, ~0.01, passes no --min_conf), and
# a threshold at which their near-zero per-frame confidences still name speakers.
TWOFACE_SYNC_OFFSET = 2
TWOFACE_SPEAKER_THRESHOLD = 0.0

# 224x224, the size of a face crop, so that demo_syncnet can score these clips too.
LAVFI_VIDEO = "testsrc2=size={size}:rate={rate}:duration={seconds}"
LAVFI_AUDIO = "sine=frequency=440:sample_rate={rate}:duration={seconds}"


def shared_dir():
    configured = os.environ.get("SYNCNET_SHARED")
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def need(path):
    """Return `path` if it exists; otherwise skip the test, or fail it under CI."""
    path = Path(path)
    if not path.exists():
        message = f"missing test data: {path} (set SYNCNET_SHARED to the shared folder)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_script(script, *args, cwd, check=True, timeout=900, **popen):
    """Run a top-level script in a subprocess; with `check`, it must succeed without a traceback."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), *map(str, args)],
                            cwd=cwd, capture_output=True, text=True, timeout=timeout, **popen)
    if check:
        assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
    return result


# Each command by the name the tests run it under, and the main(argv) it runs: the one place that
# knows where a command's code lives.
COMMANDS = {
    "demo_syncnet.py": "syncnet.cli.demo:main",
    "demo_feature.py": "syncnet.cli.feature:main",
    "run_pipeline.py": "syncnet.cli.pipeline:main",
    "run_syncnet.py": "syncnet.cli.score:main",
    "run_visualise.py": "syncnet.cli.visualise:main",
    "syncnet.batch": "syncnet.cli.batch:main",
    "syncnet.eval": "syncnet.cli.eval:main",
    "syncnet.train": "syncnet.cli.train:main",
    "syncnet.monitor": "syncnet.cli.monitor:main",
    "syncnet.cli.scan": "syncnet.cli.scan:main",
}


def run_command(name, *args, cwd=None, check=True):
    """Run the command `name` (a key of COMMANDS) in this process, as `python SCRIPT` or `python -m
    MODULE` runs it in a fresh one (run_script, subprocess.run): its main() with that command line in
    sys.argv (so its messages carry the name a user types), in the folder `cwd`. A
    CompletedProcess: its exit status (SystemExit's code; an exception that escapes main() is status
    1 with the traceback on stderr, as an interpreter reports it), and what it printed. With
    `check`, it must succeed without a traceback."""
    module, function = COMMANDS[name].split(":")
    argv = [str(REPO_ROOT / name) if name.endswith(".py") else f"{name.replace('.', '/')}/__main__.py",
            *map(str, args)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(stdout))
        stack.enter_context(contextlib.redirect_stderr(stderr))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        saved_argv, sys.argv = sys.argv, argv
        try:
            returncode = getattr(importlib.import_module(module), function)() or 0
        except SystemExit as stop:
            returncode = stop.code or 0
            if not isinstance(returncode, int):  # sys.exit("message"): printed, and status 1
                print(returncode, file=sys.stderr)
                returncode = 1
        except Exception:
            returncode = 1
            traceback.print_exc()
        finally:
            sys.argv = saved_argv
    result = subprocess.CompletedProcess(argv, returncode, stdout.getvalue(), stderr.getvalue())
    if check:
        assert result.returncode == 0, f"{name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
    return result


# The README and the docs' pages, and their ```bash blocks; a block right after the line
# `<!-- docs-test: run -->` is marked to be run as written.
DOC_PAGES = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")])
_BASH_FENCE = re.compile(r"(?P<mark><!-- docs-test: run -->\n)?```bash\n(?P<body>.*?)^\s*```", re.S | re.M)


def bash_blocks(marked_only=False):
    """(page, block text) of every ```bash block, indented ones (in lists) too."""
    for page in DOC_PAGES:
        for match in _BASH_FENCE.finditer(page.read_text(encoding="utf-8")):
            if match["mark"] or not marked_only:
                body = "\n".join(line.strip() for line in match["body"].splitlines())
                yield page.relative_to(REPO_ROOT), body


def make_clip(path, seconds=2.0, fps=25, audio_rate=16000, channels=1, video=True, audio=True, size="224x224",
              extra=()):
    """A lavfi test pattern with a sine tone, through the project's ffmpeg."""
    args = []
    if video:
        args += ["-f", "lavfi", "-i", LAVFI_VIDEO.format(size=size, rate=fps, seconds=seconds)]
    if audio:
        args += ["-f", "lavfi", "-i", LAVFI_AUDIO.format(rate=audio_rate, seconds=seconds)]
    if video:
        args += ["-c:v", "mpeg4", "-q:v", "5"]
    if audio:
        args += ["-c:a", "aac", "-ac", str(channels), "-ar", str(audio_rate)]
    media.run_ffmpeg([*args, *extra, str(path)], f"make the test clip {path}")
    return path


# An evaluation folder as syncnet-eval writes one: dataset.json and per_video.csv.
VIDEO_COLUMNS = ["video", "status", "reason", "n_tracks", "lse_d", "lse_c", "offset"]
GOOD_ROWS = [["/x/v1.mp4", "scored", "", "1", "8.0", "2.0", "0"], ["/x/v2.mp4", "scored", "", "2", "7.0", "4.0", "1"]]


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
    """GOOD_ROWS with one cell changed."""
    rows = [list(r) for r in GOOD_ROWS]
    rows[row][VIDEO_COLUMNS.index(column)] = value
    return rows


def reference_mfcc(samples):
    """The MFCC as the reference computed it: python_speech_features on the whole 16 kHz signal
    at once, one column per 10 ms."""
    import python_speech_features

    return python_speech_features.mfcc(samples, media.SAMPLE_RATE).T.astype(np.float32)


def reference_summary(dists, vshift=15):
    """SPEC.md step 6 in numpy: (offset, min dist, confidence) of an N x (2*vshift+1) array."""
    mean_dists = np.asarray(dists, dtype=np.float64).mean(axis=0)
    best = int(np.argmin(mean_dists))
    return vshift - best, float(mean_dists[best]), float(np.median(mean_dists) - mean_dists[best])


def reference_frame_confidence(dists):
    """run_visualise's per-frame confidence as SPEC.md states it, with scipy's medfilt."""
    from scipy.signal import medfilt

    dists = np.asarray(dists, dtype=np.float64)
    mean_dists = dists.mean(axis=0)
    best = int(np.argmin(mean_dists))
    padded = np.concatenate([[10.0] * 3, dists[:, best], [10.0] * 3])
    return medfilt(np.median(mean_dists) - padded, kernel_size=9)


def reference_speaking_score(dists, max_offset=4, vshift=15):
    """speakers.json's speaking score as docs/speakers.md states it, with scipy's medfilt: per
    window, the median distance over all offsets minus the distance at the best offset within
    +-max_offset (by the mean over windows); 3 zeros each side; a 9-frame median filter."""
    from scipy.signal import medfilt

    dists = np.asarray(dists, dtype=np.float64)
    near = list(range(vshift - max_offset, vshift + max_offset + 1))
    column = near[int(np.argmin(dists.mean(axis=0)[near]))]
    padded = np.concatenate([[0.0] * 3, np.median(dists, axis=1) - dists[:, column], [0.0] * 3])
    return medfilt(padded, kernel_size=9)


def speaking_frames_oracle(scores, threshold, release, min_frames):
    """Which frames a track speaks on, found another way than the library's frame-by-frame state:
    each maximal stretch above min(release, threshold) speaks from its first frame above the
    threshold to its end, if that holds at least min_frames frames."""
    release = min(release, threshold)
    speaking = [False] * len(scores)
    above = [value is not None and not np.isnan(value) and value > release for value in scores]
    for value, first, last in runs_of(above):
        if not value:
            continue
        starts = [i for i in range(first, last + 1) if scores[i] > threshold]
        if starts and last - starts[0] + 1 >= min_frames:
            speaking[starts[0]:last + 1] = [True] * (last - starts[0] + 1)
    return speaking


def runs_of(values):
    """[(value, first index, last index)] of the runs of equal, non-None values."""
    runs, position = [], 0
    for value, group in itertools.groupby(values):
        length = len(list(group))
        if value is not None:
            runs.append((value, position, position + length - 1))
        position += length
    return runs


def decoded_audio(video, tmp_path):
    """The audio of `video` at its own rate and channel count, as ffmpeg decodes it."""
    wav = tmp_path / f"{video.name}.wav"
    media.extract_audio(video, wav, resync=False, rate=None, channels=None)
    return wavfile.read(wav)


def video_packets(video, tmp_path):
    """Size and checksum of every video packet, read by stream copy (no decoding)."""
    listing = tmp_path / f"{video.name}.framemd5"
    media.run_ffmpeg(["-i", str(video), "-map", "0:v", "-c", "copy", "-f", "framemd5", str(listing)],
                     f"list the packets of {video}")
    return [line.split(",")[-2:] for line in listing.read_text().splitlines() if not line.startswith("#")]


def measured_lag(original, shifted):
    """Where the cross-correlation of the two signals peaks: positive = `shifted` is later."""
    correlation = signal.correlate(shifted.astype(float), original.astype(float), mode="full", method="fft")
    return int(np.argmax(correlation)) - (len(original) - 1)


def lag_at(reference, moved, centre, rate, half_s=0.5):
    """How many samples later `moved` carries what `reference` holds around `centre` (s)."""
    lo, hi = int((centre - half_s) * rate), int((centre + half_s) * rate)
    piece = reference[lo:hi].astype(float)
    search = moved[lo - rate // 2:hi + rate // 2].astype(float)
    correlation = signal.correlate(search, piece, mode="valid")
    return int(np.argmax(correlation)) - rate // 2


def assert_shifted_exactly(original, shifted, samples):
    assert shifted.shape == original.shape, "the copy keeps the original length"
    assert measured_lag(original, shifted) == samples
    if samples >= 0:
        np.testing.assert_array_equal(shifted[:samples], 0)
        np.testing.assert_array_equal(shifted[samples:], original[:len(original) - samples])
    else:
        np.testing.assert_array_equal(shifted[len(shifted) + samples:], 0)
        np.testing.assert_array_equal(shifted[:len(shifted) + samples], original[-samples:])


# The synthetic world's truth read back from its decoded files with numpy only, no SyncNet: the
# mouth opening (dark pixels) against the audio's loudness.
MOUTH_DARK = 35  # the drawn mouth's inside is darker than this in every channel, and nothing else is


def decoded_frames(path):
    """Every frame of `path`, decoded, as one N x H x W x 3 array."""
    from syncnet.io.frames import read_video

    return np.stack(list(read_video(path)))


def audio_loudness(path, tmp_path):
    """RMS of the decoded audio over each 40 ms video frame."""
    wav = tmp_path / "audio.wav"
    media.extract_audio(path, wav)
    _, samples = wavfile.read(wav)
    frames = len(samples) // 640
    return np.sqrt((samples[:frames * 640].astype(float).reshape(frames, 640) ** 2).mean(1))


def mouth_area(frames):
    """The drawn mouth's opening in each frame: its count of dark pixels."""
    return (frames.max(axis=-1) < MOUTH_DARK).sum(axis=(1, 2)).astype(float)


def best_lag(loudness, mouth, frames=None, lags=range(-15, 16)):
    """The lag L maximising the correlation of loudness[n] with mouth[n + L] over frames n (a
    range; default all those where both exist)."""
    def corr(lag):
        chosen = np.arange(len(loudness)) if frames is None else np.arange(*frames)
        chosen = chosen[(chosen + lag >= 0) & (chosen + lag < len(mouth)) & (chosen < len(loudness))]
        return np.corrcoef(loudness[chosen], mouth[chosen + lag])[0, 1]
    scores = {lag: corr(lag) for lag in lags}
    return max(scores, key=scores.get), scores


# The trained test model (conftest's `trained_syncnet`): the synthetic world's training recipe, a
# few minutes of CPU from scratch. Half the clips carry MP3-coded audio, as run_pipeline's crops
# do. The truth tests' thresholds were set against this recipe's model: keep it as it is.
TRAIN_CLIPS, TRAIN_SECONDS, VAL_CLIPS = 24, 4.0, 3
TRAIN_ARGS = {"max_steps": 120, "batch_size": 16, "lr": 5e-4, "max_negative_shift": 15, "val_items": 6,
              "val_every": 40}


def make_synthetic_training_set(root, clips=TRAIN_CLIPS, seconds=TRAIN_SECONDS, val=VAL_CLIPS):
    """In-sync synthetic face clips under root/train and root/val (seeds 1000+ and 2000+, never
    the seeds the truth tests score); every other clip through the MP3 round trip."""
    from syncnet.synthetic import make_face_clip

    for index in range(clips):
        make_face_clip(root / "train" / f"c{index:02d}.avi", seconds=seconds, seed=1000 + index, mp3=index % 2 == 1)
    for index in range(val):
        make_face_clip(root / "val" / f"v{index}.avi", seconds=3.0, seed=2000 + index, mp3=index % 2 == 1)
    return root / "train", root / "val"


def train_test_model(folder):
    """The recipe run into `folder`, and the model's path: the training run under folder/run keeps
    what the tests read (the model, train.json, metrics.csv, curves.png); the clips, their decoded
    cache and what only a --resume needs (over 500 MB) are removed."""
    import shutil

    from syncnet.train.checkpoints import CHECKPOINT_FILE, LAST_MODEL_FILE
    from syncnet.train.data import CACHE_FOLDER
    from syncnet.train.dispatch import train
    from syncnet.train.options import TrainOptions

    folder, run = Path(folder), Path(folder) / "run"
    train_dir, val_dir = make_synthetic_training_set(folder)
    result = train([train_dir], run, TrainOptions(**TRAIN_ARGS), val=[val_dir], device="cpu")
    for path in (train_dir, val_dir, run / CACHE_FOLDER):
        shutil.rmtree(path)
    for path in (run / CHECKPOINT_FILE, run / LAST_MODEL_FILE):
        path.unlink()
    return result.model


class mounted_tmpfs:
    """A small tmpfs at `path` for the test's duration: a full disk (`size`) or a read-only folder.

    Mounting needs root (as in CI); elsewhere the test is skipped, or failed under CI.
    """

    def __init__(self, path, size="1m", read_only=False):
        self.path, self.size, self.read_only = Path(path), size, read_only

    def __enter__(self):
        if os.geteuid() != 0:
            message = "mounting a tmpfs needs root"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.path.mkdir(parents=True, exist_ok=True)
        options = f"{'ro,' if self.read_only else ''}size={self.size}"
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)], check=True)
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", str(self.path)], check=True)


def wait_for_line(stream, *texts, timeout=120):
    """Read `stream` until every one of `texts` has appeared in a line; returns the lines read."""
    import time

    seen, missing = [], set(texts)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            raise AssertionError(f"the process ended before printing {missing}: {''.join(seen)[-2000:]}")
        seen.append(line)
        missing -= {text for text in missing if text in line}
        if not missing:
            return seen
    raise AssertionError(f"no {missing} within {timeout} s")


def assert_refused(result, *words):
    """A failed run: non-zero exit, no traceback, and one last line with `error` and every word."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "error" in message, result.stderr
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


def reference_evaluate(model, frames, wav, vshift=15, batch_size=20):
    """SPEC.md's demo evaluation, restated with the official network `model` (SyncNetModel.S,
    not the project's folded form), python_speech_features and torch's pairwise_distance:
    (offset, min dist, confidence) of BGR 224x224 `frames` and a 16 kHz mono wav."""
    import python_speech_features
    import torch

    rate, signal_ = wavfile.read(wav)
    assert rate == 16000
    mfcc = np.transpose(python_speech_features.mfcc(signal_, 16000))
    n_windows = min(len(frames), len(signal_) // 640) - 5
    video_features, audio_features = [], []
    with torch.no_grad():
        for first in range(0, n_windows, batch_size):
            windows = range(first, min(first + batch_size, n_windows))
            lips = torch.from_numpy(np.stack([np.stack(frames[i:i + 5], axis=3) for i in windows]).astype(np.float32))
            lips = lips.permute(0, 3, 4, 1, 2)  # N x 3 x 5 x H x W, channels BGR
            audio = torch.from_numpy(np.stack([mfcc[:, 4 * i:4 * i + 20] for i in windows]).astype(np.float32))
            video_features.append(model.forward_lip(lips))
            audio_features.append(model.forward_aud(audio.unsqueeze(1)))
    video_features, audio_features = torch.cat(video_features), torch.cat(audio_features)
    padded = torch.nn.functional.pad(audio_features, (0, 0, vshift, vshift))
    dists = torch.stack([torch.nn.functional.pairwise_distance(video_features[[i] * (2 * vshift + 1)],
                                                               padded[i:i + 2 * vshift + 1])
                         for i in range(n_windows)])
    return reference_summary(dists.numpy(), vshift)

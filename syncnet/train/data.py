"""Training clips: found, decoded once exactly as the scorer decodes them, cached, and cut into
seeded batches of positive and negative (lip window, audio window) pairs.

A clip is decoded by syncnet.scoring.face_video.decode_face_video (the demo's frames and
audio.wav) and its MFCC computed by the scorer's StreamedMfcc, so a trained model sees at
training time exactly what it sees when scored: BGR 0..255 pixels and 13 x 20 MFCC patches.
"""
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from syncnet.errors import InputError, SyncNetError, describe_error
from syncnet.io import media
from syncnet.io.fileio import atomic_path
from syncnet.io.frames import read_images
from syncnet.io.inputs import VIDEO_EXTENSIONS, collect_videos
from syncnet.scoring.distances import FRAMES_PER_WINDOW, MFCC_PER_FRAME, MFCC_PER_WINDOW, StreamedMfcc, window_count
from syncnet.scoring.face_video import FACE_SIZE, decode_face_video
from syncnet.train.full_disk import DiskFullError, named_if_full

log = logging.getLogger(__name__)

CACHE_FOLDER = "cache"


def _inside(path, folder):
    """Whether `path` is `folder` or below it, links resolved (None: no folder)."""
    if folder is None:
        return False
    real = os.path.realpath(path)
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def find_clips(inputs=(), data_dir=None, exclude=None):
    """The face videos that DATA names: folders (searched recursively), list files, videos; and
    with `data_dir`, the face crops (pycrop/) of its run_pipeline runs. Nothing inside the
    folder `exclude` is taken: a run never reads what it writes (its --out)."""
    exclude = os.path.realpath(exclude) if exclude is not None else None
    items = [os.fspath(item) for item in inputs]
    if data_dir is not None:
        crops = os.path.join(data_dir, "pycrop")
        if not os.path.isdir(crops):
            raise InputError(f"--data_dir {data_dir}: has no pycrop/ folder (run run_pipeline.py with this "
                             "--data_dir first)")
        items.append(crops)
    if not items:
        raise InputError("no training data given: name folders of face clips, list files or videos, or "
                         "--data_dir")
    clips = []
    for item in items:
        if os.path.isdir(item):
            found = sorted(os.path.join(root, name) for root, _, names in _walk_outside(item, exclude)
                           for name in names if name.lower().endswith(VIDEO_EXTENSIONS))
            if not found:
                log.warning("%s: no video found in this folder", item)
            clips.extend(os.path.abspath(path) for path in found)
        else:
            clips.extend(collect_videos([item]))
    clips = list(dict.fromkeys(clips))
    written = [clip for clip in clips if _inside(clip, exclude)]
    if written:
        log.warning("%d clip(s) inside --out %s are not used (%s): a run never reads what it writes",
                    len(written), exclude, written[0])
        clips = [clip for clip in clips if clip not in written]
    if not clips:
        outside = f" outside --out {exclude}" if written or any(_inside(item, exclude) for item in items) else ""
        raise InputError(f"no clip found in {' '.join(map(str, items))}{outside}: give folders of 224x224 face "
                         "videos (run_pipeline's pycrop/), list files or videos")
    return clips


def _walk_outside(folder, exclude):
    """os.walk(folder), not entering `exclude`."""
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not _inside(os.path.join(root, name), exclude)]
        if not _inside(root, exclude):
            yield root, folders, names


@dataclass
class Clip:
    """One decoded clip: frames T x 224 x 224 x 3 BGR uint8 (memory-mapped), MFCC 13 x M float32."""
    path: str
    frames: np.ndarray
    mfcc: np.ndarray
    mfcc_mp3: Optional[np.ndarray] = None
    n_windows: int = 0


@dataclass
class ClipSet:
    clips: list
    skipped: dict = field(default_factory=dict)  # path -> reason

    @property
    def n_windows(self):
        return sum(clip.n_windows for clip in self.clips)


def _cache_key(path):
    status = os.stat(path)
    return hashlib.sha1(f"{path}\0{status.st_size}\0{status.st_mtime_ns}".encode()).hexdigest()[:20]


def _save_array(array, path):
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, array)


def _mfcc_of(wav_path):
    with media.MonoWav(wav_path) as wav:
        coefficients = StreamedMfcc(wav.read, wav.n_samples)
        return coefficients.columns(0, coefficients.n_columns), wav.n_samples


def _decode(path, stem, with_mp3):
    """Decode `path` into the cache files STEM.frames.npy, STEM.mfcc.npy (and STEM.mfcc_mp3.npy)."""
    with tempfile.TemporaryDirectory(prefix="syncnet-train-") as work, \
            named_if_full(f"decoding {path} into {os.path.dirname(stem)}",
                          "free some space there and in the temporary folder (or choose an --out on another "
                          "disk), then run again; no clip is to blame", work, os.path.dirname(stem)):
        frame_paths, wav_path = decode_face_video(path, work)
        frames = np.stack(list(read_images(frame_paths))) if frame_paths else np.zeros((0, 1, 1, 3), np.uint8)
        if frames.shape[1:3] != (FACE_SIZE, FACE_SIZE):
            raise InputError(f"frames are {frames.shape[2]}x{frames.shape[1]}, not {FACE_SIZE}x{FACE_SIZE} face "
                             "crops (crop full videos with run_pipeline.py first)")
        mfcc, n_samples = _mfcc_of(wav_path)
        if window_count(len(frames), n_samples) == 0:
            raise InputError(f"too short: {len(frames)} frames with {n_samples / media.SAMPLE_RATE:.2f} s of "
                             "audio give no 5-frame window")
        arrays = {"frames": frames, "mfcc": mfcc, "samples": np.array(n_samples)}
        if with_mp3:
            coded = os.path.join(work, "audio_mp3.wav")
            media.mp3_round_trip(wav_path, coded, work)
            arrays["mfcc_mp3"] = _mfcc_of(coded)[0]
        for name, array in arrays.items():
            _save_array(array, f"{stem}.{name}.npy")


def load_clip(path, cache_dir, with_mp3=False):
    """The Clip of `path`, decoded into `cache_dir` on first use. Raises SyncNetError or OSError
    for a clip that cannot be used."""
    media.require_audio_video(path)
    stem = os.path.join(cache_dir, _cache_key(path))
    names = ["frames", "mfcc", "samples"] + (["mfcc_mp3"] if with_mp3 else [])
    if not all(os.path.isfile(f"{stem}.{name}.npy") for name in names):
        _decode(path, stem, with_mp3)
    arrays = {name: np.load(f"{stem}.{name}.npy", mmap_mode="r") for name in names}
    n_windows = window_count(len(arrays["frames"]), int(arrays["samples"]))
    return Clip(path=path, frames=arrays["frames"], mfcc=np.asarray(arrays["mfcc"]),
                mfcc_mp3=np.asarray(arrays["mfcc_mp3"]) if with_mp3 else None, n_windows=n_windows)


def load_clips(paths, cache_dir, with_mp3=False, progress=None, stop=None):
    """A ClipSet of the usable clips; each unusable one is logged in one line and counted.
    `stop` (a threading.Event) set ends the work with KeyboardInterrupt."""
    os.makedirs(cache_dir, exist_ok=True)
    clips, skipped = [], {}
    for path in paths:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        try:
            clips.append(load_clip(path, cache_dir, with_mp3))
        except DiskFullError:
            raise  # the run stops: no clip is to blame
        except (SyncNetError, OSError) as error:
            reason = describe_error(error).replace(f"{path}: ", "")
            log.warning("skipped %s: %s", path, reason)
            skipped[path] = reason
        if progress is not None:
            progress.update(1)
    return ClipSet(clips=clips, skipped=skipped)


def split_clips(paths, val_share, seed):
    """(training, validation) paths: a seeded share of whole clips held out (never windows of a
    clip on both sides); at least one clip on each side when there are two or more."""
    if val_share == 0 or len(paths) < 2:
        return list(paths), []
    order = np.random.default_rng([seed, 7]).permutation(len(paths))
    count = min(max(1, int(round(val_share * len(paths)))), len(paths) - 1)
    held = set(order[:count].tolist())
    return ([p for i, p in enumerate(paths) if i not in held], [p for i, p in enumerate(paths) if i in held])


class PairBatches(torch.utils.data.Dataset):
    """Item `step` is this process's share of step `step`'s batch, the same whatever the number
    of processes: seeded by (seed, step), so a resumed run draws what the first run would have.

    Each lip window comes with its aligned audio (the positive) and `negatives` audio windows
    that are not: the same clip's audio shifted by more than min_negative_shift frames, or
    (other_clip_share of them, and whenever the clip is too short for a shift) another clip's.
    """

    def __init__(self, clips, options, rank=0, world_size=1, steps=None):
        if len(clips) < 2 and not any(self._shift_choices(c, 0, options).size for c in clips):
            raise InputError("one clip too short for a negative shift beyond --min_negative_shift: give more clips "
                             "or longer ones")
        self.clips = clips
        self.options = options
        self.rank, self.world_size = rank, world_size
        self.steps = steps
        self.weights = np.array([clip.n_windows for clip in clips], float)
        self.weights /= self.weights.sum()

    def __len__(self):
        return self.steps

    @staticmethod
    def _shift_choices(clip, index, options):
        candidates = np.arange(clip.n_windows)
        distance = np.abs(candidates - index)
        return candidates[(distance > options.min_negative_shift) & (distance <= options.max_negative_shift)]

    def __getitem__(self, step):
        options = self.options
        rng = np.random.default_rng([options.seed, step])
        lips, positives, negatives = [], [], []
        for item in range(options.batch_size):
            # Every draw happens for every item, so the batch does not depend on the process count.
            picked = self._draw(rng)
            if item % self.world_size == self.rank:
                lips.append(picked[0])
                positives.append(picked[1])
                negatives.append(picked[2])
        return (torch.from_numpy(np.stack(lips)), torch.from_numpy(np.stack(positives)),
                torch.from_numpy(np.stack(negatives)))

    def _draw(self, rng):
        options = self.options
        clip_index = int(rng.choice(len(self.clips), p=self.weights))
        clip = self.clips[clip_index]
        window = int(rng.integers(clip.n_windows))
        use_mp3 = clip.mfcc_mp3 is not None and rng.random() < options.mp3_share
        lip = self._augmented(clip.frames[window:window + FRAMES_PER_WINDOW], rng)
        positive = _audio_window(clip, window, use_mp3)
        shifts = self._shift_choices(clip, window, options)
        negatives = []
        for _ in range(options.negatives):
            other = rng.random() < options.other_clip_share or not shifts.size
            if other and len(self.clips) > 1:
                choice = int(rng.integers(len(self.clips) - 1))
                partner = self.clips[choice + (choice >= clip_index)]
                negatives.append(_audio_window(partner, int(rng.integers(partner.n_windows)), use_mp3))
            else:
                negatives.append(_audio_window(clip, int(rng.choice(shifts)), use_mp3))
        return lip, positive, np.stack(negatives)

    def _augmented(self, frames, rng):
        """5 x H x W x 3 uint8 frames as the network's 3 x 5 x H x W float32 input (BGR 0..255),
        shifted by a few pixels and brightened or darkened."""
        options = self.options
        frames = np.asarray(frames, dtype=np.float32)
        if options.crop_shift:
            pad = options.crop_shift
            dx, dy = rng.integers(-pad, pad + 1, size=2)
            padded = np.pad(frames, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
            frames = padded[:, pad + dy:pad + dy + FACE_SIZE, pad + dx:pad + dx + FACE_SIZE]
        if options.brightness:
            frames = np.clip(frames * rng.uniform(1 - options.brightness, 1 + options.brightness), 0, 255)
        return np.ascontiguousarray(frames.transpose(3, 0, 1, 2))


def _audio_window(clip, window, use_mp3):
    """1 x 13 x 20 MFCC of window `window`: columns 4w..4w+19, as the scorer pairs them."""
    mfcc = clip.mfcc_mp3 if use_mp3 else clip.mfcc
    start = window * MFCC_PER_FRAME
    patch = mfcc[:, start:start + MFCC_PER_WINDOW]
    if patch.shape[1] < MFCC_PER_WINDOW:  # the MP3's decoded length can be a few samples short
        patch = np.pad(patch, ((0, 0), (0, MFCC_PER_WINDOW - patch.shape[1])), mode="edge")
    return np.ascontiguousarray(patch[None])


"""SyncNet on one face video (the demo's evaluation), and its lip features.

The frames go through ffmpeg's JPEG round trip, as the reference's published numbers do, and
stream through the network in batches with the matching MFCC spans, so memory does not grow
with the video's length.
"""
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from syncnet.errors import InputError, TooShortError
from syncnet.io import media
from syncnet.io.frames import frame_files, read_image, read_images, read_video
from syncnet.options import ScoringOptions
from syncnet.runtime.progress import progress_bar
from syncnet.scoring.distances import (
    ShiftedDistances,
    StreamedMfcc,
    SyncSummary,
    audio_batch,
    lip_batches,
    summarise,
    window_columns,
    window_count,
    window_energy,
)

log = logging.getLogger(__name__)

FACE_SIZE = 224


@dataclass(frozen=True)
class FaceVideoScore:
    """What SyncNet finds in one face video."""
    video: str
    summary: SyncSummary        # offset, min_dist (LSE-D), confidence (LSE-C), mean and framewise curves
    dists: np.ndarray           # windows x (2*vshift+1) distances
    n_frames: int               # 25 fps frames decoded
    audio_seconds: float
    seconds: float              # compute time, from extraction to the last distance
    window_energy: np.ndarray = None  # per window: mean log energy of its audio (MFCC's energy term)
    # Sync over time: a syncnet.timeline.Timeline, which the orchestrator adds from dists and
    # window_energy when it is asked for (scoring does not depend on the timeline).
    timeline: Any = None

    @property
    def lengths_differ(self):
        """Whether the audio and the 25 fps frames last differently (the reference warns then)."""
        return self.audio_seconds != self.n_frames / media.FRAME_RATE


def _check_face_size(image, videofile, resize):
    if resize or image is None or image.shape[:2] == (FACE_SIZE, FACE_SIZE):
        return
    raise InputError(f"{videofile}: frames are {image.shape[1]}x{image.shape[0]}, but SyncNet scores "
                     f"{FACE_SIZE}x{FACE_SIZE} face crops: run run_pipeline.py on a full video "
                     f"(or pass --resize to resize every frame)")


def _resized(images, resize):
    """Frames as the network takes them: as they are, or resized to 224x224 with cv2.resize's
    default interpolation (bilinear), as Wav2Lip's LRS evaluation does."""
    import cv2

    for image in images:
        if resize and image.shape[:2] != (FACE_SIZE, FACE_SIZE):
            image = cv2.resize(image, (FACE_SIZE, FACE_SIZE))
        yield image


def decode_face_video(videofile, work_dir, probed=None):
    """The frames (JPEG files, in order) and 16 kHz mono audio.wav in `work_dir` of a face video,
    as the demo decodes it: every input the scorer and the trainer read comes through here."""
    info, alignment = probed or media.require_scorable(videofile)
    # A 25 fps input is decoded exactly as the reference did; others are resampled to 25 fps.
    resample = None if info.fps == media.FRAME_RATE else media.FRAME_RATE
    if resample:
        log.info("%s is %.3g fps: resampling its frames to 25 fps", videofile, info.fps)
    media.extract_frames(videofile, work_dir, frame_rate=resample, alignment=alignment)
    wav_path = os.path.join(work_dir, "audio.wav")
    media.extract_audio(videofile, wav_path, alignment=alignment)
    return frame_files(work_dir), wav_path


def checked_window_count(videofile, n_frames, n_samples, vshift):
    """The windows to score, or TooShortError when there are none, or too few for `vshift`."""
    n_windows = window_count(n_frames, n_samples)
    if n_windows == 0:
        raise TooShortError(f"{videofile}: too short to score: SyncNet needs at least 6 frames with audio "
                            f"(found {n_frames} frames, {n_samples / media.SAMPLE_RATE:.2f} s of audio)")
    if vshift >= n_windows:
        raise TooShortError(f"--vshift {vshift}: {videofile} has {n_windows} windows, so offsets "
                            f"beyond {n_windows - 1} frames compare nothing; use --vshift {n_windows - 1} "
                            "or less")
    return n_windows


@torch.inference_mode()
def score_face_video(network, videofile, work_dir, options=ScoringOptions(), *, resize=False, quiet=True,
                     probed=None):
    """Offset, LSE-D and LSE-C of one face video, as the reference demo computes them.

    `network` is a loaded syncnet.models.inference.InferenceSyncNet; `work_dir` an empty folder the
    caller owns, for the extracted frames and audio. `resize` scores a video of any frame size
    by resizing each frame to 224x224 instead of refusing it. `probed` is media.require_scorable's
    answer for the video, when the caller has it already.
    """
    started = time.time()
    frame_paths, wav_path = decode_face_video(videofile, work_dir, probed)
    if frame_paths:
        _check_face_size(read_image(frame_paths[0]), videofile, resize)
    with media.MonoWav(wav_path) as wav:
        audio_seconds = wav.n_samples / media.SAMPLE_RATE
        n_windows = checked_window_count(videofile, len(frame_paths), wav.n_samples, options.vshift)
        frames = _resized(read_images(frame_paths), resize)
        dists, energy = _distances(network, frames, StreamedMfcc(wav.read, wav.n_samples), n_windows, options,
                                   quiet)
    return FaceVideoScore(video=os.fspath(videofile), summary=summarise(dists, options.vshift), dists=dists,
                          n_frames=len(frame_paths), audio_seconds=audio_seconds,
                          seconds=time.time() - started, window_energy=energy)


@torch.inference_mode()
def score_face_frames(network, frames, audio, options=ScoringOptions(), *, name="face frames"):
    """score_face_video for a face already in memory: `frames` a sequence of 224x224 BGR uint8
    crops (the network's input) at 25 fps, `audio` their int16 16 kHz mono samples (640 a frame,
    from the first frame's start). The same windows, distances and FaceVideoScore; `name`
    stands for the video in messages and in the score."""
    started = time.time()
    samples = np.asarray(audio, dtype=np.int16)
    if len(frames):
        _check_face_size(frames[0], name, resize=False)
    n_windows = checked_window_count(name, len(frames), len(samples), options.vshift)

    def read(start, stop):
        return samples[max(start, 0):stop]

    dists, energy = _distances(network, iter(frames), StreamedMfcc(read, len(samples)), n_windows, options,
                               quiet=True)
    return FaceVideoScore(video=name, summary=summarise(dists, options.vshift), dists=dists, n_frames=len(frames),
                          audio_seconds=len(samples) / media.SAMPLE_RATE, seconds=time.time() - started,
                          window_energy=energy)


def _distances(network, frames, coefficients, n_windows, options, quiet):
    """Window by window, batch by batch: frames, their MFCC span, both networks; the distances and
    each window's audio energy (the mean of its MFCC's first row, which is log energy)."""
    distances = ShiftedDistances(options.vshift)
    energy = []
    with progress_bar(n_windows, "scoring windows", "window", quiet) as bar:
        for first, lips in lip_batches(frames, options.batch_size, n_windows):
            span = coefficients.columns(*window_columns(first, len(lips)))
            lip_feats = network.forward_lip(lips.to(network.device))
            aud_feats = network.forward_aud(audio_batch(span).to(network.device))
            distances.add(lip_feats.float().cpu(), aud_feats.float().cpu())
            energy.append(window_energy(span))
            bar.update(len(lips))
    return distances.finish(), np.concatenate(energy)


@torch.inference_mode()
def lip_features(network, videofile, batch_size=ScoringOptions.batch_size):
    """512-d lip features of every 5-frame window, read straight from the video: (T-4) x 512."""
    if not os.path.isfile(videofile):
        raise InputError(f"video file not found: {videofile}")

    def checked(frames):
        for index, image in enumerate(frames):
            if index == 0:
                _check_face_size(image, videofile, resize=False)
            yield image

    features = [network.forward_lipfeat(lips.to(network.device)).float().cpu()
                for _, lips in lip_batches(checked(read_video(videofile)), batch_size)]
    if not features:
        raise InputError(f"{videofile}: no 5-frame window could be read from this video")
    return torch.cat(features)

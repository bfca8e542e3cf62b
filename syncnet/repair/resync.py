"""Repair a lag: write a copy of a video whose audio is moved by a whole number of video frames.

Offsets follow SyncNet's sign: positive = the audio is early, so it is delayed. The video
stream is copied packet for packet. The audio is decoded at its own sample rate, moved by
exactly offset * rate / 25 samples, and padded with silence or trimmed at the ends, so the copy
keeps the original length.
"""
import math
import numbers
import os
import tempfile

import numpy as np

from syncnet.errors import InputError
from syncnet.io import media
from syncnet.io.fileio import atomic_path, check_output_files
from syncnet.options import OutputOptions

# The audio codec of the copy, by container: PCM keeps every sample exact; MP4 takes AAC.
AUDIO_CODECS = {".avi": "pcm_s16le", ".mov": "pcm_s16le", ".mkv": "pcm_s16le",
                ".mp4": "aac", ".m4v": "aac"}


def audio_codec_for(target):
    """The audio codec for the container named by `target`'s extension; refuses others."""
    extension = os.path.splitext(os.fspath(target))[1].lower()
    if extension not in AUDIO_CODECS:
        raise InputError(f"{target}: the synced copy must be .avi, .mov or .mkv (PCM audio, "
                         "sample-exact) or .mp4/.m4v (AAC audio)")
    return AUDIO_CODECS[extension]


def shift_samples(samples, shift):
    """`samples` moved `shift` places later along axis 0 (earlier when negative), zero-filled, same length."""
    shifted = np.zeros_like(samples)
    kept = max(len(samples) - abs(shift), 0)
    if shift >= 0:
        shifted[shift:shift + kept] = samples[:kept]
    else:
        shifted[:kept] = samples[-shift:-shift + kept]
    return shifted


def samples_for_offset(offset, rate):
    """An offset in 25 fps video frames as a number of audio samples at `rate` (640 per frame at 16 kHz)."""
    return round(offset * rate / media.FRAME_RATE)


def rewrite_audio(video, target, change):
    """Copy `video` to `target` with its audio replaced by `change(samples, rate)` (same length);
    the video stream is copied packet for packet. Returns the audio's sample rate."""
    codec = audio_codec_for(target)
    check_output_files({"the synced copy": target}, [video])
    with tempfile.TemporaryDirectory(prefix="syncnet-resync-") as work:
        decoded = os.path.join(work, "decoded.wav")
        media.extract_audio(video, decoded, resync=False, rate=None, channels=None)
        # Imported here, not at the top: any channel layout needs scipy's reader, and scoring
        # runs that import this module for its checks should not pay scipy.io's start-up.
        from scipy.io import wavfile

        rate, samples = wavfile.read(decoded)
        changed = os.path.join(work, "changed.wav")
        wavfile.write(changed, rate, change(samples, rate))
        with atomic_path(target) as temporary:
            media.mux(video, changed, temporary, audio_codec=codec)
    return rate


def check_offset(offset, n_frames):
    """Refuse a shift of `offset` frames that moves all of a clip of `n_frames` frames out of it
    (a copy of nothing but silence); None (no offset given) passes."""
    if offset is None:
        return
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        raise InputError(f"--offset {offset!r}: expected a whole number of frames")
    if n_frames and abs(offset) >= n_frames:
        raise InputError(f"--offset {offset}: the clip has only {n_frames} frames, so the copy would be silence; "
                         f"expected -{n_frames - 1}..{n_frames - 1}")


def write_synced(video, target, offset):
    """Copy `video` to `target`, its audio delayed by `offset` frames; returns (shift in samples, rate)."""
    shifts = []

    def shifted(samples, rate):
        check_offset(offset, math.ceil(len(samples) * media.FRAME_RATE / rate))
        shifts.append(samples_for_offset(offset, rate))
        return shift_samples(samples, shifts[0])

    rate = rewrite_audio(video, target, shifted)
    return shifts[0], rate


class RepairRefused(InputError):
    """The scores give no repair to trust; `reason` says why in a few words. The scores
    themselves stand: a command has written them before it refuses."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


class NoConsensus(RepairRefused):
    """The tracks give no offset to trust."""


def consensus_offset(tracks, min_conf=OutputOptions.min_conf):
    """The confidence-weighted mean offset of the tracks with confidence >= min_conf, rounded.

    `tracks` are TrackResults (file, offset, confidence). Refuses with NoConsensus when no
    track passes, or when the passing tracks disagree by more than one frame.
    """
    scored = [track for track in tracks if track.scored]
    passing = [track for track in scored if track.confidence >= min_conf]
    if not passing:
        best = max(scored, key=lambda track: track.confidence, default=None)
        found = (f"the most confident, {best.file}, has {best.confidence:.3f}" if best
                 else "there are no scored face tracks")
        raise NoConsensus(f"no track has confidence >= --min_conf {min_conf:g} ({found}), so the offset "
                          "is too uncertain to repair; pass --offset N if you know the lag",
                          f"no track has confidence >= {min_conf:g}")
    offsets = [track.offset for track in passing]
    if max(offsets) - min(offsets) > 1:
        listing = ", ".join(f"{track.file} {track.offset:+d} (conf {track.confidence:.2f})" for track in passing)
        raise NoConsensus(f"the confident tracks disagree by more than one frame ({listing}); "
                          "pass --offset N to choose the shift", "the confident tracks disagree on the offset")
    total = sum(track.confidence for track in passing)
    if total == 0:  # --min_conf 0 lets tracks of confidence 0 vote: they weigh alike
        mean = sum(track.offset for track in passing) / len(passing)
    else:
        mean = sum(track.confidence * track.offset for track in passing) / total
    return math.floor(mean + 0.5)  # halves round up, the same way for negative offsets

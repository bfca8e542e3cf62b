"""Every call to ffmpeg goes through here, always as an argument list, never through a shell."""
import functools
import os
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass

import numpy as np

from .errors import InputError, MediaError

FRAME_RATE = 25
SAMPLE_RATE = 16000


@functools.lru_cache(maxsize=1)
def ffmpeg_exe():
    """ffmpeg on PATH, else the static binary that the imageio-ffmpeg wheel carries."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MediaError("ffmpeg not found: install it, or `pip install imageio-ffmpeg`") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _file_arg(path):
    # Absolute paths cannot be read as options ("-x.mp4") or protocols ("a:b.mp4").
    return os.path.abspath(os.fspath(path))


def run_ffmpeg(args, what):
    """Run ffmpeg with `args`; on failure raise MediaError with `what` and ffmpeg's last words."""
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise MediaError(f"ffmpeg could not {what}: {_last_lines(result.stderr)}")


def _last_lines(stderr, count=2):
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "no message"


@dataclass(frozen=True)
class MediaInfo:
    has_video: bool
    has_audio: bool
    fps: float  # the video stream's nominal rate, 0 when unknown or absent


def probe(path):
    """What streams `path` has, read from ffmpeg's description of the input.

    Raises MediaError naming the file when ffmpeg cannot read it as media at all.
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", _file_arg(path)]
    text = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE).stderr.decode("utf-8", "replace")
    streams = [line for line in text.splitlines() if re.match(r"\s*Stream #", line)]
    if not streams:
        reason = [line for line in text.splitlines()
                  if line.strip() and "At least one output file" not in line]
        raise MediaError(f"{path}: not a media file ffmpeg can read "
                         f"({reason[-1].strip() if reason else 'no streams'})")
    video = [line for line in streams if ": Video:" in line and "attached pic" not in line]
    fps = 0.0
    if video:
        match = re.search(r"([\d.]+) (fps|tbr)", video[0])
        fps = float(match.group(1)) if match else 0.0
    return MediaInfo(has_video=bool(video), has_audio=any(": Audio:" in line for line in streams), fps=fps)


def require_audio_video(path):
    """Refuse, by name, a file that is missing, empty, unreadable, or lacks a video or an audio stream."""
    if not os.path.exists(path):
        raise InputError(f"video file not found: {path}")
    if not os.path.isfile(path):
        raise InputError(f"not a file: {path}")
    if os.path.getsize(path) == 0:
        raise MediaError(f"{path}: the file is empty")
    info = probe(path)
    if not info.has_video:
        raise MediaError(f"{path}: has no video stream (SyncNet needs a face video with audio)")
    if not info.has_audio:
        raise MediaError(f"{path}: has no audio stream (SyncNet needs a face video with audio)")
    return info


def extract_frames(video, frames_dir, quality=None, frame_rate=None):
    """Decode every frame to frames_dir/%06d.jpg, the JPEG round trip the reference's numbers include.

    frame_rate resamples the frames (for inputs that are not already 25 fps).
    """
    quality_args = ["-qscale:v", str(quality)] if quality is not None else []
    rate_args = ["-r", str(frame_rate)] if frame_rate is not None else []
    run_ffmpeg(["-i", _file_arg(video), *quality_args, *rate_args, "-threads", "1", "-f", "image2",
                os.path.join(_file_arg(frames_dir), "%06d.jpg")],
               f"extract frames from {video}")


def extract_audio(video, wav, resync=True, rate=SAMPLE_RATE, channels=1):
    """Write the audio as 16-bit PCM, by default 16 kHz mono; rate/channels None keep the source's."""
    resync_args = ["-async", "1"] if resync else []
    channel_args = ["-ac", str(channels)] if channels is not None else []
    rate_args = ["-ar", str(rate)] if rate is not None else []
    run_ffmpeg(["-i", _file_arg(video), *resync_args, *channel_args, "-vn", "-acodec", "pcm_s16le",
                *rate_args, _file_arg(wav)],
               f"extract the audio of {video} (does it have an audio stream?)")


class MonoWav:
    """A 16-bit mono PCM wav, as extract_audio writes by default, read a span of samples at a time.

    The standard library's wave reads it: scipy.io would add about 0.15 s to every start-up, and
    reading spans keeps memory flat however long the audio is.
    """

    def __init__(self, wav):
        try:
            self._handle = wave.open(os.fspath(wav), "rb")
        except (wave.Error, EOFError) as error:
            raise MediaError(f"{wav}: not a readable PCM wav file ({error})") from None
        if self._handle.getsampwidth() != 2 or self._handle.getnchannels() != 1:
            found = f"{8 * self._handle.getsampwidth()}-bit, {self._handle.getnchannels()} channel(s)"
            self._handle.close()
            raise MediaError(f"{wav}: expected 16-bit mono PCM audio, found {found}")
        self.n_samples = self._handle.getnframes()
        self.rate = self._handle.getframerate()

    def read(self, start, stop):
        """Samples start..stop-1 (clipped to the file) as int16."""
        start, stop = max(start, 0), min(stop, self.n_samples)
        if stop <= start:
            return np.zeros(0, dtype=np.int16)
        self._handle.setpos(start)
        return np.frombuffer(self._handle.readframes(stop - start), dtype="<i2").astype(np.int16)

    def close(self):
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def convert_video(source, target):
    """Re-encode to a 25 fps AVI, as run_pipeline's first step does."""
    run_ffmpeg(["-i", _file_arg(source), "-qscale:v", "2", "-async", "1", "-r", str(FRAME_RATE),
                _file_arg(target)],
               f"convert {source} to 25 fps")


def cut_audio(wav, start_s, end_s, target):
    """Cut [start_s, end_s) out of a wav; times are written with 3 decimals, as the reference did."""
    run_ffmpeg(["-i", _file_arg(wav), "-ss", "%.3f" % start_s, "-to", "%.3f" % end_s,
                _file_arg(target)],
               f"cut the audio of {wav}")


def mux(video, audio, target, audio_codec="copy"):
    """The video streams of `video`, copied untouched, with the audio of `audio` (copied, or encoded)."""
    run_ffmpeg(["-i", _file_arg(video), "-i", _file_arg(audio), "-map", "0:v", "-map", "1:a",
                "-c:v", "copy", "-c:a", audio_codec, _file_arg(target)],
               f"combine {video} with {audio}")

"""Every call to ffmpeg goes through here, always as an argument list, never through a shell."""
import functools
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from syncnet.errors import InputError, MediaError
from syncnet.io.fileio import atomic_path

log = logging.getLogger(__name__)

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
        raise MediaError(f"ffmpeg could not {what}: {_ffmpeg_reason(result)}")


# ffmpeg exits with 256 - errno; these are the failures a user can act on without its log.
_ERRNO_REASONS = {256 - 28: "the disk is full (no space left on the device)",
                  256 - 30: "the folder is on a read-only file system",
                  256 - 13: "permission denied"}


def _ffmpeg_reason(result):
    text = result.stderr.decode("utf-8", "replace")
    if result.returncode == 256 - 28 or "No space left on device" in text:
        return _ERRNO_REASONS[256 - 28]
    if result.returncode in _ERRNO_REASONS:
        return _ERRNO_REASONS[result.returncode]
    return _last_lines(result.stderr)


def _last_lines(stderr, count=2):
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "no message"


@dataclass(frozen=True)
class MediaInfo:
    has_video: bool
    has_audio: bool
    fps: float  # the video stream's nominal rate, 0 when unknown or absent
    width: int = 0  # the video's frame size, 0 when unknown
    height: int = 0
    duration_s: float = 0.0  # the container's duration, 0 when unknown


def probe(path):
    """What streams `path` has, read from ffmpeg's description of the input.

    Raises MediaError naming the file when ffmpeg cannot read it as media at all.
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", _file_arg(path)]
    text = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE).stderr.decode("utf-8", "replace")
    streams = [line for line in text.splitlines() if re.match(r"\s*Stream #", line)]
    if not streams:
        if re.search(r"^Input #", text, re.MULTILINE):
            raise MediaError(f"{path}: the file holds no audio or video stream (an empty recording?)")
        if "File exists" in text:  # what ffmpeg 9 says of a container whose only track is data
            raise MediaError(f"{path}: has no audio or video track ffmpeg can open (only data or timecode "
                             "tracks?)")
        reason = [line for line in text.splitlines()
                  if line.strip() and "At least one output file" not in line]
        raise MediaError(f"{path}: not a media file ffmpeg can read "
                         f"({reason[-1].strip() if reason else 'no streams'})")
    if all(": Data:" in line for line in streams):
        raise MediaError(f"{path}: has only data streams, no video or audio")
    video = [line for line in streams if ": Video:" in line and "attached pic" not in line]
    fps, width, height = 0.0, 0, 0
    if video:
        match = re.search(r"([\d.]+) (fps|tbr)", video[0])
        fps = float(match.group(1)) if match else 0.0
        size = re.search(r", (\d+)x(\d+)[ ,\[]", video[0] + " ")
        width, height = (int(size.group(1)), int(size.group(2))) if size else (0, 0)
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
    duration_s = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
                  if duration else 0.0)
    return MediaInfo(has_video=bool(video), has_audio=any(": Audio:" in line for line in streams), fps=fps,
                     width=width, height=height, duration_s=duration_s)


@dataclass(frozen=True)
class AudioAlignment:
    """Where a file's audio starts relative to its video, and the filters that put it on the
    video's timeline: a late start padded with silence, an early one trimmed."""
    gap: Fraction = Fraction(0)   # seconds from the first video frame to the first audio sample
    samples: int = 0              # |gap| in samples at the audio's own rate

    def video_filter(self):
        return ["-vf", "setpts=PTS-STARTPTS"] if self.samples else []

    def audio_filter(self):
        if not self.samples:
            return []
        if self.gap > 0:
            return ["-af", f"adelay={self.samples}S:all=1,asetpts=PTS-STARTPTS"]
        return ["-af", f"asetpts=PTS-STARTPTS,atrim=start_sample={self.samples},asetpts=PTS-STARTPTS"]


def stream_starts(path):
    """(video start, audio start, audio rate): when the first frame of each is presented, as
    Fractions of a second on ffmpeg's timeline, from decoding one frame of each (so edit lists
    and B-frame reordering are accounted for). A missing or undecodable stream gives None."""
    with tempfile.TemporaryDirectory(prefix="syncnet-starts-") as folder:
        video_crc, audio_crc = os.path.join(folder, "v.crc"), os.path.join(folder, "a.crc")
        command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", _file_arg(path),
                   "-map", "0:v:0?", "-frames:v", "1", "-enc_time_base:v", "1:90000", "-c:v", "rawvideo",
                   "-f", "framecrc", video_crc,
                   "-map", "0:a:0?", "-frames:a", "1", "-c:a", "pcm_s16le", "-f", "framecrc", audio_crc]
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        video, _ = _first_presentation(video_crc, "video")
        audio, rate = _first_presentation(audio_crc, "audio")
    return video, audio, rate


def _first_presentation(listing, media_type):
    """(start, sample rate) from a framecrc listing of one stream, or (None, None)."""
    try:
        with open(listing, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None, None
    # ffmpeg fills an output whose optional -map matched nothing with another stream: check the type.
    if f"#media_type 0: {media_type}" not in lines:
        return None, None
    base = rate = None
    for line in lines:
        if line.startswith("#tb 0:"):
            numerator, denominator = line.split(":", 1)[1].strip().split("/")
            base = Fraction(int(numerator), int(denominator))
        elif line.startswith("#sample_rate 0:"):
            rate = int(line.split(":", 1)[1])
        elif line.startswith("0,") and base is not None:
            return int(line.split(",")[2]) * base, rate
    return None, None


def audio_alignment(path, video, audio, rate):
    """How far `path`'s audio is from its video, given their starts (stream_starts); nothing to
    do (today's exact commands) when both start together."""
    if video is None or audio is None or not rate:
        return AudioAlignment()
    gap = audio - video
    samples = round(abs(gap) * rate)
    if samples == 0:
        return AudioAlignment()
    way = "after" if gap > 0 else "before"
    log.info("%s: its audio starts %.3f s %s its video; %s to align it", path, abs(float(gap)), way,
             "padded with silence" if gap > 0 else "trimmed")
    return AudioAlignment(gap=gap, samples=samples)


def require_audio_video(path):
    """Refuse, by name, a file that is missing, empty, unreadable, or lacks a video or an audio stream."""
    if "\0" in os.fspath(path):
        raise InputError(f"not a usable file name (it contains a NUL byte): {os.fspath(path)!r}")
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


def require_scorable(path):
    """require_audio_video, plus a decodable first frame and the audio's alignment: (MediaInfo,
    AudioAlignment)."""
    info = require_audio_video(path)
    video, audio, rate = stream_starts(path)
    if video is None:
        raise MediaError(f"{path}: its video stream has no frame ffmpeg can decode (a zero-frame or "
                         "damaged video)")
    return info, audio_alignment(path, video, audio, rate)


def require_face_sized(path, info, facedet_scale, min_input_side):
    """Refuse frames too small to hold a face that the detector can find at `facedet_scale`: it
    searches images of at least `min_input_side` pixels a side."""
    side = min(info.width, info.height)
    if info.width and round(side * facedet_scale) < min_input_side:
        needed = math.ceil((min_input_side - 0.5) / facedet_scale)
        raise InputError(f"{path}: frames are {info.width}x{info.height}, too small to hold a face the "
                         f"detector can find at --facedet_scale {facedet_scale:g} (it needs frames of at "
                         f"least {int(needed)} pixels a side; raise --facedet_scale for small frames)")


def check_video_written(path, n_frames):
    """Refuse a video that OpenCV wrote short: its writer drops frames silently when the disk fills."""
    import cv2

    capture = cv2.VideoCapture(os.fspath(path))
    written = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    if written != n_frames:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
        why = "the disk is full" if free < (1 << 20) else "the write failed"
        raise MediaError(f"could not write {path}: {written} of {n_frames} frames were written ({why})")


def extract_frames(video, frames_dir, quality=None, frame_rate=None, alignment=AudioAlignment()):
    """Decode every frame to frames_dir/%06d.jpg, the JPEG round trip the reference's numbers include.

    frame_rate resamples the frames (for inputs that are not already 25 fps); `alignment` is the
    one its audio gets.
    """
    quality_args = ["-qscale:v", str(quality)] if quality is not None else []
    rate_args = ["-r", str(frame_rate)] if frame_rate is not None else []
    run_ffmpeg(["-i", _file_arg(video), *alignment.video_filter(), *quality_args, *rate_args, "-threads", "1",
                "-f", "image2",
                os.path.join(_file_arg(frames_dir), "%06d.jpg")],
               f"extract frames from {video}")


def extract_audio(video, wav, resync=True, rate=SAMPLE_RATE, channels=1, alignment=AudioAlignment()):
    """Write the audio as 16-bit PCM, by default 16 kHz mono; rate/channels None keep the source's.
    `alignment` puts it on the video's timeline."""
    resync_args = ["-async", "1"] if resync else []
    channel_args = ["-ac", str(channels)] if channels is not None else []
    rate_args = ["-ar", str(rate)] if rate is not None else []
    with atomic_path(wav) as temporary:
        run_ffmpeg(["-i", _file_arg(video), *alignment.audio_filter(), *resync_args, *channel_args, "-vn",
                    "-acodec", "pcm_s16le", *rate_args, _file_arg(temporary)],
                   f"extract the audio of {video}")


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


def read_wav(path):
    """All samples of a 16-bit mono wav, as int16."""
    with MonoWav(path) as wav:
        return wav.read(0, wav.n_samples)


def write_wav(path, samples, rate=SAMPLE_RATE):
    """int16 samples as a 16-bit mono PCM wav, complete or not at all."""
    with atomic_path(path) as temporary, wave.open(temporary, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def convert_video(source, target, alignment=AudioAlignment()):
    """Re-encode to a 25 fps AVI, as run_pipeline's first step does; `alignment` puts the audio
    on the video's timeline (the frames, audio.wav and every crop's audio come from this file)."""
    with atomic_path(target) as temporary:
        run_ffmpeg(["-i", _file_arg(source), *alignment.video_filter(), *alignment.audio_filter(), "-qscale:v",
                    "2", "-async", "1", "-r", str(FRAME_RATE), _file_arg(temporary)],
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


def mp3_round_trip(wav, target, folder):
    """`wav`'s audio through MP3 (libmp3lame, ffmpeg's defaults) and back to 16 kHz mono PCM in
    `target`, as run_pipeline's conversion to AVI codes it before audio.wav is cut. `folder`
    holds the MP3 meanwhile."""
    coded = os.path.join(folder, os.path.splitext(os.path.basename(target))[0] + ".mp3")
    run_ffmpeg(["-i", _file_arg(wav), "-c:a", "libmp3lame", _file_arg(coded)], f"code {wav} as MP3")
    run_ffmpeg(["-i", _file_arg(coded), "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le",
                _file_arg(target)], f"decode the MP3 of {wav}")
    os.unlink(coded)

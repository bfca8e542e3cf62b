"""Every call to ffmpeg goes through here, always as an argument list, never through a shell."""
import functools
import os
import shutil
import subprocess

from .errors import MediaError

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


def extract_frames(video, frames_dir, quality=None):
    """Decode every frame to frames_dir/%06d.jpg, the JPEG round trip the reference's numbers include."""
    quality_args = ["-qscale:v", str(quality)] if quality is not None else []
    run_ffmpeg(["-i", _file_arg(video), *quality_args, "-threads", "1", "-f", "image2",
                os.path.join(_file_arg(frames_dir), "%06d.jpg")],
               f"extract frames from {video}")


def extract_audio(video, wav, resync=True):
    """Write the audio as 16 kHz mono 16-bit PCM."""
    resync_args = ["-async", "1"] if resync else []
    run_ffmpeg(["-i", _file_arg(video), *resync_args, "-ac", "1", "-vn", "-acodec", "pcm_s16le",
                "-ar", str(SAMPLE_RATE), _file_arg(wav)],
               f"extract the audio of {video} (does it have an audio stream?)")


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


def mux(video, audio, target):
    """Put a video stream and an audio stream side by side, both copied untouched."""
    run_ffmpeg(["-i", _file_arg(video), "-i", _file_arg(audio), "-c:v", "copy", "-c:a", "copy",
                _file_arg(target)],
               f"combine {video} with {audio}")

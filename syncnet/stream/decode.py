"""One ffmpeg process decoding a source to 25 fps frames and 16 kHz mono audio, delivered to
Python in aligned chunks as they are decoded: no file is written, and memory holds one chunk.

    from syncnet.stream.decode import decode_stream

    for chunk in decode_stream("talk.mp4"):          # or "rtmp://...", input_options=["-re"]
        chunk.frames   # n x H x W x 3 uint8, RGB, frames chunk.first_frame .. + n - 1
        chunk.audio    # int16 samples chunk.first_frame * 640 .. on (640 per frame)

The video goes to ffmpeg's standard output as raw RGB and the audio to a second pipe as raw
s16le, both from one decoding of the input; a thread drains the audio pipe so that neither
output can block the other.
"""
import math
import os
import queue
import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from syncnet.errors import MediaError
from syncnet.io.media import FRAME_RATE, SAMPLE_RATE, ffmpeg_exe

SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE  # 640
CHUNK_FRAMES = FRAME_RATE  # one second per chunk
# "Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 640x480, q=2-31, ..." in ffmpeg's
# description of its outputs: the frame size, known before the first frame arrives.
_OUTPUT_VIDEO = re.compile(r"Stream #0:\d+.*: Video: rawvideo.*?, (\d+)x(\d+)")


@dataclass(frozen=True)
class Chunk:
    """Consecutive 25 fps frames and the audio under them.

    `audio` holds samples first_frame * 640 onwards: 640 per frame while the audio lasts (fewer
    where it ends first). The last chunk also carries any audio that outlasts the video, and
    may then hold no frame at all.
    """
    first_frame: int
    frames: np.ndarray  # n x H x W x 3 uint8 RGB
    audio: np.ndarray   # int16, 16 kHz mono

    @property
    def first_sample(self):
        """The index of audio[0] in the whole audio (640 samples per frame)."""
        return self.first_frame * SAMPLES_PER_FRAME


def ffmpeg_source(source):
    """`source` as ffmpeg's -i takes it: a URL (scheme://...) as given, a file as an absolute path,
    which cannot be read as an option ("-x.mp4") or a protocol ("a:b.mp4")."""
    source = os.fspath(source)
    return source if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) else os.path.abspath(source)


def decode_stream(source, *, input_options=(), chunk_frames=CHUNK_FRAMES, video_filters=(), audio_filters=()):
    """Yield Chunks of `source`'s first video and first audio stream, decoded by one ffmpeg.

    source: a file or any URL ffmpeg reads (http, rtmp, srt, udp, pipe:...).
    input_options: ffmpeg options placed before -i, e.g. ["-re"] to read at the source's own
        pace, or a protocol's options (["-rw_timeout", "5000000"]).
    chunk_frames: frames per chunk (the last may have fewer).
    video_filters, audio_filters: ffmpeg filter expressions applied before the conversion to
        25 fps RGB and 16 kHz mono (e.g. media.AudioAlignment's, to put the audio on the video's
        timeline).

    Raises MediaError in one line for a source ffmpeg cannot open, one with no video or no
    audio stream, and a decoder that stops with an error or mid-frame. Stopping early (closing
    the generator) ends ffmpeg.
    """
    if not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
    name = os.fspath(source)
    audio_read, audio_write = os.pipe()
    video_chain = ",".join([*video_filters, f"fps={FRAME_RATE}"])
    # pass_fds keeps the audio pipe under the same descriptor number in ffmpeg.
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", *input_options,
               "-i", ffmpeg_source(source),
               "-map", "0:v:0", "-vf", video_chain, "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1",
               "-map", "0:a:0", *(["-af", ",".join(audio_filters)] if audio_filters else []),
               "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", f"pipe:{audio_write}"]
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, pass_fds=(audio_write,), bufsize=0)
    finally:
        os.close(audio_write)
    log = _Log(process.stderr)
    audio = _Audio(os.fdopen(audio_read, "rb", buffering=0))
    try:
        yield from _chunks(name, process, log, audio, chunk_frames)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.wait()
        audio.join()
        log.join()


def _chunks(name, process, log, audio, chunk_frames):
    size = log.frame_size()
    if size is None:
        process.wait()
        log.join()
        raise MediaError(_opening_error(name, log.text()))
    width, height = size
    frame_bytes = width * height * 3
    video = _Video(process.stdout, (chunk_frames, height, width, 3))
    try:
        first = 0
        while True:
            frames, got = video.next()
            count, partial = divmod(got, frame_bytes)
            if partial:
                process.wait()
                raise MediaError(f"{name}: the decoder stopped in the middle of frame {first + count} "
                                 f"({_exit_reason(process, log)})")
            if count < chunk_frames:  # the video ended: the rest of the audio goes in this last chunk
                if process.wait() != 0:
                    raise MediaError(f"{name}: the decoder failed after {first + count} frames "
                                     f"({_exit_reason(process, log)})")
                audio.join()
                samples = audio.take(first * SAMPLES_PER_FRAME, None, video.stalled)
                if count or len(samples):
                    yield Chunk(first, frames[:count], samples)
                return
            yield Chunk(first, frames, audio.take(first * SAMPLES_PER_FRAME, count * SAMPLES_PER_FRAME,
                                                  video.stalled))
            first += count
    finally:
        video.stop()


# Frames read ahead of the consumer, in seconds of video: ffmpeg interleaves its two outputs
# closely, but where the audio ends first, or lags, it keeps writing frames, and they wait here.
# A wait for audio ends when this queue is full (see _Audio.take): more would only hold memory.
VIDEO_AHEAD_S = 2


class _Video:
    """The raw frames, read a chunk at a time by a thread into a short queue."""

    def __init__(self, pipe, shape):
        self._pipe = pipe
        self._shape = shape
        self._queue = queue.Queue(maxsize=max(1, math.ceil(VIDEO_AHEAD_S * FRAME_RATE / shape[0])))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="syncnet-video", daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stopping.is_set():
            frames = np.empty(self._shape, dtype=np.uint8)
            try:
                got = _read_into(self._pipe, memoryview(frames).cast("B"))
            except (OSError, ValueError):  # the pipe was closed: the consumer stopped
                got = 0
            while not self._stopping.is_set():
                try:
                    self._queue.put((frames, got), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if got < frames.nbytes:
                return

    def next(self):
        """(frames array, bytes read into it): fewer bytes than it holds at the end of the video."""
        return self._queue.get()

    def stalled(self):
        """Whether the frames read ahead fill the queue: ffmpeg waits on us, so the audio that
        has not come yet will not come before more frames are taken."""
        return self._queue.full()

    def stop(self):
        self._stopping.set()
        self._thread.join()


def _read_into(stream, view):
    """Fill `view` from `stream`; the number of bytes read (fewer only at the end of the stream)."""
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


class _Audio:
    """The audio pipe, drained by a thread into a queue of sample blocks; `take` waits for them.
    Audio is small (32 kB a second), so it may run ahead of the frames unbounded."""

    def __init__(self, pipe):
        self._pipe = pipe
        self._blocks = deque()
        self._queued = 0            # samples in _blocks
        self._position = 0          # the index in the whole audio of the first one
        self._odd = b""
        self._done = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._drain, name="syncnet-audio", daemon=True)
        self._thread.start()

    def _drain(self):
        try:
            while True:
                data = self._pipe.read(1 << 16)
                if not data:
                    break
                data = self._odd + data
                usable = len(data) - len(data) % 2
                self._odd = data[usable:]
                with self._ready:
                    self._blocks.append(np.frombuffer(data[:usable], dtype="<i2").astype(np.int16))
                    self._queued += usable // 2
                    self._ready.notify_all()
        finally:
            self._pipe.close()
            with self._ready:
                self._done = True
                self._ready.notify_all()

    def take(self, start, count, stalled):
        """Samples start..start+count-1 of the whole audio (fewer where it ends first); count None:
        all that remain. Samples before `start` not taken yet are dropped, so every chunk stays
        aligned even after `stalled()` (frames waiting) cut a wait for lagging audio short."""
        with self._ready:
            while self._blocks and self._position < start:
                block = self._blocks.popleft()
                skip = min(len(block), start - self._position)
                if skip < len(block):
                    self._blocks.appendleft(block[skip:])
                self._position += skip
                self._queued -= skip
            while not (self._done or (count is not None and self._position + self._queued >= start + count)):
                if stalled():
                    break
                self._ready.wait(0.05)
            available = self._queued if self._position >= start else 0
            wanted = available if count is None else min(count, available)
            parts, taken = [], 0
            while taken < wanted:
                block = self._blocks.popleft()
                part, rest = block[:wanted - taken], block[wanted - taken:]
                if len(rest):
                    self._blocks.appendleft(rest)
                parts.append(part)
                taken += len(part)
            self._queued -= taken
            self._position += taken
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def join(self):
        self._thread.join()


class _Log:
    """ffmpeg's messages, read by a thread; the output frame size is parsed from them."""

    def __init__(self, pipe):
        self._pipe = pipe
        self._lines = deque(maxlen=200)
        self._size = None
        self._known = threading.Event()
        self._thread = threading.Thread(target=self._read, name="syncnet-ffmpeg-log", daemon=True)
        self._thread.start()

    def _read(self):
        try:
            for raw in self._pipe:
                line = raw.decode("utf-8", "replace").rstrip()
                self._lines.append(line)
                match = _OUTPUT_VIDEO.search(line)
                if match and self._size is None:
                    self._size = (int(match.group(1)), int(match.group(2)))
                    self._known.set()
        finally:
            self._pipe.close()
            self._known.set()

    def frame_size(self):
        """(width, height) of the output frames; None when ffmpeg ended before it had one."""
        self._known.wait()
        return self._size

    def text(self):
        return list(self._lines)

    def join(self):
        self._thread.join()


def _opening_error(name, lines):
    """One line for a source that never produced its first output."""
    text = "\n".join(lines)
    # ffmpeg 9: "Failed to set value '0:a:0' for option 'map'"; earlier: "Stream map '0:a:0' matches no streams".
    if re.search(r"'0:v:0' (for option 'map'|matches no streams)|does not contain any stream", text):
        return f"{name}: has no video stream (SyncNet needs a face video with audio)"
    if re.search(r"'0:a:0' (for option 'map'|matches no streams)", text):
        return f"{name}: has no audio stream (SyncNet needs a face video with audio)"
    if "No such file or directory" in text:
        return f"{name}: no such file"
    errors = [line.strip() for line in lines if line.strip() and not line.startswith(" ")
              and not re.match(r"(Input|Output|Stream|Press|  )", line)]
    return f"{name}: ffmpeg cannot decode it ({errors[-1] if errors else 'no message'})"


def _exit_reason(process, log):
    log.join()
    code = process.returncode
    if code is not None and code < 0:
        return f"ffmpeg was ended by signal {-code}"
    lines = [line.strip() for line in log.text() if line.strip() and re.search(r"rror|nvalid|fail", line)]
    return f"ffmpeg exit code {code}: {lines[-1] if lines else 'no message'}"

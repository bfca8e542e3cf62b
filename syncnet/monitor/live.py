"""A live source through the monitor: ffmpeg decodes it (syncnet.stream.decode) on a thread of its
own, into a bounded buffer; the monitor scores what arrives. A source that drops is reopened with
backoff and the gap reported; when scoring falls behind a live source, the oldest buffered
chunks are dropped, counted and reported, so memory never grows without bound.

    run = MonitorRun(network, "udp://127.0.0.1:5000", MonitorOptions(), SourceOptions())
    for record in run.records(stop_event):   # dicts: hop, alarm, step, gap, drops, then summary
        ...
"""
import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional, Tuple

from syncnet.errors import InputError, MediaError, one_line
from syncnet.io.media import FRAME_RATE
from syncnet.monitor.monitor import Monitor
from syncnet.monitor.options import MonitorOptions
from syncnet.monitor.records import redact_source, scrubbed
from syncnet.stream.decode import decode_stream

log = logging.getLogger(__name__)

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# How long ffmpeg waits for data from a network source before it gives up and the monitor reconnects.
READ_TIMEOUT_S = 5.0
FIRST_BACKOFF_S = 0.5
# Realtime factor: media seconds scored per wall-clock second, over about this much of the recent past.
RATE_SPAN_S = 10.0


@dataclass(frozen=True)
class SourceOptions:
    """How the source is read."""
    realtime: bool = False        # read a file at its own pace (ffmpeg -re), as a live feed arrives
    follow: bool = False          # a file still being written: wait for more at its end
    exit_on_eof: bool = False     # a live source that ends ends the run, instead of a reconnect
    max_backoff_s: float = 30.0   # the longest wait between two reconnects
    buffer_s: float = 10.0        # decoded media held while scoring catches up; beyond it, drops
    input_options: Tuple[str, ...] = ()  # more ffmpeg input options (a protocol's, e.g. -srt_passphrase)


def is_url(source):
    """Whether `source` is a URL (scheme://...) rather than a file or device path."""
    return bool(URL.match(str(source)))


def check_source(source):
    """Refuse, before anything is loaded, a local source that is not there."""
    if is_url(source) or str(source).startswith(("pipe:", "-")):
        return
    if not os.path.exists(source):
        raise InputError(f"{source}: no such file or device (give a file, a device, a named pipe, or a URL "
                         "such as udp://127.0.0.1:5000)")


class _Buffer:
    """Decoded chunks between the reader and the scorer. `lossy`: when full, the oldest chunk goes
    (counted); otherwise the reader waits (a file read as fast as it scores)."""

    def __init__(self, max_frames, lossy):
        self.max_frames = max_frames
        self.lossy = lossy
        self._items = deque()
        self._frames = 0
        self._dropped = 0
        self._ready = threading.Condition()

    def put(self, item, stop):
        frames = len(item.frames) if hasattr(item, "frames") else 0
        with self._ready:
            if not self.lossy:
                self._ready.wait_for(lambda: stop.is_set() or self._frames + frames <= self.max_frames
                                     or not self._items)
            if self.lossy and self._frames + frames > self.max_frames:
                # Drop the older half at once, not a chunk at a time: what stays is one contiguous
                # stretch, long enough for whole windows, rather than a window broken by every drop.
                while self._frames and self._frames + frames > self.max_frames // 2:
                    oldest = next(chunk for chunk in self._items if hasattr(chunk, "frames"))  # never a gap or end
                    self._items.remove(oldest)
                    self._frames -= len(oldest.frames)
                    self._dropped += len(oldest.frames)
            self._items.append(item)
            self._frames += frames
            self._ready.notify_all()

    def get(self, timeout):
        """(item or None on timeout, frames dropped just before it)."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items, timeout):
                return None, 0
            item = self._items.popleft()
            if hasattr(item, "frames"):
                self._frames -= len(item.frames)
            dropped, self._dropped = self._dropped, 0
            self._ready.notify_all()
            return item, dropped


@dataclass(frozen=True)
class _Gap:
    seconds: float
    reason: str


@dataclass(frozen=True)
class _End:
    reason: str
    error: Optional[Exception] = None


class MonitorRun:
    """One monitor on one source: records as they come, and the health the page and metrics show."""

    def __init__(self, network, source, options=MonitorOptions(), source_options=SourceOptions(), name=None,
                 faces=None):
        self.source = os.fspath(source)
        self.name = name or redact_source(self.source)
        self.options = options
        self.source_options = source_options
        self.monitor = Monitor(network, self.name, options, faces)
        self.live = is_url(self.source) or source_options.realtime or source_options.follow
        self.connected = False
        self.reconnects = 0
        self.realtime_factor = None
        self._rate = deque()  # (wall time, stream seconds) of recent hops

    def _input_options(self):
        extra = list(self.source_options.input_options)
        if self.source_options.realtime:
            extra = ["-re", *extra]
        if self.source_options.follow:
            extra = ["-follow", "1", *extra]
        if is_url(self.source) and not self.source.startswith(("file:", "pipe:", "udp:", "rtp:")):
            extra = ["-rw_timeout", str(int(READ_TIMEOUT_S * 1e6)), *extra]
        return extra

    def _ffmpeg_source(self):
        """The source as ffmpeg opens it. UDP and RTP ignore -rw_timeout (ffmpeg 9 waits for ever on
        a silent socket); their own `timeout` parameter ends the read, so that the monitor reconnects."""
        if self.source.startswith(("udp:", "rtp:")) and "timeout=" not in self.source:
            return self.source + ("&" if "?" in self.source else "?") + f"timeout={int(READ_TIMEOUT_S * 1e6)}"
        return self.source

    def _read(self, buffer, stop):
        """The reader thread: decode, reconnect with backoff, and say how it ended."""
        opened_once, backoff = False, FIRST_BACKOFF_S
        while not stop.is_set():
            lost_at = time.monotonic()
            try:
                chunks = decode_stream(self._ffmpeg_source(), input_options=self._input_options(),
                                       chunk_frames=FRAME_RATE // 5)
                try:
                    for chunk in chunks:
                        if not opened_once or not self.connected:
                            if opened_once:
                                buffer.put(_Gap(time.monotonic() - lost_at, "reconnected"), stop)
                            opened_once, self.connected, backoff = True, True, FIRST_BACKOFF_S
                        buffer.put(chunk, stop)
                        if stop.is_set():
                            break
                finally:
                    chunks.close()
                problem = "the source ended"
            except MediaError as error:
                if not opened_once:
                    buffer.put(_End("error", InputError(scrubbed(one_line(error), self.source))), stop)
                    return
                problem = scrubbed(one_line(error), self.source)
            except Exception as error:  # a bug: end the run with it rather than hang
                buffer.put(_End("error", error), stop)
                return
            if stop.is_set():
                break
            if not is_url(self.source) or self.source_options.exit_on_eof:
                buffer.put(_End("end of source" if problem == "the source ended" else "error",
                                None if problem == "the source ended" else MediaError(problem)), stop)
                return
            self.connected = False
            self.reconnects += 1
            log.warning("%s: %s; reconnecting in %.1f s", self.name, problem, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, self.source_options.max_backoff_s)
        buffer.put(_End("stopped"), stop)

    def records(self, stop=None):
        """Yield the run's records (dicts) until the source ends (a file, or with exit_on_eof) or
        `stop` (a threading.Event) is set; the last is the summary. A source that cannot be opened
        raises InputError; a decoder failure after the start is retried (a URL) or raised. A file
        ends the run at its end; a URL is reopened with backoff, unless exit_on_eof."""
        stop = stop or threading.Event()
        buffer = _Buffer(max(1, int(self.source_options.buffer_s * FRAME_RATE)), lossy=self.live)
        reader = threading.Thread(target=self._read, args=(buffer, stop), name="syncnet-monitor-reader",
                                  daemon=True)
        reader.start()
        try:
            while True:
                if stop.is_set():  # SIGINT/SIGTERM: what is buffered is not scored
                    yield self.monitor.summary("stopped", reconnects=self.reconnects)
                    return
                item, dropped = buffer.get(timeout=0.5)
                if dropped:
                    log.warning("%s: scoring fell behind: dropped %d frames", self.name, dropped)
                    yield self.monitor.skip(dropped, "drops", frames_dropped_total=
                                            self.monitor.counts["frames_dropped"] + dropped)
                if item is None:
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    yield self.monitor.summary(item.reason, reconnects=self.reconnects)
                    return
                if isinstance(item, _Gap):
                    log.warning("%s: reconnected after %.1f s", self.name, item.seconds)
                    yield self.monitor.skip(int(round(item.seconds * FRAME_RATE)), "gap", reason=item.reason,
                                            reconnects=self.reconnects)
                    continue
                for record in self.monitor.feed(item.frames, item.audio):
                    if record["type"] == "hop":
                        self._rated(record["time_s"])
                    yield record
        finally:
            stop.set()
            reader.join(timeout=10)

    def _rated(self, stream_s):
        now = time.monotonic()
        self._rate.append((now, stream_s))
        while len(self._rate) > 2 and now - self._rate[0][0] > RATE_SPAN_S:
            self._rate.popleft()
        (first_wall, first_stream), (last_wall, last_stream) = self._rate[0], self._rate[-1]
        if last_wall > first_wall:
            self.realtime_factor = (last_stream - first_stream) / (last_wall - first_wall)

    def timeline(self):
        """The run's Timeline so far (the one `demo_syncnet.py --timeline` would give)."""
        return self.monitor.timeline()

"""The stream path: a video scored as it is decoded, with nothing written between stages.

Frames and audio arrive in chunks (decode.py). The face detector sees every `detect_every`-th
frame and the first frame of every shot; the tracker carries faces between (tracker.py). A
track's frame is cropped, with run_pipeline's box smoothing and crop, as soon as its smoothed
box is final (six frames later, the median filter's half-width); its 5-frame windows of crops
go through the lip network together with every other live track's, in batches of
`batch_size`, and the audio network runs once per window of the video, whichever tracks use
it. The distances, offsets, confidences, speakers and timelines then come from the faithful
path's scoring code (syncnet.scoring), fed the same windows and the same zero padding.

Memory holds the frames not yet cropped (about detect_every + 7 frames, at most
num_failed_det + 7 while a face is missed), the audio features live tracks may still use, and
each track's distance rows.
"""
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from syncnet.errors import InputError, TooShortError
from syncnet.io.media import FRAME_RATE
from syncnet.options import PipelineOptions, ScoringOptions, StreamOptions
from syncnet.pipeline.cropping import CROP_SIZE, SMOOTHING_KERNEL, crop_face, smooth_track
from syncnet.pipeline.detection import frames_per_batch
from syncnet.pipeline.tracking import TrackTally
from syncnet.scoring.distances import (
    FRAMES_PER_WINDOW,
    SAMPLES_PER_FRAME,
    ShiftedDistances,
    StreamedMfcc,
    audio_batch,
    summarise,
    window_audio_end,
    window_columns,
    window_energy,
)
from syncnet.scoring.face_video import FaceVideoScore, checked_window_count
from syncnet.scoring.offsets import column_count
from syncnet.scoring.results import CLIP_TOO_SHORT, VideoResult, track_result
from syncnet.stream.decode import decode_stream
from syncnet.stream.tracker import FaceTracker

log = logging.getLogger(__name__)

LOOKAHEAD = SMOOTHING_KERNEL // 2  # boxes a smoothed box depends on, after it


@dataclass
class StreamStats:
    """Where the stream path's time went (seconds), for the benchmark."""
    decode: float = 0.0
    detect: float = 0.0
    scenes: float = 0.0
    track_and_crop: float = 0.0
    mfcc: float = 0.0
    networks: float = 0.0
    frames: int = 0

    def outside_networks(self):
        """Seconds outside the networks (detector and SyncNet): decoding, scene cuts, tracking,
        cropping, MFCC."""
        return self.decode + self.scenes + self.track_and_crop + self.mfcc


class _SceneCuts:
    """PySceneDetect's ContentDetector, at its defaults and with its automatic downscaling, as
    run_pipeline's scene step uses it, fed the frames in memory."""

    def __init__(self):
        from scenedetect import ContentDetector

        self._detector = ContentDetector()
        self._factor = None

    def cut_at(self, frame_number, rgb):
        """Whether a new shot starts at this frame (or was found to start just before it)."""
        from scenedetect.common import FrameTimecode
        from scenedetect.scene_manager import compute_downscale_factor

        if self._factor is None:
            self._factor = compute_downscale_factor(max(rgb.shape[:2]))
        small = rgb
        if self._factor > 1.0:
            size = (max(1, round(rgb.shape[1] / self._factor)), max(1, round(rgb.shape[0] / self._factor)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        return bool(self._detector.process_frame(FrameTimecode(frame_number, float(FRAME_RATE)), bgr))


class _AudioFeatures:
    """The audio network's feature (and MFCC log energy) of each window of the whole video,
    computed once, when first asked for, from the audio received so far."""

    def __init__(self, network):
        self.network = network
        self._samples = np.zeros(0, dtype=np.int16)
        self._sample_start = 0      # the index of _samples[0] in the whole audio
        self.ended = False
        self._features = {}         # window -> (feature row, energy)

    @property
    def n_samples(self):
        return self._sample_start + len(self._samples)

    def append(self, samples):
        self._samples = np.concatenate([self._samples, samples])

    def available(self, window):
        """Whether window `window`'s audio has all arrived (or the audio has ended)."""
        return self.ended or self.n_samples >= window_audio_end(window)

    def get(self, first, count, stats):
        """(count x 512 features, count energies) of windows first..first+count-1."""
        missing = [w for w in range(first, first + count) if w not in self._features]
        if missing:
            self._compute(missing[0], missing[-1] + 1, stats)
        rows = [self._features[w] for w in range(first, first + count)]
        return torch.stack([row[0] for row in rows]), np.array([row[1] for row in rows])

    def _compute(self, first, stop, stats):
        started = time.perf_counter()

        def read(start, end):
            return self._samples[max(start - self._sample_start, 0):max(end - self._sample_start, 0)]

        # Only the samples these windows use, so that the MFCC block ends with them.
        needed = window_audio_end(stop - 1)
        mfcc = StreamedMfcc(read, min(self.n_samples, needed))
        span = mfcc.columns(*window_columns(first, stop - first))
        energy = window_energy(span)
        stats.mfcc += time.perf_counter() - started
        started = time.perf_counter()
        features = self.network.forward_aud(audio_batch(span).to(self.network.device)).float().cpu()
        stats.networks += time.perf_counter() - started
        for offset, window in enumerate(range(first, stop)):
            self._features[window] = (features[offset], float(energy[offset]))

    def forget_before(self, window):
        """Drop the features and samples that no window from `window` on needs."""
        for key in [key for key in self._features if key < window]:
            del self._features[key]
        # StreamedMfcc reads one sample before a window's first (the pre-emphasis).
        keep_from = max(window * SAMPLES_PER_FRAME - 1, 0)
        if keep_from > self._sample_start:
            self._samples = self._samples[keep_from - self._sample_start:]
            self._sample_start = keep_from


@dataclass
class _TrackScoring:
    """A live track's crops and windows on their way to its distance table."""
    track: object                       # the tracker's LiveTrack
    cropped: int = 0                    # crops cut so far (frames first_frame..first_frame+cropped-1)
    recent: deque = field(default_factory=lambda: deque(maxlen=FRAMES_PER_WINDOW + 1))
    sent: int = 0                       # windows queued for the lip network
    scored: int = 0                     # windows whose features reached the distances
    distances: ShiftedDistances = None
    energy: list = field(default_factory=list)
    proc_track: dict = None             # the smoothed x, y, s of every frame, when closed


class StreamScorer:
    """One video through the stream path; `score(source)` returns (tracks, n_frames, tally).

    `network` is the loaded SyncNet; `detector` a FaceDetector or None with `faces` (faces.pckl's
    format) given instead.
    """

    def __init__(self, network, detector=None, pipeline=PipelineOptions(), scoring=ScoringOptions(), *,
                 detect_every=StreamOptions.detect_every, faces=None, timeline_of=None):
        self.network = network
        self.detector = detector
        self.pipeline = pipeline
        self.scoring = scoring
        self.detect_every = detect_every
        self.faces = faces
        self.timeline_of = timeline_of
        self.stats = StreamStats()

    @torch.inference_mode()
    def score(self, source, *, input_options=(), video_filters=(), audio_filters=(), name=None):
        """Every kept face track of `source`, scored: (TrackResults in order of appearance,
        frames decoded, the TrackTally)."""
        self.name = name or str(source)
        self.tracker = FaceTracker(self.pipeline.num_failed_det)
        self.audio = _AudioFeatures(self.network)
        self.scenes = _SceneCuts()
        self.tally = TrackTally()
        self.frames = deque()        # (frame number, RGB frame) not yet cropped by every track
        self.live = {}               # LiveTrack.number -> _TrackScoring
        self.queue = []              # (_TrackScoring, window index, 5 crops) for the lip network
        self.done = []               # (LiveTrack, _TrackScoring)
        self.next_frame = 0
        chunks = decode_stream(source, input_options=input_options, video_filters=video_filters,
                               audio_filters=audio_filters)
        started = time.perf_counter()
        for chunk in chunks:
            self.stats.decode += time.perf_counter() - started
            self.audio.append(chunk.audio)
            self._frames(chunk.first_frame, chunk.frames)
            self._flush(final=False)
            started = time.perf_counter()
        self.audio.ended = True
        last = self.next_frame - 1
        if self.faces is None and last % self.detect_every and self.frames and self.frames[-1][0] == last:
            # The last frame is detected too, so that tracks run to the end of the video as
            # run_pipeline's do, rather than stopping at the last scheduled detection.
            self._detect([self.frames[-1]])
        self._close(self.tracker.close_all())
        self._flush(final=True)
        self.tally.n_frames = self.next_frame
        self.stats.frames = self.next_frame
        return self._results(), self.next_frame, self.tally

    # ------------------------------------------------------------------ frames to crops

    def _frames(self, first, frames):
        """Scene cuts, detections and tracking for a chunk of frames, then the crops now final."""
        wanted = []
        for offset, rgb in enumerate(frames):
            number = first + offset
            self.frames.append((number, rgb))
            started = time.perf_counter()
            cut = number > 0 and self.scenes.cut_at(number, rgb)
            self.stats.scenes += time.perf_counter() - started
            if cut:
                self._detect(wanted)
                wanted = []
                self._close(self.tracker.close_all())
            if self.faces is not None or number % self.detect_every == 0 or cut:
                wanted.append((number, rgb))
        self._detect(wanted)
        self.next_frame = first + len(frames)
        self._close(self.tracker.expire(self.next_frame))
        self._crop_live()

    def _crop_live(self):
        started = time.perf_counter()
        for scoring in self.live.values():
            self._crop(scoring, closed=False)
        self._release_frames()
        self.stats.track_and_crop += time.perf_counter() - started

    def _detect(self, wanted):
        """Detections for the (number, frame) pairs in `wanted`, in order, handed to the tracker."""
        if not wanted:
            return
        started = time.perf_counter()
        if self.faces is not None:
            found = [[face["bbox"] for face in self.faces[number]] if number < len(self.faces) else []
                     for number, _ in wanted]
        else:
            height, width = wanted[0][1].shape[:2]
            size = frames_per_batch(height, width, self.pipeline.facedet_scale)
            found = []
            for start in range(0, len(wanted), size):
                images = [rgb for _, rgb in wanted[start:start + size]]
                found.extend([box[:4] for box in boxes] for boxes in self.detector.detect_faces_batch(
                    images, conf_th=self.pipeline.facedet_conf, scales=[self.pipeline.facedet_scale]))
        self.stats.detect += time.perf_counter() - started
        started = time.perf_counter()
        for (number, _), boxes in zip(wanted, found):
            if boxes:
                self.tally.frames_with_faces += 1
            self._close(self.tracker.update(number, boxes))
            for track in self.tracker.live:
                if track.number not in self.live:
                    self.live[track.number] = _TrackScoring(track=track,
                                                            distances=ShiftedDistances(self.scoring.vshift))
        self.stats.track_and_crop += time.perf_counter() - started

    def _crop(self, scoring, closed):
        """Cut the track's crops whose smoothed box is final: six boxes after them are known, or
        the track has ended. Each completed window goes on the lip network's queue."""
        track = scoring.track
        last = track.n_frames if closed else track.n_frames - LOOKAHEAD
        if scoring.cropped >= last:
            return
        images = {number: rgb for number, rgb in self.frames}
        low = max(scoring.cropped - LOOKAHEAD, 0)
        # The median at a frame depends on the six boxes on each side, zero beyond the track's ends,
        # so smoothing this slice gives the whole track's values for the frames cropped here.
        smoothed = smooth_track(np.array(track.boxes[low:last + LOOKAHEAD]))
        for index in range(scoring.cropped, last):
            at = index - low
            crop = crop_face(images[track.first_frame + index], smoothed["x"][at], smoothed["y"][at],
                             smoothed["s"][at], self.pipeline.crop_scale, CROP_SIZE)
            # The network was trained on OpenCV's BGR frames.
            scoring.recent.append(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            scoring.cropped += 1
            # Window w (crops w..w+4) is queued when crop w+5 exists: a track of T frames has T-5
            # windows, as window_count counts them for its crop video.
            if len(scoring.recent) == FRAMES_PER_WINDOW + 1:
                # The window's crops by reference: each crop is shared by the five windows it is in.
                self.queue.append((scoring, scoring.cropped - FRAMES_PER_WINDOW - 1,
                                   tuple(scoring.recent)[:FRAMES_PER_WINDOW]))

    def _release_frames(self):
        """Drop the frames that every live track has cropped; no new track starts before next_frame."""
        keep_from = min([s.track.first_frame + s.cropped for s in self.live.values()] + [self.next_frame])
        while self.frames and self.frames[0][0] < keep_from:
            self.frames.popleft()

    def _close(self, tracks):
        """Tracks that ended: dropped (tallied) when too short or too small, as run_pipeline drops
        them, else cropped to their end."""
        started = time.perf_counter()
        for track in tracks:
            scoring = self.live.pop(track.number)
            boxes = np.array(track.boxes)
            if track.n_frames <= self.pipeline.min_track:
                self.tally.too_short += 1
            elif max(np.mean(boxes[:, 2] - boxes[:, 0]), np.mean(boxes[:, 3] - boxes[:, 1])) \
                    <= self.pipeline.min_face_size:
                self.tally.too_small += 1
            else:
                self.tally.kept += 1
                self._crop(scoring, closed=True)
                scoring.proc_track = smooth_track(boxes)
                self.done.append(scoring)
                continue
            self.queue = [entry for entry in self.queue if entry[0] is not scoring]
        self._release_frames()
        self.stats.track_and_crop += time.perf_counter() - started

    # ------------------------------------------------------------------ windows to distances

    def _ready(self, scoring, window):
        """Whether the audio of a track's window has arrived; None when the audio ended before it
        (run_pipeline's crop of that track has no such window either)."""
        first_sample = (scoring.track.first_frame + window) * SAMPLES_PER_FRAME
        if self.audio.ended:
            # window_count: a window needs its 5 frames' audio and the next frame's.
            return True if first_sample + (FRAMES_PER_WINDOW + 1) * SAMPLES_PER_FRAME <= self.audio.n_samples \
                else None
        return self.audio.available(scoring.track.first_frame + window)

    def _flush(self, final):
        """Score the queued windows whose audio has arrived, in batches of batch_size across the
        tracks; without `final`, a last part batch waits for more windows."""
        ready, waiting = [], []
        for entry in self.queue:
            state = self._ready(entry[0], entry[1])
            if state:
                ready.append(entry)
            elif state is not None:
                waiting.append(entry)
        size = self.scoring.batch_size
        stop = len(ready) if final else len(ready) - len(ready) % size
        for start in range(0, stop, size):
            self._score_batch(ready[start:start + size])
        self.queue = ready[stop:] + waiting
        if self.live or self.queue:
            firsts = [s.track.first_frame + s.scored for s in self.live.values()]
            firsts += [entry[0].track.first_frame + entry[1] for entry in self.queue]
            self.audio.forget_before(min(firsts + [self.next_frame]))
        else:
            self.audio.forget_before(self.next_frame)

    def _score_batch(self, batch):
        started = time.perf_counter()
        windows = torch.from_numpy(np.stack([np.stack(crops) for _, _, crops in batch]))  # N x 5 x H x W x 3
        features = self.network.forward_lip(windows.permute(0, 4, 1, 2, 3).to(self.network.device)).float().cpu()
        self.stats.networks += time.perf_counter() - started
        order = {}
        for row, (scoring, window, _) in enumerate(batch):
            order.setdefault(id(scoring), (scoring, window, []))[2].append(row)
        for scoring, window, rows in order.values():
            audio, energy = self.audio.get(scoring.track.first_frame + window, len(rows), self.stats)
            scoring.distances.add(features[rows], audio)
            scoring.energy.append(energy)
            scoring.scored += len(rows)

    def _results(self):
        """The kept tracks' TrackResults, numbered in order of appearance."""
        results = []
        for index, scoring in enumerate(sorted(self.done, key=lambda s: s.track.number)):
            track = scoring.track
            frames = np.arange(track.first_frame, track.first_frame + track.n_frames)
            entry = {"track": {"frame": frames, "bbox": np.array(track.boxes)}, "proc_track": scoring.proc_track}
            summary, sync_timeline = None, None
            dists = np.zeros((0, column_count(self.scoring.vshift)), dtype=np.float32)
            try:
                # The audio its scored windows had (each window's 5 frames and the next one's), so
                # that a track without a window, or with too few for --vshift, is refused as the
                # faithful path refuses its crop.
                checked_window_count(f"{self.name} track {index}", track.n_frames,
                                     scoring.scored and (scoring.scored + FRAMES_PER_WINDOW) * SAMPLES_PER_FRAME,
                                     self.scoring.vshift)
                dists = scoring.distances.finish()
                summary = summarise(dists, self.scoring.vshift)
                if self.timeline_of is not None:
                    sync_timeline = self.timeline_of(FaceVideoScore(
                        video=self.name, summary=summary, dists=dists, n_frames=track.n_frames,
                        audio_seconds=track.n_frames / FRAME_RATE, seconds=0.0,
                        window_energy=np.concatenate(scoring.energy)))
            except TooShortError as error:
                log.warning("track %d is not scored: %s", index, error)
            results.append(track_result(index, entry, summary, dists, timeline=sync_timeline))
        return results


def unscored_reason(tally, results):
    """Why no track is scored (None when one is), as the faithful path says it."""
    if any(track.scored for track in results):
        return None
    return CLIP_TOO_SHORT if results else tally.reason


def score_stream(source, network, detector, pipeline=PipelineOptions(), scoring=ScoringOptions(),
                 stream=StreamOptions(), *, faces=None, alignment=None, timeline_of=None, reference="",
                 input_options=()):
    """A VideoResult for `source` (a file or URL) through the stream path; no file is written.

    `network`: the loaded SyncNet; `detector`: a FaceDetector, or None with `faces` (faces.pckl's
    format, per 25 fps frame) given instead; `alignment`: media.AudioAlignment putting the audio
    on the video's timeline; `timeline_of(FaceVideoScore)`: each scored track's timeline.
    """
    if stream.detect_every > pipeline.num_failed_det + 1 and faces is None:
        raise InputError(f"--detect_every {stream.detect_every}: a track can bridge only --num_failed_det "
                         f"{pipeline.num_failed_det} frames without a detection; use --detect_every "
                         f"{pipeline.num_failed_det + 1} or less")
    scorer = StreamScorer(network, detector, pipeline, scoring, detect_every=stream.detect_every, faces=faces,
                          timeline_of=timeline_of)
    video_filters = alignment.video_filter()[1:] if alignment is not None else ()
    audio_filters = alignment.audio_filter()[1:] if alignment is not None else ()
    tracks, n_frames, tally = scorer.score(source, input_options=input_options, video_filters=video_filters,
                                           audio_filters=audio_filters)
    if faces is not None and len(faces) != n_frames:
        raise InputError(f"the detections given (--faces) have {len(faces)} frames but {source} decodes to "
                         f"{n_frames} frames at 25 fps; they must list every frame, in order")
    return VideoResult(video=os.fspath(source), n_frames=n_frames, tracks=tracks, reference=reference,
                       reason=unscored_reason(tally, tracks))

"""The one orchestrator: every script, the Python API, the batch runner and the cluster engine
run videos through VideoScorer, so they write the same files with the same numbers.

    from syncnet import score_video

    result = score_video("interview.mp4")
    for track in result.tracks:
        print(track.track, track.offset, track.min_dist, track.confidence)

The stages stay callable one by one, as the scripts call them: `find_tracks` is
run_pipeline.py, `score_tracks` is run_syncnet.py, `score_face_video` is demo_syncnet.py and
`lip_features` is demo_feature.py; `score` runs the first two. The networks load on first use,
after the inputs have been checked, and once per VideoScorer. Nothing here prints.
"""
import dataclasses
import functools
import logging
import os
import tempfile

from syncnet.io.layout import Layout, reference_for, scratch_dir
from syncnet.options import (
    ModelOptions,
    OutputOptions,
    PipelineOptions,
    ScoringOptions,
    StreamOptions,
    TimelineOptions,
    as_path,
    with_options,
)
from syncnet.scoring.results import TrackResult, VideoResult

__all__ = ["VideoScorer", "score_video", "TrackResult", "VideoResult"]

log = logging.getLogger(__name__)


class VideoScorer:
    """SyncNet and the face detector, each loaded once on first use, to score any number of videos.

    `detector` names the face detector (syncnet.detection's registry; S3FD by default), and
    `s3fd_model` its weights (the reference's name for them). `syncnet_model` and `s3fd_model`
    default to the official files in the reference's places, else in the model cache (see
    syncnet.models.paths); `device` is 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.
    """

    def __init__(self, device="auto", syncnet_model=None, s3fd_model=None, detector=ModelOptions.detector):
        from syncnet.runtime.devices import resolve_device

        self.models = ModelOptions(syncnet_model=syncnet_model, s3fd_model=s3fd_model, device=device,
                                   detector=detector)
        resolve_device(device)  # a bad device is refused now, not at the first video
        self._syncnet = None
        self._detector = None

    @classmethod
    def from_options(cls, models):
        """A VideoScorer for a ModelOptions (which weights, which device)."""
        return cls(device=models.device, syncnet_model=models.syncnet_model, s3fd_model=models.s3fd_model,
                   detector=models.detector)

    @property
    def syncnet(self):
        """The scoring network (loaded now if it was not)."""
        if self._syncnet is None:
            from syncnet.models.loading import load_syncnet

            self._syncnet = load_syncnet(self.models.syncnet_model, self.models.device)
            # debug: the demos print the reference's own "Model ... loaded." line.
            log.debug("SyncNet model %s loaded", self.models.syncnet_model or "syncnet_v2.model")
        return self._syncnet

    @property
    def detector(self):
        """The face detector (loaded now if it was not)."""
        if self._detector is None:
            from syncnet.detection import load_detector

            self._detector = load_detector(self.models.detector, self.models.s3fd_model, self.models.device)
        return self._detector

    def load(self, detector=True):
        """Load the networks now (the face detector unless `detector` is False): a missing or
        damaged model file fails here, before any video."""
        return self.syncnet, self.detector if detector else None

    # ------------------------------------------------------------------ the stages

    def score_face_video(self, videofile, tmp_dir, reference="demo", scoring=ScoringOptions(), *,
                         resize=False, quiet=True, probed=None, timeline=None, min_conf=OutputOptions.min_conf):
        """demo_syncnet.py: one face video scored in TMP_DIR/REFERENCE (a FaceVideoScore).
        `probed`: media.require_scorable's answer for the video, when the caller has it.
        `timeline` (TimelineOptions): also the offset over time, segments reliable from `min_conf`."""
        from syncnet.io.media import require_scorable
        from syncnet.scoring.face_video import score_face_video

        videofile, tmp_dir = as_path(videofile, "videofile"), as_path(tmp_dir, "tmp_dir")
        probed = probed or require_scorable(videofile)  # before the network loads
        network = self.syncnet
        with scratch_dir(tmp_dir, _name(reference)) as work_dir:
            score = score_face_video(network, videofile, work_dir, scoring, resize=resize, quiet=quiet, probed=probed)
        if timeline is None:
            return score
        from syncnet.timeline import score_timeline

        return dataclasses.replace(score, timeline=score_timeline(score, scoring.vshift, timeline, min_conf))

    def lip_features(self, videofile, batch_size=ScoringOptions.batch_size):
        """demo_feature.py: the (T-4) x 512 lip features of every 5-frame window."""
        from syncnet.scoring.face_video import lip_features

        videofile = as_path(videofile, "videofile")
        if not os.path.isfile(videofile):
            from syncnet.errors import InputError

            raise InputError(f"video file not found: {videofile}")
        return lip_features(self.syncnet, videofile, ScoringOptions(batch_size=batch_size).batch_size)

    def find_tracks(self, videofile, work_dir, reference, pipeline=PipelineOptions(), *, faces=None,
                    reuse_faces=False, quiet=True, probed=None):
        """run_pipeline.py: the face tracks of `videofile`, cropped under WORK_DIR/.../REFERENCE.
        `probed`: media.require_scorable's answer for the video, when the caller has it."""
        from syncnet.detection import get_detector
        from syncnet.pipeline.stage import run_face_pipeline

        min_input_side = get_detector(self.models.detector).min_input_side
        return run_face_pipeline(as_path(videofile, "videofile"), _layout(work_dir, reference), pipeline,
                                 lambda: self.detector, min_input_side=min_input_side, faces=faces,
                                 reuse_faces=reuse_faces, quiet=quiet, probed=probed)

    def score_tracks(self, work_dir, reference, scoring=ScoringOptions(), outputs=OutputOptions(), *,
                     videofile=None, quiet=True, timeline=TimelineOptions()) -> VideoResult:
        """run_syncnet.py: every cropped track of REFERENCE scored (with its timeline, from the
        TimelineOptions `timeline`), and its result files written."""
        from syncnet.scoring.tracks import score_tracks
        from syncnet.timeline import score_timeline

        videofile = None if videofile is None else as_path(videofile, "videofile")
        timeline_of = None if timeline is None else functools.partial(
            score_timeline, vshift=scoring.vshift, options=timeline, min_conf=outputs.min_conf)
        return score_tracks(_layout(work_dir, reference), lambda: self.syncnet, scoring, outputs,
                            videofile=videofile, quiet=quiet, timeline_of=timeline_of)

    def score(self, path, *, work_dir=None, reference=None, faces=None, reuse_faces=False, pipeline=None,
              scoring=None, outputs=None, timeline=None, quiet=True, mode="faithful", detect_every=None,
              **options) -> VideoResult:
        """Score every face track of the video at `path`: run_pipeline.py, then run_syncnet.py.

        work_dir: where the intermediate folders go (default: a temporary folder, removed after;
            the result's `files` is then empty).
        reference: the name of this video's folders there (default: from the file name).
        faces: detections to use instead of the detector's, in faces.pckl's format: for each frame of the
            25 fps converted video, a list of {'frame': f, 'bbox': [x1, y1, x2, y2], 'conf': score}.
        reuse_faces: use the faces.pckl of an earlier run in work_dir instead of detecting.
        pipeline, scoring, outputs, timeline: PipelineOptions, ScoringOptions, OutputOptions,
            TimelineOptions; or give their fields by name in `options` (min_track=50, vshift=15,
            segment_s=5, ...).
        mode: "faithful" (the reference's stages through files: its numbers) or "stream" (decoded
            once into memory, faces detected every `detect_every` frames: docs/stream.md). The
            stream path writes only the result files, in work_dir's pywork/REFERENCE.
        """
        from syncnet.io.media import require_scorable

        pipeline, scoring, outputs, timeline = _merged_options(pipeline, scoring, outputs, timeline, options)
        path = as_path(path, "path")
        reference = _name(reference)
        if mode == "stream":
            return self._score_stream(path, work_dir, reference, faces, pipeline, scoring, outputs, timeline,
                                      StreamOptions(**({} if detect_every is None else
                                                       {"detect_every": detect_every})))
        if mode != "faithful" or detect_every is not None:
            from syncnet.errors import InputError

            raise InputError(f"--mode {mode!r}: expected faithful or stream" if mode != "faithful" else
                             "--detect_every applies to --mode stream only")
        probed = require_scorable(path)  # before any folder is made
        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="syncnet-") as temporary:
                result = self._score_in(path, temporary, reference or "video", faces, False, pipeline,
                                        scoring, outputs, timeline, quiet, probed)
            return dataclasses.replace(result, files={})
        return self._score_in(path, as_path(work_dir, "work_dir"), reference or reference_for(path), faces,
                              reuse_faces, pipeline, scoring, outputs, timeline, quiet, probed)

    def _score_in(self, path, work_dir, reference, faces, reuse_faces, pipeline, scoring, outputs, timeline,
                  quiet, probed):
        with Layout(work_dir, reference).lock():
            self.find_tracks(path, work_dir, reference, pipeline, faces=faces, reuse_faces=reuse_faces,
                             quiet=quiet, probed=probed)
            return self.score_tracks(work_dir, reference, scoring, outputs, videofile=path, quiet=quiet,
                                     timeline=timeline)


    def _score_stream(self, path, work_dir, reference, faces, pipeline, scoring, outputs, timeline, stream):
        """score's stream path (syncnet.stream.scorer); result files only with a work_dir."""
        from syncnet.detection import get_detector
        from syncnet.io.media import require_face_sized, require_scorable
        from syncnet.pipeline.detection import check_faces
        from syncnet.stream.scorer import score_stream

        info, alignment = require_scorable(path)
        faces = None if faces is None else check_faces(faces, "faces")
        if faces is None:
            require_face_sized(path, info, pipeline.facedet_scale, get_detector(self.models.detector).min_input_side)
        from syncnet.timeline import score_timeline

        timeline_of = None if timeline is None else functools.partial(
            score_timeline, vshift=scoring.vshift, options=timeline, min_conf=outputs.min_conf)
        result = score_stream(path, self.syncnet, None if faces is not None else self.detector, pipeline, scoring,
                              stream, faces=faces, alignment=alignment, timeline_of=timeline_of,
                              reference=reference or reference_for(path))
        if work_dir is None:
            return result
        from syncnet.scoring.results import write_results

        layout = _layout(work_dir, result.reference)
        os.makedirs(layout.work, exist_ok=True)
        with layout.lock():
            files = write_results(layout.work, result, outputs.speaker_threshold)
        return dataclasses.replace(result, files=files)


def _name(reference):
    """A folder name given as str or bytes, as str (Layout checks that it is a plain name)."""
    return os.fsdecode(reference) if isinstance(reference, bytes) else reference


def _layout(work_dir, reference):
    return Layout(as_path(work_dir, "work_dir"), _name(reference))


def _merged_options(pipeline, scoring, outputs, timeline, options):
    """The four option groups: the instances given (else the defaults), with `options` applied."""
    return with_options((pipeline or PipelineOptions(), scoring or ScoringOptions(), outputs or OutputOptions(),
                         timeline or TimelineOptions()), options)


def score_video(path, *, work_dir=None, reference=None, device="auto", syncnet_model=None,
                s3fd_model=None, detector=ModelOptions.detector, faces=None, quiet=True, mode="faithful",
                detect_every=None, **options) -> VideoResult:
    """Score a video end to end: its face tracks, and each track's offset, LSE-D and LSE-C.

    The other arguments are VideoScorer's and VideoScorer.score's. Options are checked before
    any model loads.
    """
    _merged_options(None, None, None, None, options)
    scorer = VideoScorer(device=device, syncnet_model=syncnet_model, s3fd_model=s3fd_model, detector=detector)
    return scorer.score(path, work_dir=work_dir, reference=reference, faces=faces, quiet=quiet, mode=mode,
                        detect_every=detect_every, **options)

"""The Python API: score a whole video (face tracks, then SyncNet on each) and get typed results.

    from syncnet.api import score_video

    result = score_video("interview.mp4")
    for track in result.tracks:
        print(track.track, track.offset, track.min_dist, track.confidence)

It runs exactly what run_pipeline.py and run_syncnet.py run, with the same options and defaults,
so it gives the same numbers. Nothing is printed. Without `work_dir` the intermediate folders go
to a temporary folder that is removed afterwards; with it, they stay there as the scripts leave
them (pyavi/, pycrop/, pywork/, pyframes/, pytmp/ under `work_dir`). To score many videos, make
one `VideoScorer` and call its `score` for each: the networks are loaded once.
"""
import argparse
import copy
import os
import tempfile
from dataclasses import dataclass
from typing import List

import numpy as np

from .fileio import save_pickle
from .layout import Layout, reference_for
from .paths import SYNCNET_DEFAULT, find_s3fd_weights

# Options that score()'s own parameters set; every other run_pipeline.py option, and
# batch_size, vshift and quiet, can be passed to score() by name.
_SET_BY_PARAMETERS = frozenset({"data_dir", "videofile", "reference", "s3fd_model", "reuse_faces",
                                "device", "debug"})


@dataclass(frozen=True)
class TrackResult:
    """One face track and its sync."""
    track: int                     # index: the track's crop is pycrop/REFERENCE/%05d.avi
    offset: int                    # AV offset in frames; positive = the audio is early
    min_dist: float                # LSE-D: mean distance at the best offset (lower = better sync)
    confidence: float              # LSE-C: median minus minimum of the mean distances
    frames: np.ndarray             # the track's frame numbers (consecutive, 25 fps, from 0)
    boxes: np.ndarray              # len(frames) x 4 face box (x1, y1, x2, y2) in each frame, in pixels
    frame_confidence: np.ndarray   # per frame of the track, as run_visualise.py colours the box
    dists: np.ndarray              # windows x (2*vshift+1) distances, as stored in activesd.pckl


@dataclass(frozen=True)
class VideoResult:
    video: str                     # the path that was scored
    n_frames: int                  # frames of the 25 fps converted video
    tracks: List[TrackResult]      # in crop order; empty when no face track was kept


def pipeline_options(videofile, **options):
    """run_pipeline.py's options at their defaults plus run_syncnet.py's batch_size and vshift,
    for `videofile`, with `options` applied. An unknown option name raises TypeError."""
    import run_pipeline
    import run_syncnet

    opt = run_pipeline.build_parser().parse_args([])
    scoring = run_syncnet.build_parser()
    opt.batch_size = scoring.get_default("batch_size")
    opt.vshift = scoring.get_default("vshift")
    opt.videofile = os.fspath(videofile)
    allowed = set(vars(opt)) - _SET_BY_PARAMETERS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}")
    vars(opt).update(options)
    return opt


class VideoScorer:
    """SyncNet and S3FD loaded once, to score any number of videos.

    `syncnet_model` and `s3fd_model` default to the official files in the reference's places,
    else in the model cache (see syncnet.paths). S3FD is loaded only when faces must be detected.
    """

    def __init__(self, device="auto", syncnet_model=None, s3fd_model=None):
        from SyncNetInstance import SyncNetInstance

        self.device = device
        self.s3fd_model = s3fd_model
        self._syncnet = SyncNetInstance(device=device)
        self._syncnet.loadParameters(syncnet_model if syncnet_model is not None else SYNCNET_DEFAULT)
        self._detector = None

    def _make_detector(self):
        if self._detector is None:
            from detectors import S3FD

            self._detector = S3FD(device=self.device, weights=find_s3fd_weights(self.s3fd_model))
        return self._detector

    def score(self, path, *, work_dir=None, reference=None, faces=None, **options) -> VideoResult:
        """Score every face track of the video at `path`.

        work_dir: where the intermediate folders go (default: a temporary folder, removed after).
        reference: the name of this video's folders there (default: from the file name).
        faces: detections to use instead of S3FD's, in faces.pckl's format: for each frame of the
            25 fps converted video, a list of {'frame': f, 'bbox': [x1, y1, x2, y2], 'conf': score}.
        options: run_pipeline.py's options by name (facedet_scale, crop_scale, min_track,
            frame_rate, num_failed_det, min_face_size), and batch_size, vshift, quiet.
        """
        opt = pipeline_options(path, **options)
        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="syncnet-") as temporary:
                opt.data_dir, opt.reference = temporary, reference or "video"
                return self.run(opt, faces)
        opt.data_dir, opt.reference = os.fspath(work_dir), reference or reference_for(path)
        return self.run(opt, faces)

    def run(self, opt, faces=None) -> VideoResult:
        """Score opt.videofile with a full set of run_pipeline.py options (see pipeline_options),
        data_dir and reference included; writes what run_pipeline.py and run_syncnet.py write."""
        import run_pipeline as pipeline_script
        from .pipeline import run_pipeline
        from .results import track_results, write_results
        from .scoring import track_frame_confidence

        pipeline_script.check_options(opt)
        layout = Layout(opt.data_dir, opt.reference)
        if faces is not None:
            os.makedirs(layout.work, exist_ok=True)
            save_pickle(faces, os.path.join(layout.work, "faces.pckl"))
            opt = copy.copy(opt)
            opt.reuse_faces = True
        cropped = run_pipeline(opt, layout, self._make_detector)

        scoring = argparse.Namespace(batch_size=opt.batch_size, vshift=opt.vshift, quiet=opt.quiet,
                                     tmp_dir=os.path.join(opt.data_dir, "pytmp"), reference=opt.reference)
        crop_files = [os.path.join(layout.crop, "%05d.avi" % index) for index in range(len(cropped))]
        dists_per_track = [self._syncnet.evaluate(scoring, crop_file, verbose=False)[2]
                           for crop_file in crop_files]
        records = track_results(crop_files, dists_per_track, cropped, opt.vshift)
        write_results(layout.work, dists_per_track, records, opt.videofile, opt.reference)

        tracks = []
        for record, entry, dists in zip(records, cropped, dists_per_track):
            frames = np.asarray(entry["track"]["frame"])
            tracks.append(TrackResult(
                track=record["track"], offset=record["offset"], min_dist=record["min_dist"],
                confidence=record["confidence"], frames=frames,
                boxes=np.asarray(entry["track"]["bbox"]),
                frame_confidence=track_frame_confidence(dists)[:len(frames)], dists=dists))
        return VideoResult(video=opt.videofile, n_frames=len(layout.frame_files()), tracks=tracks)


def score_video(path, *, work_dir=None, reference=None, device="auto", syncnet_model=None,
                s3fd_model=None, faces=None, **options) -> VideoResult:
    """Score a video end to end: its face tracks, and each track's offset, LSE-D and LSE-C.

    device: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'. The other arguments are
    VideoScorer's and VideoScorer.score's.
    """
    scorer = VideoScorer(device=device, syncnet_model=syncnet_model, s3fd_model=s3fd_model)
    return scorer.score(path, work_dir=work_dir, reference=reference, faces=faces, **options)

"""run_syncnet's stage: SyncNet on every face track that run_pipeline cropped, and the results written.

It reads what a completed run_pipeline left (pipeline.json, tracks.pckl and pycrop/), scores
each crop as the demo does, and writes activesd.pckl, offsets.txt/json, speakers.json,
timeline.json, asd.csv and speakers.rttm from one set of TrackResults.
"""
import dataclasses
import logging
import os

import numpy as np

from syncnet.errors import InputError, TooShortError
from syncnet.io import media
from syncnet.io.fileio import load_pickle
from syncnet.io.layout import fresh_owned_dir, remove_owned_dir
from syncnet.io.locking import FolderLock
from syncnet.options import OutputOptions, ScoringOptions
from syncnet.scoring.face_video import score_face_video
from syncnet.scoring.offsets import column_count
from syncnet.scoring.results import CLIP_TOO_SHORT, VideoResult, track_result, write_results

log = logging.getLogger(__name__)


def read_tracks(layout, step):
    """(pipeline record, Layout with its container, tracks.pckl entries) of a completed
    pipeline, with every crop file they imply checked."""
    record, layout = layout.require_pipeline(step)
    path = layout.work_file("tracks.pckl")
    try:
        tracks = load_pickle(path)
    except Exception as error:
        raise InputError(f"cannot read {path} ({error}): run run_pipeline.py again") from None
    if not isinstance(tracks, list) or len(tracks) != record.get("n_tracks"):
        raise InputError(f"{path} does not match {layout.work_file('pipeline.json')}: run run_pipeline.py again")
    for index in range(len(tracks)):
        if not os.path.isfile(layout.crop_file(index)):
            raise InputError(f"{layout.crop_file(index)} is missing: run run_pipeline.py again")
    return record, layout, tracks


def unscored_reason(record, results):
    """Why no track of a video is scored (None when one is): tracking's reason from its
    pipeline.json, or CLIP_TOO_SHORT when tracks were kept but none had a window to score."""
    if any(track.scored for track in results):
        return None
    if results:
        return CLIP_TOO_SHORT
    return (record.get("tracking") or {}).get("reason")


def score_tracks(layout, get_network, scoring=ScoringOptions(), outputs=OutputOptions(), *,
                 videofile=None, quiet=True, timeline_of=None):
    """Score every track of `layout`; returns the VideoResult, with the result files written.

    `get_network()` gives the loaded SyncNet (syncnet.models.inference.InferenceSyncNet); it is called
    only when there is a track to score. A track whose audio ended before it had any window
    to score is kept, unscored (NaN), with a warning. With `timeline_of`, each scored track
    carries `timeline_of(its FaceVideoScore)` as its timeline, written to timeline.json: the
    orchestrator passes syncnet.timeline's, so that scoring does not depend on the timeline.
    """
    with layout.lock(), FolderLock(layout.tmp):
        record, layout, tracks = read_tracks(layout, "run_syncnet.py")
        results = []
        for index, entry in enumerate(tracks):
            crop = layout.crop_file(index)
            scratch = fresh_owned_dir(layout.tmp, "choose another --data_dir or --reference")
            try:
                score = score_face_video(get_network(), crop, scratch, scoring, quiet=quiet)
                summary, dists = score.summary, score.dists
                sync_timeline = None if timeline_of is None else timeline_of(score)
            except TooShortError as error:
                log.warning("track %d is not scored: %s", index, error)
                summary, sync_timeline = None, None
                dists = np.zeros((0, column_count(scoring.vshift)), dtype=np.float32)
            results.append(track_result(index, entry, summary, dists, os.path.basename(crop), sync_timeline))
        remove_owned_dir(layout.tmp)
        if not tracks:
            log.warning("no face tracks in %s: writing empty results", layout.crop)
        result = VideoResult(video=os.fspath(videofile) if videofile else record.get("videofile", ""),
                             n_frames=record["n_frames"], tracks=results, reference=layout.reference,
                             converted=layout.video, reason=unscored_reason(record, results))
        info = media.probe(layout.video)
        files = write_results(layout.work, result, outputs, (info.width, info.height))
    return dataclasses.replace(result, files=files)

"""Validation that a user can read: held-out clips with known audio shifts, scored by the very
code demo_syncnet.py runs (syncnet.scoring.face_video.score_face_video), counted right when the
`AV offset` found is the shift applied (exactly, or within one frame)."""
import copy
import logging
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from syncnet.io import media
from syncnet.models.inference import InferenceSyncNet
from syncnet.options import ScoringOptions
from syncnet.scoring.face_video import score_face_video
from syncnet.scoring.offsets import column_of_offset, column_offsets

log = logging.getLogger(__name__)

VAL_FOLDER = "val"
VSHIFT = ScoringOptions.vshift  # the demo's search range, -15..+15
SAMPLES_PER_FRAME = media.SAMPLE_RATE // media.FRAME_RATE


@dataclass(frozen=True)
class ValItem:
    path: str        # a held-out clip with its audio made `shift` frames early
    source: str      # the clip it was made from
    shift: int       # the AV offset the scorer should find


def _shifted(samples, shift):
    """The audio made `shift` frames early (positive) or late (negative), same length, silence
    where nothing was."""
    moved = shift * SAMPLES_PER_FRAME
    out = np.zeros_like(samples)
    if moved >= 0:
        out[:len(samples) - moved] = samples[moved:]
    else:
        out[-moved:] = samples[:len(samples) + moved]
    return out


def make_val_items(paths, count, max_shift, seed, folder):
    """`count` validation videos in `folder`, cycling over the held-out clips `paths`, each with
    a seeded shift in -max_shift..+max_shift (spread over the range). Made once per run."""
    os.makedirs(folder, exist_ok=True)
    shifts = np.random.default_rng([seed, 11]).permutation(np.arange(-max_shift, max_shift + 1))
    items = []
    for index in range(count):
        source = paths[index % len(paths)]
        shift = int(shifts[index % len(shifts)])
        target = os.path.join(folder, f"val{index:04d}_shift{shift:+d}.mkv")
        if not os.path.isfile(target):
            with tempfile.TemporaryDirectory(prefix="syncnet-val-") as work:
                wav = os.path.join(work, "audio.wav")
                media.extract_audio(source, wav)
                moved = os.path.join(work, "moved.wav")
                media.write_wav(moved, _shifted(media.read_wav(wav), shift))
                media.mux(source, moved, target, audio_codec="pcm_s16le")
        items.append(ValItem(path=target, source=source, shift=shift))
    return items


def validate(model, items, work_root, min_negative_shift, device="cpu"):
    """Offset accuracy (exact, within one frame), mean distance at the true offset (positive)
    and beyond ±min_negative_shift of it (negative), and mean LSE-C, over `items`."""
    network = InferenceSyncNet(copy.deepcopy(model).cpu()).to(device)
    exact, within, positive, negative, confidence = [], [], [], [], []
    offsets = column_offsets(VSHIFT)
    for item in items:
        with tempfile.TemporaryDirectory(prefix="val-", dir=work_root) as work:
            score = score_face_video(network, item.path, work, ScoringOptions(), quiet=True)
        found = score.summary.offset
        exact.append(found == item.shift)
        within.append(abs(found - item.shift) <= 1)
        mean = score.dists.mean(0)
        positive.append(float(mean[column_of_offset(item.shift, VSHIFT)]))
        negative.append(float(mean[np.abs(offsets - item.shift) > min_negative_shift].mean()))
        confidence.append(score.summary.confidence)
    return {"val_exact": float(np.mean(exact)), "val_within1": float(np.mean(within)),
            "pos_dist": float(np.mean(positive)), "neg_dist": float(np.mean(negative)),
            "lse_c": float(np.mean(confidence))}

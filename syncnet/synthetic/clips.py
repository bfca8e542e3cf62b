"""Synthetic talking-mouth clips with known truth: a face crop, or a full scene with two faces.

Each clip is written with ffmpeg (syncnet.io.media) from raw BGR frames and 16 kHz mono PCM,
through a temporary folder, and appears complete or not at all.
"""
import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from syncnet.io import media
from syncnet.io.fileio import atomic_path, save_json
from syncnet.synthetic.faces import FaceLook, Wobble, background, draw_face
from syncnet.synthetic.profiles import constant
from syncnet.synthetic.speech import Speech

FACE_SIZE = 224


@dataclass
class ClipTruth:
    """What a synthetic clip holds, by construction."""
    path: str
    seconds: float
    offset: object                      # the profile (constant / linear / jump)
    silences: tuple = ()
    speaker: Optional[int] = None       # make_scene_clip: which face speaks
    faces: Optional[list] = None        # make_scene_clip: faces.pckl's format, one list per frame
    seed: int = 0
    mp3: bool = False
    scene_cut_s: Optional[float] = None
    mouths: np.ndarray = field(default=None, repr=False)  # the drawn opening per frame (speaker's)

    def offset_at(self, t_s):
        """The offset in video frames at time `t_s` (positive = audio early)."""
        return float(self.offset.at(t_s, self.seconds))

    def write_faces(self, json_path):
        """Write the per-frame face boxes as run_pipeline --faces FILE.json takes them."""
        if self.faces is None:
            raise ValueError(f"{self.path} is a face clip: it has no scene boxes")
        save_json(self.faces, json_path)


def _write_clip(path, frames, size, samples, mp3):
    """Encode `frames` (an iterable of BGR uint8 images of `size` (w, h)) and `samples` into `path`
    (.avi: MPEG-4 video with PCM audio, as run_pipeline's crops; other containers: AAC audio)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="syncnet-synthetic-") as folder:
        raw = os.path.join(folder, "frames.bgr")
        with open(raw, "wb") as handle:
            for image in frames:
                handle.write(np.ascontiguousarray(image).tobytes())
        wav = os.path.join(folder, "audio.wav")
        media.write_wav(wav, samples)
        if mp3:
            coded = os.path.join(folder, "audio_mp3.wav")
            media.mp3_round_trip(wav, coded, folder)
            wav = coded
        audio_codec = "pcm_s16le" if path.lower().endswith(".avi") else "aac"
        with atomic_path(path) as temporary:
            media.run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{size[0]}x{size[1]}",
                              "-r", str(media.FRAME_RATE), "-i", raw, "-i", wav, "-map", "0:v", "-map", "1:a",
                              "-c:v", "mpeg4", "-qscale:v", "2", "-pix_fmt", "yuv420p", "-c:a", audio_codec,
                              "-ar", str(media.SAMPLE_RATE), "-ac", "1", os.path.abspath(temporary)],
                             f"write the synthetic clip {path}")


def _frame_count(seconds):
    return int(round(seconds * media.FRAME_RATE))


def _noisy(rng, image, sigma):
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def make_face_clip(path, seconds=4.0, seed=0, offset=constant(0), silences=(), mp3=False):
    """A 224x224, 25 fps talking face (what run_pipeline's pycrop/ holds) with 16 kHz mono audio.

    The mouth opens with the speech's loudness; the audio is ahead of it by `offset` (a profile
    of syncnet.synthetic.profiles). `silences` are (start_s, stop_s) spans of the speech without
    sound or mouth movement; `mp3` passes the audio through an MP3 round trip. Returns a ClipTruth.
    """
    rng = np.random.default_rng(seed)
    speech = Speech(rng, seconds, silences)
    look = FaceLook.draw(rng)
    scene = background(rng, FACE_SIZE, FACE_SIZE)
    half_height = rng.uniform(62, 88)
    centre = FACE_SIZE / 2 + rng.uniform(-6, 6, size=2)
    wobble_x, wobble_y = Wobble(rng, 3.0), Wobble(rng, 3.0)
    sigma = rng.uniform(0.5, 5.0)
    n_frames = _frame_count(seconds)
    mouths = speech.mouth(n_frames)

    def frames():
        for index, opening in enumerate(mouths):
            t = index / media.FRAME_RATE
            canvas = scene.copy()
            draw_face(canvas, look, (centre[0] + wobble_x(t), centre[1] + wobble_y(t)), half_height, opening)
            yield _noisy(rng, canvas, sigma)

    samples = speech.audio(rng, lambda t: offset.at(t, seconds))
    _write_clip(path, frames(), (FACE_SIZE, FACE_SIZE), samples, mp3)
    return ClipTruth(path=os.fspath(path), seconds=seconds, offset=offset, silences=speech.silences, seed=seed,
                     mp3=mp3, mouths=mouths)


def make_scene_clip(path, seconds=8.0, seed=0, size=(640, 360), speaker=0, offset=constant(0), scene_cut_s=None,
                    mp3=False):
    """A full frame with two faces; only face `speaker` (0 = left, 1 = right) moves its mouth with
    the audio, the other with speech of its own that is not heard. At `scene_cut_s` the shot
    changes: a new background, the faces move and change look (face 0 stays on the left).

    Returns a ClipTruth whose `faces` are per-frame boxes in faces.pckl's format.
    """
    if speaker not in (0, 1):
        raise ValueError(f"speaker {speaker!r}: expected 0 or 1")
    rng = np.random.default_rng(seed)
    width, height = size
    speeches = [Speech(rng, seconds), Speech(rng, seconds)]
    heard = speeches[speaker]
    n_frames = _frame_count(seconds)
    mouths = [s.mouth(n_frames) for s in speeches]

    def shot():
        """One shot's look: background, and per face (look, centre, half-height, wobble)."""
        faces = []
        for side in (0, 1):
            half_height = rng.uniform(0.2, 0.26) * height
            centre = (width * (0.27 + 0.46 * side) + rng.uniform(-0.05, 0.05) * width,
                      height * rng.uniform(0.45, 0.55))
            faces.append((FaceLook.draw(rng), centre, half_height, Wobble(rng, 4.0), Wobble(rng, 3.0)))
        return background(rng, width, height), faces

    shots = [shot(), shot() if scene_cut_s is not None else None]
    sigma = rng.uniform(0.5, 4.0)
    boxes = []

    def frames():
        for index in range(n_frames):
            t = index / media.FRAME_RATE
            scene, faces = shots[1] if scene_cut_s is not None and t >= scene_cut_s else shots[0]
            canvas = scene.copy()
            entries = []
            for side, (look, centre, half_height, wobble_x, wobble_y) in enumerate(faces):
                x, y = centre[0] + wobble_x(t), centre[1] + wobble_y(t)
                draw_face(canvas, look, (x, y), half_height, mouths[side][index])
                half_width, _ = look.half_size(half_height)
                # A detector's box: square, from the brow to the chin, as S3FD's boxes are.
                side_half = max(half_width, 0.9 * half_height)
                entries.append({"frame": index, "bbox": [float(x - side_half), float(y - half_height * 0.95),
                                                        float(x + side_half), float(y + half_height * 1.0)],
                                "conf": 0.999})
            boxes.append(entries)
            yield _noisy(rng, canvas, sigma)

    samples = heard.audio(rng, lambda t: offset.at(t, seconds))
    _write_clip(path, frames(), size, samples, mp3)
    return ClipTruth(path=os.fspath(path), seconds=seconds, offset=offset, speaker=speaker, faces=boxes,
                     seed=seed, mp3=mp3, scene_cut_s=scene_cut_s, mouths=mouths[speaker])

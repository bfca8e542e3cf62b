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
    scene: Optional[str] = None         # make_conversation_clip: which of CONVERSATIONS
    # make_conversation_clip: per frame and face (n_frames x 2, face 0 = left), whether that face
    # is speaking what is heard, in sync (the truth an active-speaker decision is scored against)
    speaking: np.ndarray = field(default=None, repr=False)
    voice_over: np.ndarray = field(default=None, repr=False)  # per frame: the narrator off screen is heard
    desynced: Optional[int] = None      # the face whose speech is heard shifted by shift_frames
    shift_frames: float = 0.0

    def offset_at(self, t_s):
        """The offset in video frames at time `t_s` (positive = audio early)."""
        return float(self.offset.at(t_s, self.seconds))

    def speaker_at(self, frame):
        """The face speaking in sync on `frame` (0, 1), both (-1, an overlap), or None: the frame's
        truth of a conversation clip."""
        speaking = np.flatnonzero(self.speaking[frame])
        return None if len(speaking) == 0 else int(speaking[0]) if len(speaking) == 1 else -1

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


def _two_face_shot(rng, size):
    """One shot's look: background, and per face (look, centre, half-height, wobble x, wobble y);
    face 0 on the left."""
    width, height = size
    faces = []
    for side in (0, 1):
        half_height = rng.uniform(0.2, 0.26) * height
        centre = (width * (0.27 + 0.46 * side) + rng.uniform(-0.05, 0.05) * width,
                  height * rng.uniform(0.45, 0.55))
        faces.append((FaceLook.draw(rng), centre, half_height, Wobble(rng, 4.0), Wobble(rng, 3.0)))
    return background(rng, width, height), faces


def _two_face_frames(rng, size, mouths, shots, scene_cut_s, sigma, boxes):
    """The frames of a two-face scene (a generator: the noise is drawn as they are written), with
    each face's mouth opening from `mouths`; appends each frame's boxes, in faces.pckl's format, to
    `boxes`. From `scene_cut_s` on, the second shot of `shots`."""
    for index in range(len(mouths[0])):
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
    speeches = [Speech(rng, seconds), Speech(rng, seconds)]
    heard = speeches[speaker]
    n_frames = _frame_count(seconds)
    mouths = [s.mouth(n_frames) for s in speeches]

    shots = [_two_face_shot(rng, size), _two_face_shot(rng, size) if scene_cut_s is not None else None]
    sigma = rng.uniform(0.5, 4.0)
    boxes = []
    frames = _two_face_frames(rng, size, mouths, shots, scene_cut_s, sigma, boxes)
    samples = heard.audio(rng, lambda t: offset.at(t, seconds))
    _write_clip(path, frames, size, samples, mp3)
    return ClipTruth(path=os.fspath(path), seconds=seconds, offset=offset, speaker=speaker, faces=boxes,
                     seed=seed, mp3=mp3, scene_cut_s=scene_cut_s, mouths=mouths[speaker])


# The conversation scenes of make_conversation_clip, as shares of the clip's length: per face, the
# spans its mouth moves and the spans its speech is heard; the narrator's spans; which face's
# audio is shifted. A face whose mouth moves unheard (the voice-over) is a dubbed face.
CONVERSATIONS = {
    # two faces take turns, a quarter of the clip each, the listener's mouth still
    "turns": {"mouth": (((0, .25), (.5, .75)), ((.25, .5), (.75, 1))),
              "heard": (((0, .25), (.5, .75)), ((.25, .5), (.75, 1))), "narrator": ()},
    # both speak at once for the middle fifth of the clip
    "overlap": {"mouth": (((0, .6),), ((.4, 1),)), "heard": (((0, .6),), ((.4, 1),)), "narrator": ()},
    # the left face speaks, then a narrator off screen is heard while its mouth goes on moving
    # unheard; then the right face speaks
    "voiceover": {"mouth": (((0, 2 / 3),), ((2 / 3, 1),)), "heard": (((0, 1 / 3),), ((2 / 3, 1),)),
                  "narrator": ((1 / 3, 2 / 3),)},
    # the left face speaks all along, its audio shifted by shift_frames; the right face is still
    "desync": {"mouth": (((0, 1),), ()), "heard": (((0, 1),), ()), "narrator": (), "desynced": 0},
}
_RAMP_S = 0.01  # a heard span fades in and out over this, as a microphone's gain would


def _spans_s(shares, seconds):
    return [(start * seconds, stop * seconds) for start, stop in shares]


def _outside(spans, seconds):
    """The complement of `spans` within the clip and its margins: the silences of a speech that
    is heard (or moves a mouth) only inside them."""
    edges, start = [], -seconds
    for span_start, span_stop in sorted(spans):
        edges.append((start, span_start))
        start = span_stop
    return [span for span in edges + [(start, 2 * seconds)] if span[1] > span[0]]


def _gain(spans, n_samples):
    """1 inside `spans` (seconds), 0 outside, with short linear ramps at the edges."""
    t = np.arange(n_samples) / media.SAMPLE_RATE
    gain = np.zeros(n_samples)
    for start, stop in spans:
        rise = np.clip((t - start) / _RAMP_S + 0.5, 0, 1) if start > 0 else 1.0
        fall = np.clip((stop - t) / _RAMP_S + 0.5, 0, 1)
        gain = np.maximum(gain, np.minimum(rise, fall))
    return gain


def _within(spans, t_s):
    inside = np.zeros(len(t_s), dtype=bool)
    for start, stop in spans:
        inside |= (t_s >= start) & (t_s < stop)
    return inside


def make_conversation_clip(path, scene="turns", seconds=4.0, seed=0, size=(640, 360), shift_frames=8, mp3=False):
    """A full frame with two faces in one of the CONVERSATIONS: taking turns ("turns"), speaking
    at once for a stretch ("overlap"), a narrator off screen over a face that goes on moving its
    lips ("voiceover"), or a face whose heard audio is `shift_frames` early ("desync"; positive =
    audio early, the suite's sign).

    Returns a ClipTruth with per-frame boxes (`faces`, faces.pckl's format) and the truth of who
    speaks in sync on each frame (`speaking`, n_frames x 2; `speaker_at(frame)`); the narrator's
    frames in `voice_over`. A desynchronised face is never speaking in sync.
    """
    if scene not in CONVERSATIONS:
        raise ValueError(f"scene {scene!r}: expected one of {', '.join(CONVERSATIONS)}")
    script = CONVERSATIONS[scene]
    desynced = script.get("desynced")
    rng = np.random.default_rng(seed)
    mouth_spans = [_spans_s(shares, seconds) for shares in script["mouth"]]
    heard_spans = [_spans_s(shares, seconds) for shares in script["heard"]]
    narrator_spans = _spans_s(script["narrator"], seconds)
    speeches = [Speech(rng, seconds, _outside(spans, seconds)) for spans in mouth_spans]
    narrator = Speech(rng, seconds, _outside(narrator_spans, seconds))
    n_frames = _frame_count(seconds)
    mouths = [speech.mouth(n_frames) for speech in speeches]
    shots = [_two_face_shot(rng, size)]
    sigma = rng.uniform(0.5, 4.0)
    boxes = []
    frames = _two_face_frames(rng, size, mouths, shots, None, sigma, boxes)

    n_samples = int(round(seconds * media.SAMPLE_RATE))
    mix = np.zeros(n_samples)
    for face, (speech, spans) in enumerate(zip(speeches, heard_spans)):
        if spans:
            shift = shift_frames if face == desynced else 0
            mix += _gain(spans, n_samples) * speech.audio(rng, lambda t, shift=shift: np.zeros_like(t) + shift)
    if narrator_spans:
        mix += _gain(narrator_spans, n_samples) * narrator.audio(rng, np.zeros_like)
    samples = np.round(mix / (np.abs(mix).max() + 1e-9) * 0.6 * 32767).astype(np.int16)
    _write_clip(path, frames, size, samples, mp3)

    centres = (np.arange(n_frames) + 0.5) / media.FRAME_RATE
    speaking = np.stack([_within(spans, centres) & (face != desynced) for face, spans in enumerate(heard_spans)],
                        axis=1)
    return ClipTruth(path=os.fspath(path), seconds=seconds, offset=constant(0), faces=boxes, seed=seed, mp3=mp3,
                     scene=scene, speaking=speaking, voice_over=_within(narrator_spans, centres),
                     desynced=desynced, shift_frames=float(shift_frames) if desynced is not None else 0.0)

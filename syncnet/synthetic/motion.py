"""Synthetic scenes whose faces move and arrive: for trackers that see only some frames.

make_moving_scene_clip draws a speaking face that crosses the frame and a second face, with
speech of its own that is not heard, that enters part-way through. The clip makers of
clips.py are untouched: their clips stay byte for byte what they were.
"""
import os

import numpy as np

from syncnet.io import media
from syncnet.synthetic.clips import ClipTruth, _frame_count, _noisy, _write_clip
from syncnet.synthetic.faces import FaceLook, Wobble, background, draw_face
from syncnet.synthetic.profiles import constant
from syncnet.synthetic.speech import Speech


def make_moving_scene_clip(path, seconds=4.0, seed=0, size=(640, 360), travel=0.4, enter_s=1.0,
                           offset=constant(0)):
    """A two-face scene: face 0 speaks (the audio is its speech, ahead by `offset`) and moves from
    the left at a constant speed, `travel` of the frame's width over the clip; face 1 appears on
    the right at `enter_s` seconds and mouths speech that is not heard.

    Returns a ClipTruth (speaker 0) whose `faces` list, per frame, the boxes of the faces in view
    (faces.pckl's format, as make_scene_clip's).
    """
    rng = np.random.default_rng(seed)
    width, height = size
    speeches = [Speech(rng, seconds), Speech(rng, seconds)]
    n_frames = _frame_count(seconds)
    mouths = [speech.mouth(n_frames) for speech in speeches]
    looks = [FaceLook.draw(rng), FaceLook.draw(rng)]
    half_heights = [rng.uniform(0.2, 0.26) * height for _ in looks]
    wobbles = [(Wobble(rng, 3.0), Wobble(rng, 3.0)) for _ in looks]
    scene = background(rng, width, height)
    sigma = rng.uniform(0.5, 4.0)
    boxes = []

    def centre(side, t):
        start = (width * 0.2, height * 0.5) if side == 0 else (width * 0.78, height * 0.5)
        drift = width * travel * t / seconds if side == 0 else 0.0
        return start[0] + drift + wobbles[side][0](t), start[1] + wobbles[side][1](t)

    def frames():
        for index in range(n_frames):
            t = index / media.FRAME_RATE
            canvas = scene.copy()
            entries = []
            for side in (0, 1) if t >= enter_s else (0,):
                x, y = centre(side, t)
                draw_face(canvas, looks[side], (x, y), half_heights[side], mouths[side][index])
                half_width, _ = looks[side].half_size(half_heights[side])
                side_half = max(half_width, 0.9 * half_heights[side])
                entries.append({"frame": index, "bbox": [float(x - side_half), float(y - half_heights[side] * 0.95),
                                                        float(x + side_half), float(y + half_heights[side])],
                                "conf": 0.999})
            boxes.append(entries)
            yield _noisy(rng, canvas, sigma)

    samples = speeches[0].audio(rng, lambda t: offset.at(t, seconds))
    _write_clip(path, frames(), size, samples, mp3=False)
    return ClipTruth(path=os.fspath(path), seconds=seconds, offset=offset, speaker=0, faces=boxes, seed=seed,
                     mouths=mouths[0])

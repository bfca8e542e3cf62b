"""Drawn faces: a head, two eyes, and a mouth whose opening follows a speech envelope.

Every look (colours, proportions, mouth shape) and background is drawn from the clip's random
generator. All colours stay at 70 or above, except the inside of an open mouth (below 35), so
the opening can be read back from a decoded frame by counting dark pixels.
"""
from dataclasses import dataclass

import cv2
import numpy as np

_SHIFT = 4            # cv2 drawing with sub-pixel precision: coordinates in 1/16 pixel
_SCALE = 1 << _SHIFT
MOUTH_DARK = 35       # the mouth's inside is darker than this in every channel; nothing else is


def _colour(rng, low=70, high=245):
    return tuple(int(v) for v in rng.integers(low, high, size=3))


@dataclass(frozen=True)
class FaceLook:
    skin: tuple
    eyes: tuple
    lips: tuple
    inside: tuple
    width_ratio: float    # half-width of the head / half-height
    mouth_width: float    # half-width of the mouth / half-height of the head
    mouth_gain: float     # half-height of the fully open mouth / half-height of the head
    lip_thickness: float  # / half-height of the head
    square_mouth: bool

    @classmethod
    def draw(cls, rng):
        """A new random look."""
        return cls(skin=_colour(rng, 90), eyes=_colour(rng, 70, 160), lips=_colour(rng, 70, 200),
                   inside=_colour(rng, 0, MOUTH_DARK - 10), width_ratio=rng.uniform(0.68, 0.9),
                   mouth_width=rng.uniform(0.22, 0.38), mouth_gain=rng.uniform(0.12, 0.24),
                   lip_thickness=rng.uniform(0.035, 0.07), square_mouth=bool(rng.random() < 0.4))

    def half_size(self, half_height):
        """(half-width, half-height) of the head in pixels."""
        return self.width_ratio * half_height, half_height


def background(rng, width, height):
    """A smooth random background: a colour gradient and a few soft blobs, never dark."""
    low, high = np.array(_colour(rng, 70, 200), float), np.array(_colour(rng, 70, 245), float)
    ramp = np.linspace(0, 1, width if rng.random() < 0.5 else height)
    ramp = ramp[None, :] if len(ramp) == width else ramp[:, None]
    image = low + (high - low) * np.broadcast_to(ramp, (height, width))[..., None]
    for _ in range(rng.integers(0, 4)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.1, 0.4) * max(width, height)
        yy, xx = np.mgrid[0:height, 0:width]
        blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * radius ** 2))[..., None]
        image = image * (1 - 0.5 * blob) + 0.5 * blob * np.array(_colour(rng, 70, 245), float)
    return np.clip(image, 70, 255).astype(np.uint8)


def _ellipse(canvas, centre, axes, colour):
    cv2.ellipse(canvas, (int(round(centre[0] * _SCALE)), int(round(centre[1] * _SCALE))),
                (max(int(round(axes[0] * _SCALE)), 0), max(int(round(axes[1] * _SCALE)), 0)),
                0, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)


def draw_face(canvas, look, centre, half_height, opening):
    """Draw `look` on `canvas` (BGR uint8, in place), centred at `centre` (x, y), head
    `half_height` pixels, mouth `opening` (0..1)."""
    cx, cy = centre
    half_width = look.width_ratio * half_height
    _ellipse(canvas, (cx, cy), (half_width, half_height), look.skin)
    for side in (-1, 1):
        _ellipse(canvas, (cx + side * 0.38 * half_width, cy - 0.22 * half_height),
                 (0.13 * half_width, 0.07 * half_height), look.eyes)
    mouth_y = cy + 0.5 * half_height
    mouth_w = look.mouth_width * half_height
    open_half = look.mouth_gain * half_height * float(np.clip(opening, 0, 1))
    lip = look.lip_thickness * half_height
    if look.square_mouth:
        outer = ((cx - mouth_w, mouth_y - open_half - lip), (cx + mouth_w, mouth_y + open_half + lip))
        cv2.rectangle(canvas, *[tuple(int(round(v * _SCALE)) for v in p) for p in outer], look.lips, -1,
                      cv2.LINE_AA, _SHIFT)
        if open_half > 0.25:
            inner = ((cx - 0.85 * mouth_w, mouth_y - open_half), (cx + 0.85 * mouth_w, mouth_y + open_half))
            cv2.rectangle(canvas, *[tuple(int(round(v * _SCALE)) for v in p) for p in inner], look.inside, -1,
                          cv2.LINE_AA, _SHIFT)
    else:
        _ellipse(canvas, (cx, mouth_y), (mouth_w, open_half + lip), look.lips)
        if open_half > 0.25:
            _ellipse(canvas, (cx, mouth_y), (0.85 * mouth_w, open_half), look.inside)


class Wobble:
    """A small, smooth head motion: a sum of slow sinusoids, in pixels."""

    def __init__(self, rng, amplitude):
        self.terms = [(rng.uniform(0, amplitude), rng.uniform(0.1, 0.8), rng.uniform(0, 2 * np.pi))
                      for _ in range(3)]

    def __call__(self, t_s):
        return sum(a * np.sin(2 * np.pi * f * t_s + p) for a, f, p in self.terms)

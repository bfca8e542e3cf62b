"""Syllable-like speech: a loudness envelope e(t) that drives the mouth, and the audio it describes.

Each clip draws its own rhythm (syllable lengths, gaps, pauses), voice (pitch, vowel formants,
breathiness) and noise, so no two clips sound alike; only the link between the loudness and
the mouth opening is shared by all of them.
"""
from dataclasses import dataclass

import numpy as np

from syncnet.io.media import FRAME_RATE, SAMPLE_RATE

# Vowel-like formant pairs (Hz) that shape each syllable's harmonics.
_FORMANTS = ((730, 1090), (270, 2290), (300, 870), (530, 1840), (640, 1190), (490, 1350))
# Warped times reach this far outside the clip (offsets of up to ±25 frames).
_MARGIN_S = 1.0


@dataclass(frozen=True)
class Syllable:
    start: float      # seconds, on the speech's own timeline
    length: float     # seconds
    loudness: float   # 0..1
    pitch: float      # Hz
    formants: tuple   # (F1, F2) Hz


class Speech:
    """One clip's speech: its syllables, voice and noise, drawn from `rng`."""

    def __init__(self, rng, seconds, silences=()):
        self.seconds = seconds
        self.silences = tuple(tuple(map(float, span)) for span in silences)
        tempo = rng.uniform(0.7, 1.4)
        pitch = rng.uniform(90, 260)
        syllables = []
        t = -_MARGIN_S + rng.uniform(0, 0.2)
        while t < seconds + _MARGIN_S:
            length = rng.uniform(0.08, 0.4) / tempo
            syllables.append(Syllable(t, length, rng.uniform(0.35, 1.0), pitch * rng.uniform(0.85, 1.18),
                                      _FORMANTS[rng.integers(len(_FORMANTS))]))
            # Irregular gaps, and pauses between phrases, so that the rhythm has no period that
            # a wrong offset could match.
            gap = rng.exponential(0.12) / tempo + 0.03
            if rng.random() < 0.15:
                gap += rng.uniform(0.2, 0.6)
            t += length + gap
        self.syllables = syllables
        self.attack = rng.uniform(0.2, 0.5)       # share of a syllable spent opening
        self.breathiness = rng.uniform(0.05, 0.35)
        self.noise_floor = rng.uniform(0.002, 0.02)
        self.hum = rng.uniform(0, 0.02)           # a mains-like hum, present in silence too
        self.hum_pitch = rng.choice([50.0, 60.0])

    def envelope(self, t_s):
        """e(t): the loudness (0..1) the speech has at times `t_s` (an array of seconds); zero
        inside the silences."""
        t_s = np.asarray(t_s, dtype=float)
        out = np.zeros_like(t_s)
        for syllable in self.syllables:
            inside = (t_s >= syllable.start) & (t_s < syllable.start + syllable.length)
            if inside.any():
                out[inside] = np.maximum(out[inside], syllable.loudness * self._shape(
                    (t_s[inside] - syllable.start) / syllable.length))
        return out * (1 - self._silent(t_s))

    def _shape(self, phase):
        """A syllable's loudness over its length (phase 0..1): a quick rise, a slower fall."""
        rise = np.sin(0.5 * np.pi * np.minimum(phase / self.attack, 1.0)) ** 2
        fall = np.cos(0.5 * np.pi * np.clip((phase - self.attack) / (1 - self.attack), 0, 1)) ** 2
        return np.where(phase < self.attack, rise, fall)

    def _silent(self, t_s):
        silent = np.zeros_like(t_s)
        for start, stop in self.silences:
            silent[(t_s >= start) & (t_s < stop)] = 1.0
        return silent

    def audio(self, rng, delay_frames):
        """int16 samples at 16 kHz for `self.seconds`: the sample at time t carries the speech of
        time t + delay_frames(t)/25 (`delay_frames` maps an array of times to offsets)."""
        n = int(round(self.seconds * SAMPLE_RATE))
        t = np.arange(n) / SAMPLE_RATE
        speech_t = t + delay_frames(t) / FRAME_RATE
        voiced = np.zeros(n)
        for syllable in self.syllables:
            inside = (speech_t >= syllable.start) & (speech_t < syllable.start + syllable.length)
            if not inside.any():
                continue
            local = speech_t[inside]
            wave = np.zeros(local.shape)
            for harmonic in range(1, int(3500 // syllable.pitch) + 1):
                frequency = harmonic * syllable.pitch
                gain = sum(np.exp(-((frequency - f) / 180.0) ** 2) for f in syllable.formants) + 0.05
                wave += gain / harmonic ** 0.5 * np.sin(2 * np.pi * frequency * local)
            voiced[inside] = wave / (np.abs(wave).max() + 1e-9)
        loudness = self.envelope(speech_t)
        noise = rng.standard_normal(n)
        signal = loudness * ((1 - self.breathiness) * voiced + self.breathiness * noise)
        signal += self.noise_floor * rng.standard_normal(n) + self.hum * np.sin(2 * np.pi * self.hum_pitch * t)
        peak = np.abs(signal).max() + 1e-9
        return np.round(signal / peak * 0.6 * 32767).astype(np.int16)

    def mouth(self, n_frames):
        """The mouth opening (0..1) of each video frame: e at the middle of the frame."""
        return self.envelope((np.arange(n_frames) + 0.5) / FRAME_RATE)

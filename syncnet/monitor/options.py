"""syncnet-monitor's typed options: each default, help text and range, once."""
import math
from dataclasses import dataclass
from typing import Optional

from syncnet.errors import InputError
from syncnet.io.media import FRAME_RATE
from syncnet.monitor.presets import DEFAULT_PRESET, PRESETS, preset_window
from syncnet.options import OutputOptions, ScoringOptions, Validated, choice, option, tolerance_window

FACE_BOXES = ("full",)


def _optional_tolerance(name, value):
    return None if value is None else tolerance_window(name, value)


@dataclass(frozen=True)
class MonitorOptions(Validated):
    """What the monitor measures every hop, and when it raises an alarm."""
    window_s: float = option(5.0, "each hop measures the offset over the last this many seconds", minimum=1.0,
                             maximum=60.0)
    hop_s: float = option(1.0, "a measurement every this many seconds of the stream", minimum=0.2, maximum=60.0)
    hold_s: float = option(3.0, "an alarm is raised (and cleared) after this many seconds of reliable windows "
                                "outside (inside) the tolerance", minimum=0.0, maximum=3600.0)
    preset: str = choice(DEFAULT_PRESET, "the tolerance, named for its standard", PRESETS)
    tolerance_ms: Optional[tuple] = None  # (late_ms, early_ms): replaces the preset's window
    min_conf: float = option(OutputOptions.min_conf, "a window with speech is reliable from this confidence on",
                             minimum=0.0)
    step_frames: int = option(2, "a change of the offset by at least this many frames between two steady "
                                 "stretches is reported as a step", minimum=1, maximum=100, kind=int)
    stride: int = option(1, "score every Nth 5-frame window's lips (2 halves the network's work, for a slow "
                            "machine)", minimum=1, maximum=25, kind=int)
    vshift: int = ScoringOptions.vshift

    def __post_init__(self):
        object.__setattr__(self, "tolerance_ms", _optional_tolerance("tolerance_ms", self.tolerance_ms))
        super().__post_init__()
        preset_window(self.preset)
        from syncnet.scoring.distances import FRAMES_PER_WINDOW  # here: --help must not import torch

        if self.window_frames - FRAMES_PER_WINDOW <= self.vshift:
            raise InputError(f"--window_s {self.window_s:g}: a window must hold more than {self.vshift} "
                             f"5-frame windows to search +-{self.vshift} frames; use --window_s "
                             f"{(self.vshift + FRAMES_PER_WINDOW + 1) / FRAME_RATE:g} or more")

    @property
    def tolerance(self):
        """The in-sync window (late_ms, early_ms): --tolerance_ms, else the preset's."""
        return self.tolerance_ms or preset_window(self.preset)

    @property
    def tolerance_name(self):
        """What the records call the tolerance: the preset's name, or 'custom'."""
        return "custom" if self.tolerance_ms else self.preset

    @property
    def window_frames(self):
        return int(self.window_s * FRAME_RATE + 0.5)  # half a frame up (round() would take 12.5 to 12)

    @property
    def hop_frames(self):
        return max(1, int(self.hop_s * FRAME_RATE + 0.5))

    @property
    def hold_hops(self):
        """Reliable hops in a row that raise or clear an alarm (at least one)."""
        return max(1, math.ceil(self.hold_s / self.hop_s - 1e-9))

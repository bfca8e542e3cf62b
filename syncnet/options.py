"""Typed options, each with its one default, its help text and its valid range.

The scripts build their argparse options from these fields (syncnet.cli.add_options), the API
takes them by name, and the batch runner passes them to its workers: a default is written
here and nowhere else. A bad value raises one InputError that names the option and its range.
"""
import dataclasses
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from syncnet.detection.registry import check_detector_name
from syncnet.errors import InputError


def option(default, help, *, minimum=None, maximum=None, above=None, below=None, kind=float):
    """A dataclass field with its help text and the range a value must lie in."""
    limits = {"minimum": minimum, "maximum": maximum, "above": above, "below": below, "kind": kind}
    return field(default=default, metadata={"help": help, **limits})


def choice(default, help, choices):
    """A dataclass field that takes one of `choices`."""
    return field(default=default, metadata={"help": help, "choices": tuple(choices), "kind": str})


def _parsed(default, help, parse, shown):
    """A dataclass field whose value `parse(name, value)` checks and converts (raising InputError);
    `shown` is the default as a user would type it."""
    return field(default=default, metadata={"help": help, "parse": parse, "shown": shown})


def _range_text(meta):
    noun = "an integer" if meta["kind"] is int else "a number"
    shown = "{}".format if meta["kind"] is int else "{:g}".format
    bounds = [f"{sign} {shown(meta[limit])}" for limit, sign in
              (("above", ">"), ("minimum", ">="), ("below", "<"), ("maximum", "<=")) if meta[limit] is not None]
    return f"{noun} {' and '.join(bounds)}" if bounds else noun


def checked_number(name, value, kind=float, *, minimum=None, maximum=None, above=None, below=None):
    """`value` as `kind`, or InputError naming `--name` and its valid range (NaN and infinity
    never pass): for the options that are not fields of the dataclasses below."""
    return _checked(name, value, {"kind": kind, "minimum": minimum, "maximum": maximum, "above": above,
                                  "below": below})


def as_path(value, name):
    """A path given as str, bytes or os.PathLike, as str (bytes decoded as the file system
    does), or InputError naming `name`."""
    try:
        path = os.fsdecode(os.fspath(value))
    except TypeError:
        raise InputError(f"{name} {value!r}: expected a path (str, bytes or os.PathLike)") from None
    if not path or "\0" in path:
        raise InputError(f"{name} {path!r}: expected a path (not empty, without NUL bytes)")
    return path


def _checked(name, value, meta):
    """`value` as the field's type, or InputError naming `--name` and its valid range."""
    kind = meta["kind"]
    wanted = _range_text(meta)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"--{name} {value!r}: expected {wanted}")
    if kind is int:
        if not isinstance(value, numbers.Integral) and not float(value).is_integer():
            raise InputError(f"--{name} {value}: expected {wanted}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"--{name} {value}: expected {wanted}")
    fails = ((meta["minimum"] is not None and value < meta["minimum"])
             or (meta["maximum"] is not None and value > meta["maximum"])
             or (meta["above"] is not None and value <= meta["above"])
             or (meta["below"] is not None and value >= meta["below"]))
    if fails:
        raise InputError(f"--{name} {value if kind is int else format(value, 'g')}: expected {wanted}")
    return value


class Validated:
    """Checks every field on construction; values are stored as the field's type."""

    def __post_init__(self):
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if "choices" in spec.metadata:
                if value not in spec.metadata["choices"]:
                    raise InputError(f"--{spec.name} {value!r}: expected one of {', '.join(spec.metadata['choices'])}")
            elif "parse" in spec.metadata:
                object.__setattr__(self, spec.name, spec.metadata["parse"](spec.name, value))
            elif "kind" in spec.metadata and not (value is None and spec.default is None):
                object.__setattr__(self, spec.name, _checked(spec.name, value, spec.metadata))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


CONTAINERS = ("avi", "mp4")


@dataclass(frozen=True)
class PipelineOptions(Validated):
    """run_pipeline's face-track steps, with the reference's defaults."""
    facedet_scale: float = option(0.25, "frames are resized by this factor for face detection",
                                  above=0, maximum=4)
    facedet_conf: float = option(0.9, "face detections need a score above this (the reference's 0.9)",
                                 minimum=0, below=1)
    crop_scale: float = option(0.40, "margin added around the face box when cropping", minimum=0, maximum=4)
    min_track: int = option(100, "a track needs more detections than this (frames)", minimum=0, kind=int)
    frame_rate: int = option(25, "frame rate of the face crops", minimum=1, maximum=1000, kind=int)
    num_failed_det: int = option(25, "frames without a detection that a track may bridge", minimum=0, kind=int)
    min_face_size: int = option(100, "mean face size a track needs (pixels)", minimum=0, kind=int)
    container: str = choice("avi", "the converted video and the face crops: avi (the reference's: XVID crops with "
                            "PCM audio) or mp4 (LatentSync's evaluation: mp4v crops with AAC audio)", CONTAINERS)


@dataclass(frozen=True)
class ScoringOptions(Validated):
    """SyncNet's evaluation of a face video, with the reference's defaults."""
    batch_size: int = option(20, "windows per network batch", minimum=1, maximum=100000, kind=int)
    vshift: int = option(15, "offsets tried: -vshift..+vshift frames", minimum=0, maximum=10000, kind=int)


@dataclass(frozen=True)
class OutputOptions(Validated):
    """What run_syncnet derives from the scores: the consensus offset and who speaks when."""
    min_conf: float = option(3.0, "tracks with at least this confidence vote on the consensus offset "
                             "(0: every scored track)", minimum=0)
    speaker_threshold: float = option(
        3.0, "in speakers.json, a face speaks in a frame when its confidence is the highest and above this")


MODES = ("faithful", "stream")


@dataclass(frozen=True)
class StreamOptions(Validated):
    """The stream path (docs/stream.md): how often the face detector runs."""
    detect_every: int = option(5, "the stream path runs the face detector on every Nth frame (and on each "
                               "scene cut), tracking faces between", minimum=1, maximum=25, kind=int)


# The most bootstrap resamples: each costs 8 bytes per metric and a resample of every unit, and
# the interval's percentiles are stable to 0.001 long before this.
MAX_BOOT = 1_000_000


@dataclass(frozen=True)
class BootstrapOptions(Validated):
    """The bootstrap of syncnet-eval's 95% intervals."""
    seed: int = option(0, "the bootstrap's random seed", minimum=0, kind=int)
    n_boot: int = option(10000, "bootstrap resamples", minimum=1, maximum=MAX_BOOT, kind=int)
def tolerance_window(name, value):
    """A sync tolerance as (late_ms, early_ms), late <= 0 <= early: from one number N (+-N ms), two
    numbers, or text such as '+45/-125' or '45,-125' (the order does not matter)."""
    expected = (f"--{name} {value!r}: expected a tolerance in ms: one number N (meaning -N..+N) or two "
                "numbers, one >= 0 (audio early) and one <= 0 (audio late), such as +45/-125")
    parts = re.split(r"[,/\s]+", value.strip()) if isinstance(value, str) else (
        list(value) if isinstance(value, (tuple, list)) else [value])
    try:
        numbers_ms = [float(part) for part in parts if part != ""]
    except (TypeError, ValueError):
        raise InputError(expected) from None
    if not 1 <= len(numbers_ms) <= 2 or not all(math.isfinite(number) for number in numbers_ms):
        raise InputError(expected)
    if len(numbers_ms) == 1:
        numbers_ms = [-abs(numbers_ms[0]), abs(numbers_ms[0])]
    late, early = sorted(numbers_ms)
    if late > 0 or early < 0:
        raise InputError(expected)
    return (late, early)


@dataclass(frozen=True)
class TimelineOptions(Validated):
    """Sync over time: the offset in windows along the video, and the tolerance it is judged by."""
    segment_s: float = option(5.0, "the timeline measures the offset in windows of this many seconds",
                              minimum=0.24)
    hop_s: float = option(2.5, "a timeline window starts every this many seconds", above=0)
    tolerance_ms: tuple = _parsed((-125.0, 45.0), "offsets within this window count as in sync: audio early "
                                  "up to the + value, late up to the - value (ITU-R BT.1359's +45/-125; "
                                  "EBU R37 is +40/-60)", tolerance_window, "+45/-125")


@dataclass(frozen=True)
class ModelOptions:
    """Which networks, with which weights, on which device. None means the official file in its
    usual places; a path may be given as str, bytes or os.PathLike. `detector` is a name in
    syncnet.detection's registry, and `s3fd_model` its weights: the reference's name for them,
    kept as users pass it, whichever detector is chosen."""
    syncnet_model: Optional[str] = None
    s3fd_model: Optional[str] = None
    device: str = "auto"
    detector: str = "s3fd"

    # The fields that name model files (local paths or s3:// URIs).
    FILES = ("syncnet_model", "s3fd_model")

    def __post_init__(self):
        for name in self.FILES:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, as_path(getattr(self, name), name))
        if not isinstance(self.device, str):
            raise InputError(f"--device {self.device!r}: expected a string such as auto, cpu, cuda or cuda:0")
        check_detector_name(self.detector)


def option_names(*groups):
    return [spec.name for group in groups for spec in dataclasses.fields(group)]


def with_options(groups, options):
    """`groups` (option instances) with the fields that `options` names replaced. A name no
    group has, or a bad value, raises InputError before anything runs."""
    known = set(option_names(*(type(group) for group in groups)))
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    return tuple(group.replace(**{name: value for name, value in options.items()
                                  if name in option_names(type(group))})
                 for group in groups)


def as_dict(*instances):
    """The options' values by name, for records such as dataset.json."""
    values = {}
    for instance in instances:
        values.update(dataclasses.asdict(instance))
    return values


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray engine runs its workers, and what each worker actor asks the cluster for."""
    address: Optional[str] = None   # None: a private local runtime for this run; 'auto', HOST:PORT, ray://HOST:PORT
    num_cpus: float = 1.0           # per worker actor
    num_gpus: float = 0.0           # per worker actor; fractions share a GPU

    def __post_init__(self):
        object.__setattr__(self, "num_cpus", checked_number("ray_num_cpus", self.num_cpus, above=0))
        object.__setattr__(self, "num_gpus", checked_number("ray_num_gpus", self.num_gpus, minimum=0))

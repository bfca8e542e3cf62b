"""The face detectors by name, as ModelOptions' `detector` and `--detector` take them.

Adding a detector is its folder under syncnet/detection/, one line in DETECTORS and one test;
`register_detector` adds one in this process without touching any module. An entry names its
class as "module:Class", imported on first use, so checking a name (the typed options, a
command's --help) loads no network code.
"""
import importlib

from syncnet.errors import InputError

DETECTORS = {
    "s3fd": "syncnet.detection.s3fd:S3FD",
}


def register_detector(name, detector):
    """Make `detector` (a FaceDetector subclass, or "module:Class") the detector called `name` in
    this process; a name already taken is replaced. Batch workers in other processes (the Ray
    engine's, say) know only the detectors listed in DETECTORS."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"detector name {name!r}: expected a non-empty string")
    DETECTORS[name] = detector


def available_detectors():
    """The detectors' names, in the order they were added."""
    return list(DETECTORS)


def check_detector_name(name):
    """`name`, or one InputError that lists the detectors there are."""
    if not isinstance(name, str) or name not in DETECTORS:
        raise InputError(f"--detector {name!r}: expected one of {', '.join(DETECTORS)}")
    return name


def get_detector(name):
    """The FaceDetector class called `name`."""
    entry = DETECTORS[check_detector_name(name)]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
    return entry


def load_detector(name, weights=None, device="auto"):
    """The detector called `name`, on `device`, with `weights` (None: its official file)."""
    return get_detector(name)(device=device, weights=weights)

"""Face detectors, chosen by name (registry.DETECTORS); each is a FaceDetector (core.py) in
its own folder, such as s3fd/."""
from syncnet.detection.core import FaceDetector
from syncnet.detection.registry import (
                                        DETECTORS,
                                        available_detectors,
                                        check_detector_name,
                                        get_detector,
                                        load_detector,
                                        register_detector,
)

__all__ = ["FaceDetector", "DETECTORS", "available_detectors", "check_detector_name", "get_detector",
           "load_detector", "register_detector"]

"""SyncNet (Chung & Zisserman 2016): audio-visual sync offset, LSE-D and LSE-C of talking faces.

    import syncnet

    result = syncnet.score_video("interview.mp4")
    for track in result.tracks:
        print(track.track, track.offset, track.min_dist, track.confidence)

The names below load on first use, so `import syncnet` stays cheap (no torch until needed).
"""
import importlib
import logging

__version__ = "0.2.0"

# A library writes nothing unless the application asks: without this, Python prints the
# warnings of an unconfigured logger on stderr. The commands add their own handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())

_EXPORTS = {
    "score_video": "api", "VideoScorer": "api",
    "TrackResult": "scoring.results", "VideoResult": "scoring.results",
    "FaceVideoScore": "scoring.face_video",
    "PipelineOptions": "options", "ScoringOptions": "options", "OutputOptions": "options",
    "ModelOptions": "options",
    "SyncNetError": "errors", "InputError": "errors", "MediaError": "errors", "WeightsError": "errors",
    "TooShortError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syncnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)

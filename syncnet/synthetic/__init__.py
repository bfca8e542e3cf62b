"""A synthetic talking-mouth world with known truth, for tests, benchmarks and training checks.

See docs/synthetic.md. Everything is deterministic from a seed.
"""
from syncnet.synthetic.clips import ClipTruth, make_face_clip, make_scene_clip
from syncnet.synthetic.profiles import constant, jump, linear

__all__ = ["ClipTruth", "constant", "jump", "linear", "make_face_clip", "make_scene_clip"]

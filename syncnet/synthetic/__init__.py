"""A synthetic talking-mouth world with known truth, for tests, benchmarks and training checks.

See docs/synthetic.md. Everything is deterministic from a seed.
"""
from syncnet.synthetic.clips import CONVERSATIONS, ClipTruth, make_conversation_clip, make_face_clip, make_scene_clip
from syncnet.synthetic.profiles import constant, jump, linear

__all__ = ["CONVERSATIONS", "ClipTruth", "constant", "jump", "linear", "make_conversation_clip", "make_face_clip",
           "make_scene_clip"]

"""Sync over time: the offset of each window of a face video, and what its course says.

`segments` cuts a video into segments and finds its silent windows; `course` measures each
segment's offset from scoring's distances into a `Timeline`; `verdict` and `fits` say in one word
what that course is. docs/timeline.md explains the rules.
"""
from syncnet.timeline.course import Timeline, build_timeline, score_timeline
from syncnet.timeline.segments import FRAME_MS, Segment, check_segment_fits
from syncnet.timeline.verdict import VERDICTS

__all__ = ["Segment", "Timeline", "build_timeline", "score_timeline", "check_segment_fits", "FRAME_MS", "VERDICTS"]

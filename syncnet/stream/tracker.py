"""Faces carried between the frames the detector sees, online: run_pipeline's IoU linking
(syncnet.pipeline.tracking) applied as the detections arrive, the boxes in between interpolated
linearly, as run_pipeline interpolates the frames a detection is missing from.

A motion model (a constant-velocity Kalman filter, as SORT uses) was the alternative; linear
interpolation between two detections already knows both ends, which a filter running forward
does not, so it is kept (docs/stream.md gives the measured box agreement).
"""
from dataclasses import dataclass, field

import numpy as np

from syncnet.pipeline.tracking import IOU_THRESHOLD, bbox_iou


@dataclass
class LiveTrack:
    """A face followed through one shot: its detections so far, and its boxes at every frame
    from the first detection to the last (interpolated between detections)."""
    number: int                     # in order of appearance
    first_frame: int
    detections: list = field(default_factory=list)  # (frame, [x1, y1, x2, y2]) in frame order
    boxes: list = field(default_factory=list)       # one [x1, y1, x2, y2] per frame, first_frame onwards

    @property
    def last_detected(self):
        """The frame of the latest detection (the track's boxes end there)."""
        return self.detections[-1][0]

    @property
    def n_frames(self):
        return len(self.boxes)

    def add(self, frame, box):
        """A detection at `frame`: the boxes since the previous one filled in linearly."""
        box = np.asarray(box, dtype=np.float64)
        if self.detections:
            previous_frame, previous = self.detections[-1]
            steps = frame - previous_frame
            for step in range(1, steps + 1):
                self.boxes.append(previous + (box - previous) * step / steps)
        else:
            self.boxes.append(box)
        self.detections.append((frame, box))


class FaceTracker:
    """run_pipeline's linking rule as detections arrive: a detection joins the live track whose
    latest box overlaps it by more than IoU 0.5 (the earliest such track not yet extended on this
    frame), else starts a track; a track with no detection for more than `num_failed_det`
    frames, or at a scene cut, is closed."""

    def __init__(self, num_failed_det, iou_threshold=IOU_THRESHOLD):
        self.num_failed_det = num_failed_det
        self.iou_threshold = iou_threshold
        self.live = []
        self._count = 0

    def update(self, frame, boxes):
        """The detections of `frame` ([x1, y1, x2, y2] each, best first); returns the tracks that
        this closes (too long without a detection)."""
        closed = self.expire(frame)
        extended = set()
        for box in boxes:
            match = next((track for track in self.live if track.number not in extended
                          and bbox_iou(box, track.detections[-1][1]) > self.iou_threshold), None)
            if match is None:
                match = LiveTrack(number=self._count, first_frame=frame)
                self._count += 1
                self.live.append(match)
            match.add(frame, box)
            extended.add(match.number)
        return closed

    def expire(self, frame):
        """Close and return the tracks whose latest detection is more than num_failed_det frames
        before `frame`."""
        closed = [track for track in self.live if frame - track.last_detected > self.num_failed_det]
        self.live = [track for track in self.live if track not in closed]
        return closed

    def close_all(self):
        """Close every live track (a scene cut, or the end of the video)."""
        closed, self.live = self.live, []
        return closed

"""Link per-frame face detections into face tracks within each scene (run_pipeline step 5).

A detection is a dict with 'frame' (its pyframes index) and 'bbox' ([x1, y1, x2, y2]);
`faces[f]` lists the detections of frame f, so frame numbers increase along the list.
A track is {'frame': int array of consecutive frames, 'bbox': (n, 4) float array}.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

NUM_FAILED_DET = 25
MIN_TRACK = 100
MIN_FACE_SIZE = 100
IOU_THRESHOLD = 0.5

# Why a video has no face track, as summaries and messages name it.
NO_FACES = "no faces detected"
TRACKS_TOO_SHORT = "tracks shorter than --min_track"
FACES_TOO_SMALL = "faces smaller than --min_face_size"


@dataclass
class TrackTally:
    """What tracking kept and what each filter removed: frames with a detection, and chains of
    detections dropped by --min_track (too few detections, or a scene shorter than it) and by
    --min_face_size."""
    n_frames: int = 0
    frames_with_faces: int = 0
    too_short: int = 0
    too_small: int = 0
    kept: int = 0

    @property
    def reason(self):
        """None when a track was kept; else NO_FACES, FACES_TOO_SMALL (some chain was long
        enough, and only its size stopped it) or TRACKS_TOO_SHORT."""
        if self.kept:
            return None
        if not self.frames_with_faces:
            return NO_FACES
        return FACES_TOO_SMALL if self.too_small else TRACKS_TOO_SHORT

    def as_dict(self):
        return {**asdict(self), "reason": self.reason}


def bbox_iou(a, b):
    """Intersection over union of two [x1, y1, x2, y2] boxes, areas without the +1.

    A pair whose union is not positive (degenerate boxes) gives 0.0. Non-finite
    coordinates raise ValueError: they would make every comparison silently false.
    """
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    if not all(math.isfinite(v) for v in (ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)):
        raise ValueError(f"box coordinates must be finite: {list(a)}, {list(b)}")
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    if union <= 0.0:
        return 0.0
    return inter / union


def link_detections(scene_faces, num_failed_det=NUM_FAILED_DET, iou_threshold=IOU_THRESHOLD):
    """Greedily chain a scene's detections, one chain per pass, until none is left.

    Returns the chains (lists of the caller's detection dicts, in the order taken); together
    they hold every detection exactly once. `scene_faces` itself is left untouched.
    """
    remaining = [list(frame_faces) for frame_faces in scene_faces]
    chains = []
    while True:
        chain = []
        for frame_faces in remaining:
            i = 0
            while i < len(frame_faces):
                face = frame_faces[i]
                if chain:
                    if face["frame"] - chain[-1]["frame"] > num_failed_det:
                        break
                    take = bbox_iou(face["bbox"], chain[-1]["bbox"]) > iou_threshold
                else:
                    take = True
                if take:
                    chain.append(face)
                    # The reference removed the face from the very list it was iterating over,
                    # so the next face slid into this slot and was not examined in this pass.
                    # Deleting and still advancing reproduces that skip.
                    del frame_faces[i]
                i += 1
        if not chain:
            return chains
        chains.append(chain)


def _interpolate(chain):
    """The chain's boxes at every frame from its first to its last, linear in each coordinate."""
    frames = np.array([face["frame"] for face in chain])
    boxes = np.array([face["bbox"] for face in chain], dtype=np.float64)
    all_frames = np.arange(frames[0], frames[-1] + 1)
    # np.interp is what scipy's interp1d(kind='linear') evaluates for a sorted 1-D x.
    bbox = np.stack([np.interp(all_frames, frames, boxes[:, k]) for k in range(4)], axis=1)
    return {"frame": all_frames, "bbox": bbox}


def track_scene(scene_faces, num_failed_det=NUM_FAILED_DET, min_track=MIN_TRACK,
                min_face_size=MIN_FACE_SIZE, iou_threshold=IOU_THRESHOLD, tally=None):
    """Tracks of one scene: chains with more than `min_track` detections, interpolated, whose
    larger mean side (mean width or mean height) exceeds `min_face_size`. A TrackTally given
    as `tally` counts what each filter removed."""
    tally = tally if tally is not None else TrackTally()
    tracks = []
    for chain in link_detections(scene_faces, num_failed_det, iou_threshold):
        if len(chain) <= min_track:
            tally.too_short += 1
            continue
        track = _interpolate(chain)
        bbox = track["bbox"]
        mean_width = np.mean(bbox[:, 2] - bbox[:, 0])
        mean_height = np.mean(bbox[:, 3] - bbox[:, 1])
        if max(mean_width, mean_height) > min_face_size:
            tracks.append(track)
            tally.kept += 1
        else:
            tally.too_small += 1
    return tracks


def track_faces(faces, scenes, num_failed_det=NUM_FAILED_DET, min_track=MIN_TRACK,
                min_face_size=MIN_FACE_SIZE, tally=None):
    """Tracks of every scene (start, end) with at least `min_track` frames, in scene order.

    Each scene sees only faces[start:end], so no track crosses a scene cut. A TrackTally given
    as `tally` is filled in: the chains of a shorter scene count as too short.
    """
    tally = tally if tally is not None else TrackTally()
    tally.n_frames += len(faces)
    tally.frames_with_faces += sum(1 for frame_faces in faces if len(frame_faces))
    tracks = []
    for start, end in scenes:
        if end - start >= min_track:
            tracks.extend(track_scene(faces[start:end], num_failed_det, min_track, min_face_size, tally=tally))
        else:
            tally.too_short += len(link_detections(faces[start:end], num_failed_det))
    return tracks

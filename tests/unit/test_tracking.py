"""Face tracking and crop geometry: golden twoface tracks, synthetic cases and properties."""
import copy
import json
import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncnet.pipeline.cropping import crop_face, smooth_track
from syncnet.pipeline.tracking import (
    FACES_TOO_SMALL,
    NO_FACES,
    TRACKS_TOO_SHORT,
    TrackTally,
    bbox_iou,
    link_detections,
    track_faces,
    track_scene,
)
from tests.helpers import need


def face(frame, box):
    return {"frame": frame, "bbox": [float(v) for v in box], "conf": 0.99}


def still_face(frames, box, n_frames=None):
    """Per-frame detection lists with the same box on each of `frames`."""
    n_frames = n_frames if n_frames is not None else max(frames) + 1
    faces = [[] for _ in range(n_frames)]
    for f in frames:
        faces[f].append(face(f, box))
    return faces


BIG = (100, 100, 250, 260)  # 150 x 160, above the default min_face_size


# ---------------------------------------------------------------- golden

@pytest.fixture(scope="module")
def twoface(shared_dir, golden_dir):
    faces = json.loads(need(shared_dir / "fixtures" / "twoface_faces.json").read_text())
    golden = json.loads(need(golden_dir / "pipeline_twoface.json").read_text())
    return faces, golden


def test_golden_twoface_tracks(twoface):
    faces, golden = twoface
    tracks = track_faces(faces, golden["scenes"],
                         num_failed_det=25, min_track=100, min_face_size=100)
    assert len(tracks) == len(golden["tracks"])
    for track, expected in zip(tracks, golden["tracks"]):
        assert track["frame"].tolist() == expected["frame"]
        np.testing.assert_allclose(track["bbox"], expected["bbox"], rtol=0, atol=1e-6)
        smoothed = smooth_track(track["bbox"])
        for key in ("x", "y", "s"):
            np.testing.assert_allclose(smoothed[key], expected[key], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- tracking, synthetic

def test_gap_up_to_num_failed_det_is_interpolated():
    # Frames 0..60 at x1 = 100, then a 25-frame jump to frame 85 where the box has moved by 10.
    faces = still_face(range(61), BIG, n_frames=200)
    moved = (110, 100, 260, 260)
    for f in range(85, 200):
        faces[f].append(face(f, moved))
    [track] = track_scene(faces, num_failed_det=25)
    assert track["frame"].tolist() == list(range(200))
    x1 = track["bbox"][:, 0]
    np.testing.assert_allclose(x1[60:86], 100 + 10 * np.arange(26) / 25)
    np.testing.assert_array_equal(track["bbox"][:, [1, 3]], [[100, 260]] * 200)


@pytest.mark.parametrize("gap, expected", [
    (25, [(0, 299)]),
    (26, [(0, 120), (146, 299)]),
])
def test_gap_beyond_num_failed_det_splits(gap, expected):
    frames = list(range(121)) + list(range(120 + gap, 300))
    tracks = track_scene(still_face(frames, BIG), num_failed_det=25)
    assert [(t["frame"][0], t["frame"][-1]) for t in tracks] == expected
    for t in tracks:
        assert t["frame"].tolist() == list(range(t["frame"][0], t["frame"][-1] + 1))


def test_two_faces_stay_apart():
    left, right = (0, 0, 120, 120), (300, 10, 420, 130)
    faces = [[face(f, left), face(f, right)] if f % 2 else [face(f, right), face(f, left)]
             for f in range(150)]
    tracks = track_scene(faces)
    assert len(tracks) == 2
    boxes = sorted(tuple(t["bbox"][0]) for t in tracks)
    assert boxes == [left, right]
    for t in tracks:
        assert t["frame"].tolist() == list(range(150))
        assert (t["bbox"] == t["bbox"][0]).all()


@pytest.mark.parametrize("detections, kept", [(100, 0), (101, 1)])
def test_track_needs_more_than_min_track_detections(detections, kept):
    assert len(track_scene(still_face(range(detections), BIG), min_track=100)) == kept


@pytest.mark.parametrize("box, kept", [
    ((0, 0, 100, 100), 0),  # 100 x 100: not larger than min_face_size
    ((0, 0, 101, 50), 1),  # the larger mean side counts
    ((0, 0, 50, 101), 1),
])
def test_small_faces_dropped(box, kept):
    assert len(track_scene(still_face(range(150), box), min_face_size=100)) == kept


def test_scene_cut_splits_a_face_run():
    faces = still_face(range(300), BIG)
    tracks = track_faces(faces, [(0, 150), (150, 300)])
    assert [(t["frame"][0], t["frame"][-1]) for t in tracks] == [(0, 149), (150, 299)]
    # A 120-frame tail scene holds too few detections; the 180-frame head ends at the cut.
    tracks = track_faces(faces, [(0, 180), (180, 300)], min_track=120)
    assert [(t["frame"][0], t["frame"][-1]) for t in tracks] == [(0, 179)]


def _tally(faces, scenes, **options):
    tally = TrackTally()
    track_faces(faces, scenes, tally=tally, **options)
    return tally


def test_the_tally_counts_what_each_filter_removed():
    """Made-up detections whose fate is known: frames with a face, chains too short (or in a
    scene shorter than --min_track), faces too small, and the reason when nothing is kept."""
    assert _tally([[] for _ in range(300)], [(0, 300)]) == TrackTally(n_frames=300)
    assert _tally([[] for _ in range(300)], [(0, 300)]).reason == NO_FACES
    # One 150-frame small face, one 60-detection big face, in a 300-frame scene.
    faces = still_face(range(150), (0, 0, 60, 60), n_frames=300)
    for f in range(200, 260):
        faces[f].append(face(f, BIG))
    tally = _tally(faces, [(0, 300)])
    assert (tally.frames_with_faces, tally.too_short, tally.too_small, tally.kept) == (210, 1, 1, 0)
    assert tally.reason == FACES_TOO_SMALL
    short = _tally(still_face(range(80), BIG, n_frames=300), [(0, 300)])
    assert (short.too_short, short.too_small, short.reason) == (1, 0, TRACKS_TOO_SHORT)
    # The 120-frame tail scene is skipped whole: its chain counts as too short.
    cut = _tally(still_face(range(300), BIG), [(0, 180), (180, 300)], min_track=120)
    assert (cut.kept, cut.too_short, cut.reason) == (1, 1, None)
    assert cut.as_dict() == {"n_frames": 300, "frames_with_faces": 300, "too_short": 1, "too_small": 0,
                             "kept": 1, "reason": None}


def test_scene_shorter_than_min_track_is_skipped():
    # Three overlapping detections per frame chain two per frame (see the removal quirk), so
    # this 9-frame scene would give an 18-detection track if it were not skipped.
    faces = [[face(f, (0, 0, 150, 150)), face(f, (1, 0, 151, 150)), face(f, (2, 0, 152, 150))]
             for f in range(9)]
    assert len(track_scene(faces, min_track=10, min_face_size=0)) == 1
    assert track_faces(faces, [(0, 9)], min_track=10, min_face_size=0) == []


def test_input_not_mutated():
    faces = still_face(range(300), BIG)
    faces[40].append(face(40, (500, 0, 600, 100)))
    before = copy.deepcopy(faces)
    track_faces(faces, [(0, 150), (150, 300)])
    track_scene(faces)
    assert faces == before


def test_list_removal_quirk_skips_the_next_face():
    a, b, c = face(0, (0, 0, 100, 100)), face(0, (2, 0, 102, 100)), face(0, (4, 0, 104, 100))
    # Taking a makes b slide into its slot, so b is passed over; c still joins a's chain.
    assert link_detections([[a, b, c]]) == [[a, c], [b]]
    assert link_detections([[a, b]]) == [[a], [b]]


def test_list_removal_quirk_changes_kept_tracks():
    # Frame 0 holds a face and a near-duplicate. Comparing the duplicate too would add a 101st
    # detection; with the skip the chain keeps 100 detections and is not kept.
    faces = still_face(range(100), BIG)
    faces[0].append(face(0, (101, 100, 251, 260)))
    assert track_scene(faces, min_track=100) == []
    assert [len(chain) for chain in link_detections(faces)] == [100, 1]


def test_track_output_types():
    [track] = track_scene(still_face(range(120), BIG))
    assert np.issubdtype(track["frame"].dtype, np.integer)
    assert track["bbox"].dtype == np.float64 and track["bbox"].shape == (120, 4)


# ---------------------------------------------------------------- bbox_iou

def test_bbox_iou_examples():
    assert bbox_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert bbox_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert bbox_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert bbox_iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0
    assert bbox_iou([5, 5, 0, 0], [0, 0, 1, 1]) == 0.0


coord = st.floats(-1e4, 1e4, allow_nan=False)
boxes = st.lists(coord, min_size=4, max_size=4)


@given(boxes, boxes)
def test_bbox_iou_bounded_and_symmetric(a, b):
    value = bbox_iou(a, b)
    assert 0.0 <= value <= 1.0
    assert value == bbox_iou(b, a)


@given(coord, coord, st.floats(1e-3, 1e4), st.floats(1e-3, 1e4))
def test_bbox_iou_of_a_box_with_itself(x1, y1, width, height):
    a = [x1, y1, x1 + width, y1 + height]
    assert bbox_iou(a, a) == 1.0


@given(boxes, boxes, st.integers(0, 7), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_bbox_iou_refuses_non_finite(a, b, position, bad):
    coords = a + b
    coords[position] = bad
    with pytest.raises(ValueError):
        bbox_iou(coords[:4], coords[4:])


# ---------------------------------------------------------------- tracking properties

@st.composite
def scenes(draw):
    """Up to 40 frames of integer boxes: a few drifting faces that sometimes go undetected,
    plus stray boxes, in shuffled order within each frame."""
    n_frames = draw(st.integers(0, 40))
    n_people = draw(st.integers(0, 3))
    people = [(draw(st.integers(0, 200)), draw(st.integers(0, 200)), draw(st.integers(5, 40)))
              for _ in range(n_people)]
    faces = []
    for f in range(n_frames):
        frame_faces = []
        for x, y, size in people:
            if draw(st.booleans()) or draw(st.booleans()):
                dx, dy = draw(st.integers(-3, 3)), draw(st.integers(-3, 3))
                frame_faces.append(face(f, (x + dx, y + dy, x + dx + size, y + dy + size)))
        for _ in range(draw(st.integers(0, 1))):
            x, y = draw(st.integers(0, 240)), draw(st.integers(0, 240))
            width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
            frame_faces.append(face(f, (x, y, x + width, y + height)))
        faces.append(draw(st.permutations(frame_faces)))
    return faces


options = st.fixed_dictionaries({
    "num_failed_det": st.integers(0, 6),
    "min_track": st.integers(0, 12),
    "min_face_size": st.integers(0, 30),
    "iou_threshold": st.sampled_from([0.0, 0.3, 0.5, 0.8]),
})


@settings(deadline=None)
@given(scenes(), options)
def test_chains_partition_detections(faces, opts):
    chains = link_detections(faces, opts["num_failed_det"], opts["iou_threshold"])
    used = [id(d) for chain in chains for d in chain]
    assert sorted(used) == sorted(id(d) for frame_faces in faces for d in frame_faces)
    for chain in chains:
        for previous, current in zip(chain, chain[1:]):
            assert 0 <= current["frame"] - previous["frame"] <= opts["num_failed_det"]
            assert bbox_iou(previous["bbox"], current["bbox"]) > opts["iou_threshold"]


@settings(deadline=None)
@given(scenes(), options)
def test_tracks_cover_consecutive_frames_through_their_detections(faces, opts):
    before = copy.deepcopy(faces)
    tracks = track_scene(faces, **opts)
    assert faces == before
    chains = [c for c in link_detections(faces, opts["num_failed_det"], opts["iou_threshold"])
              if len(c) > opts["min_track"]]
    assert len(tracks) <= len(chains)
    for track in tracks:
        frames = track["frame"].tolist()
        assert frames == list(range(frames[0], frames[-1] + 1))
        assert track["bbox"].shape == (len(frames), 4)
        widths = track["bbox"][:, 2:] - track["bbox"][:, :2]
        assert widths.mean(axis=0).max() > opts["min_face_size"]
        # Each kept track interpolates a chain, so it passes through that chain's boxes (when
        # the chain holds one detection per frame; overlapping faces of a frame can both join).
        assert any(
            chain[0]["frame"] == frames[0] and chain[-1]["frame"] == frames[-1] and (
                len({d["frame"] for d in chain}) < len(chain)
                or all(np.array_equal(track["bbox"][d["frame"] - frames[0]], d["bbox"])
                       for d in chain))
            for chain in chains)


@settings(deadline=None)
@given(scenes(), options, st.integers(0, 30), st.integers(0, 5))
def test_tracks_shift_with_time(faces, opts, lead, tail):
    shifted = [[] for _ in range(lead)] + [[face(d["frame"] + lead, d["bbox"]) for d in frame_faces]
                                           for frame_faces in faces] + [[] for _ in range(tail)]
    original, moved = track_scene(faces, **opts), track_scene(shifted, **opts)
    assert len(original) == len(moved)
    for a, b in zip(original, moved):
        np.testing.assert_array_equal(a["frame"] + lead, b["frame"])
        np.testing.assert_array_equal(a["bbox"], b["bbox"])


@settings(deadline=None)
@given(scenes(), options, st.sampled_from([0.25, 2.0, 8.0]))
def test_tracks_scale_with_power_of_two_zoom(faces, opts, zoom):
    # A power-of-two zoom is exact in floating point, so every decision and value scales exactly.
    zoomed = [[face(d["frame"], [v * zoom for v in d["bbox"]]) for d in frame_faces]
              for frame_faces in faces]
    original = track_scene(faces, **opts)
    scaled = track_scene(zoomed, **{**opts, "min_face_size": opts["min_face_size"] * zoom})
    assert len(original) == len(scaled)
    for a, b in zip(original, scaled):
        np.testing.assert_array_equal(a["frame"], b["frame"])
        np.testing.assert_array_equal(a["bbox"] * zoom, b["bbox"])


@settings(deadline=None)
@given(scenes(), options, st.integers(-500, 500), st.integers(-500, 500))
def test_tracks_move_with_translation(faces, opts, dx, dy):
    # Integer shifts keep every IoU exact; interpolated values agree up to rounding. Size 0
    # keeps the size check away from rounding at its threshold.
    opts = {**opts, "min_face_size": 0}
    moved = [[face(d["frame"], np.add(d["bbox"], [dx, dy, dx, dy])) for d in frame_faces]
             for frame_faces in faces]
    original, shifted = track_scene(faces, **opts), track_scene(moved, **opts)
    assert len(original) == len(shifted)
    for a, b in zip(original, shifted):
        np.testing.assert_array_equal(a["frame"], b["frame"])
        np.testing.assert_allclose(a["bbox"] + [dx, dy, dx, dy], b["bbox"], rtol=0, atol=1e-9)


# ---------------------------------------------------------------- smoothing

def test_smooth_track_centre_and_half_size():
    bbox = np.tile([10.0, 20.0, 50.0, 80.0], (30, 1))
    bbox[15] = [100.0, 100.0, 400.0, 400.0]  # a one-frame outlier is filtered away
    smoothed = smooth_track(bbox)
    np.testing.assert_array_equal(smoothed["x"], np.full(30, 30.0))
    np.testing.assert_array_equal(smoothed["y"], np.full(30, 50.0))
    np.testing.assert_array_equal(smoothed["s"], np.full(30, 30.0))


def test_smooth_track_zero_pads_the_ends():
    # medfilt pads with zeros, so a rising track is pulled down near its start.
    x1 = np.arange(20.0)
    smoothed = smooth_track(np.stack([x1, x1, x1 + 2, x1 + 2], axis=1))
    assert smoothed["x"][0] == 1.0  # median of six zeros and centres 1..7
    assert smoothed["x"][10] == 11.0


def test_smooth_track_refuses_bad_shape():
    with pytest.raises(ValueError):
        smooth_track(np.zeros((5, 3)))


# ---------------------------------------------------------------- crop_face

def reference_crop(image, x, y, s, crop_scale=0.4, size=224):
    """The definition: pad the whole frame with 110, then slice and resize."""
    bs = s
    bsi = int(bs * (1 + 2 * crop_scale))
    pad = [(bsi, bsi), (bsi, bsi)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, pad, mode="constant", constant_values=110)
    my, mx = y + bsi, x + bsi
    window = padded[int(my - bs):int(my + bs * (1 + 2 * crop_scale)),
                    int(mx - bs * (1 + crop_scale)):int(mx + bs * (1 + crop_scale))]
    return cv2.resize(window, (size, size))


def random_image(seed, height, width, channels=3):
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("x, y, s", [
    (320.0, 240.0, 60.0),  # well inside
    (5.3, 3.7, 55.5),  # near the top-left corner
    (639.9, 479.2, 80.25),  # on the bottom-right corner
    (700.0, -40.0, 50.0),  # centre outside the frame
    (320.0, 240.0, 400.0),  # crop larger than the frame
])
def test_crop_face_matches_padded_definition(x, y, s):
    image = random_image(0, 480, 640)
    crop = crop_face(image, x, y, s)
    assert crop.dtype == np.uint8 and crop.shape == (224, 224, 3)
    np.testing.assert_array_equal(crop, reference_crop(image, x, y, s))


def test_crop_face_all_padding():
    image = random_image(1, 50, 60)
    crop = crop_face(image, -200.0, 25.0, 30.0)
    np.testing.assert_array_equal(crop, reference_crop(image, -200.0, 25.0, 30.0))


@settings(deadline=None, max_examples=300)
@given(
    st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 60),
    st.sampled_from([None, 1, 3]),
    st.floats(-80, 140), st.floats(-80, 140), st.floats(0.01, 70), st.sampled_from([0.0, 0.4, 1.0]),
    st.integers(1, 48),
)
def test_crop_face_equals_pad_then_slice(seed, height, width, channels, x, y, s, crop_scale, size):
    image = random_image(seed, height, width, channels)
    try:
        expected = reference_crop(image, x, y, s, crop_scale, size)
    except Exception:  # an empty window: cv2.resize refuses it
        with pytest.raises(ValueError):
            crop_face(image, x, y, s, crop_scale, size)
        return
    np.testing.assert_array_equal(crop_face(image, x, y, s, crop_scale, size), expected)


@pytest.mark.parametrize("s", [0.0, -5.0, math.nan])
def test_crop_face_refuses_non_positive_size(s):
    with pytest.raises(ValueError):
        crop_face(random_image(2, 20, 20), 10.0, 10.0, s)


def test_why_no_track_is_scored():
    """A kept track without one window of audio makes the video's reason 'clip shorter than one
    window'; with no track, tracking's reason from pipeline.json stands."""
    from syncnet.scoring.results import CLIP_TOO_SHORT, track_result
    from syncnet.scoring.tracks import unscored_reason

    entry = {"track": {"frame": np.arange(4), "bbox": np.zeros((4, 4))}}
    unscored = track_result(0, entry, None, np.zeros((0, 31)))
    record = {"tracking": TrackTally(n_frames=4, frames_with_faces=4, kept=1).as_dict()}
    assert unscored_reason(record, [unscored]) == CLIP_TOO_SHORT
    assert unscored_reason({"tracking": TrackTally(n_frames=9).as_dict()}, []) == NO_FACES
    assert unscored_reason({}, []) is None, "a pipeline.json from before tallies says nothing"


def test_faces_of_the_source_frames_fit_the_pyframes_that_repeat_them(tmp_path):
    """Pyframes a a b c c (two repeats, as the conversion makes them): a list of 3 frames gives
    each repeat its frame's boxes; 4 frames take the first repeat only; 5 are used as they are;
    6, or 2 (three repeats needed, two found), are refused in one line."""
    from syncnet.errors import InputError
    from syncnet.pipeline.detection import faces_for_pyframes

    paths = []
    for index, picture in enumerate(b"aabcc"):
        paths.append(tmp_path / f"{index:06d}.jpg")
        paths[-1].write_bytes(bytes([picture]) * 10)

    def listing(n):
        return [[{"frame": f, "bbox": [f, 0, f + 10, 10], "conf": 1.0}] for f in range(n)]

    def shown(n):
        return [(entry[0]["frame"], entry[0]["bbox"][0]) for entry in faces_for_pyframes(listing(n), paths, "x")]

    assert shown(3) == [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2)]
    assert shown(4) == [(0, 0), (1, 0), (2, 1), (3, 2), (4, 3)]
    assert shown(5) == [(f, f) for f in range(5)]
    for n in (6, 2):
        with pytest.raises(InputError, match=f"detections for {n} frames but the converted video has 5"):
            faces_for_pyframes(listing(n), paths, "x")

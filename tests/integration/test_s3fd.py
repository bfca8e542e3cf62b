"""S3FD with the stand-in weights: golden detections, batching, weight errors and devices. (Its box
utilities: unit/test_s3fd.py.)"""
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from detectors import S3FD
from syncnet.detection.s3fd.box_utils import iou_matrix
from syncnet.errors import WeightsError
from tests.helpers import TEST_DEVICE, need

REPO_ROOT = Path(__file__).resolve().parents[2]
# Parametrising needs the golden list at collection time, before fixtures run; this is the
# conftest's lookup. When the file is absent, one placeholder case lets need() skip or fail.
_SHARED = Path(os.environ.get("SYNCNET_SHARED") or REPO_ROOT.parent / "shared")
_GOLDEN_FILE = _SHARED / "fixtures" / "golden" / "s3fd_detect.json"


def _golden_cases():
    if not _GOLDEN_FILE.is_file():
        return [pytest.param(None, id="golden-missing")]
    cases = []
    for entry in json.loads(_GOLDEN_FILE.read_text()):
        scales = "+".join(str(s) for s in entry["scales"])
        case_id = f"{Path(entry['frame']).stem}-conf{entry['conf_th']}-scales{scales}"
        cases.append(pytest.param(entry, id=case_id))
    return cases


def _read_rgb(path):
    image = cv2.imread(str(need(path)))
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def detector(s3fd_weights):
    return S3FD(device=TEST_DEVICE, weights=s3fd_weights)


@pytest.fixture(scope="module")
def frames(shared_dir):
    folder = shared_dir / "fixtures" / "frames"
    return {name: _read_rgb(folder / name) for name in ("twoface_040.png", "twoface_200.png", "wide720_100.png")}


def assert_same_detections(actual, expected, coord_rtol=1e-3):
    """Same box count; coordinates and scores within 1e-3 relative.

    Coordinates also get atol 1e-2 px: some lie near 0 (or are -0.01 px), where a relative
    bound means nothing. 0.01 px is far below the 4+ px between neighbouring priors, so a box
    from the wrong prior, a wrong mean or a wrong decode still fails.
    """
    expected = np.asarray(expected, dtype=np.float64).reshape(-1, 5)
    assert actual.shape == expected.shape, f"{len(actual)} boxes, expected {len(expected)}"
    np.testing.assert_allclose(actual[:, :4], expected[:, :4], rtol=coord_rtol, atol=1e-2)
    np.testing.assert_allclose(actual[:, 4], expected[:, 4], rtol=1e-3, atol=0)


# --- golden detections ---------------------------------------------------------------------

@pytest.mark.parametrize("entry", _golden_cases())
def test_detect_faces_matches_golden(entry, detector, golden_dir):
    need(golden_dir / "s3fd_detect.json")
    assert entry is not None
    image = _read_rgb(golden_dir.parent / "frames" / entry["frame"])
    found = detector.detect_faces(image, conf_th=entry["conf_th"], scales=entry["scales"])
    assert found.dtype == np.float64 and found.ndim == 2 and found.shape[1] == 5
    assert_same_detections(found, entry["boxes"])


def test_result_is_sorted_and_nonoverlapping(detector, frames):
    found = detector.detect_faces(frames["wide720_100.png"], conf_th=0.3, scales=[0.25, 0.125])
    assert len(found) > 10
    assert np.all(np.diff(found[:, 4]) <= 0)
    iou = iou_matrix(found[:, :4], found[:, :4])
    np.fill_diagonal(iou, 0)
    assert iou.max() <= 0.1


def test_nothing_found_gives_empty_rows(detector, frames):
    found = detector.detect_faces(frames["twoface_040.png"], conf_th=0.99, scales=[0.25])
    assert found.shape == (0, 5)
    assert detector.detect_faces(frames["twoface_040.png"], scales=[]).shape == (0, 5)


def test_input_validation(detector, frames):
    with pytest.raises(ValueError, match="H x W x 3"):
        detector.detect_faces(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="positive"):
        detector.detect_faces(frames["twoface_040.png"], scales=[0])
    with pytest.raises(ValueError, match="at least"):
        detector.detect_faces(frames["twoface_040.png"], scales=[0.01])


def test_accepts_non_contiguous_rgb(detector, shared_dir):
    bgr = cv2.imread(str(need(shared_dir / "fixtures" / "frames" / "twoface_200.png")))
    flipped_view = bgr[:, :, ::-1]  # negative strides, as a quick BGR->RGB gives
    expected = detector.detect_faces(np.ascontiguousarray(flipped_view), conf_th=0.3, scales=[0.25])
    np.testing.assert_array_equal(detector.detect_faces(flipped_view, conf_th=0.3, scales=[0.25]), expected)


# --- batching ------------------------------------------------------------------------------

def _same_size_frames(frames):
    h, w = frames["twoface_040.png"].shape[:2]
    wide = cv2.resize(frames["wide720_100.png"], (w, h), interpolation=cv2.INTER_AREA)
    return [frames["twoface_040.png"], frames["twoface_200.png"], wide]


# Small scales keep the CPU time down; two scales check the per-scale grouping.
@pytest.mark.parametrize("scales", [[0.25], [0.25, 0.125]], ids=["0.25", "0.25+0.125"])
def test_batch_equals_per_frame(detector, frames, scales):
    images = _same_size_frames(frames)
    batched = detector.detect_faces_batch(images, conf_th=0.3, scales=scales)
    assert len(batched) == len(images)
    for image, got in zip(images, batched):
        # A batch may pick other conv kernels than one frame; allow float32 noise only.
        assert_same_detections(got, detector.detect_faces(image, conf_th=0.3, scales=scales), coord_rtol=1e-5)


def test_batch_with_mixed_sizes(detector, frames):
    images = [frames["wide720_100.png"], frames["twoface_040.png"], frames["wide720_100.png"][:, :640]]
    batched = detector.detect_faces_batch(images, conf_th=0.5, scales=[0.25])
    for image, got in zip(images, batched):
        assert_same_detections(got, detector.detect_faces(image, conf_th=0.5, scales=[0.25]), coord_rtol=1e-5)
    assert detector.detect_faces_batch([], conf_th=0.5) == []


def test_network_is_float32(detector):
    assert all(p.dtype == torch.float32 for p in detector.net.parameters())
    with torch.inference_mode():
        loc, conf, shapes = detector.net(torch.zeros(2, 3, 64, 96))
    assert loc.dtype == conf.dtype == torch.float32
    assert loc.shape == (2, sum(h * w for h, w in shapes), 4) and conf.shape[:2] == loc.shape[:2]
    np.testing.assert_allclose(conf.sum(-1).numpy(), 1, rtol=1e-6)


# --- weights -------------------------------------------------------------------------------

def _assert_weights_error(path):
    with pytest.raises(WeightsError) as caught:
        S3FD(device="cpu", weights=path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "download_model.sh" in message
    assert isinstance(caught.value, ValueError)


def test_missing_weights(tmp_path):
    _assert_weights_error(tmp_path / "absent" / "sfd_face.pth")


def test_truncated_weights(tmp_path, s3fd_weights):
    truncated = tmp_path / "sfd_face.pth"
    truncated.write_bytes(Path(s3fd_weights).read_bytes()[:1000])
    _assert_weights_error(truncated)


def test_wrong_layout_weights(syncnet_weights):
    _assert_weights_error(syncnet_weights)


def test_wrong_shape_and_non_dict_weights(tmp_path, s3fd_weights):
    state = torch.load(s3fd_weights, map_location="cpu", weights_only=True)
    state["loc.0.weight"] = torch.zeros(4, 256, 1, 1)
    reshaped = tmp_path / "reshaped.pth"
    torch.save(state, reshaped)
    _assert_weights_error(reshaped)
    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], not_dict)
    _assert_weights_error(not_dict)


def test_own_weights_under_the_official_name_are_checked_for_layout_only(tmp_path, s3fd_weights):
    """Only the default place must hold the official sfd_face.pth; a file passed by path needs
    S3FD's layout, and a refusal names no flag (the caller passed it)."""
    state = torch.load(s3fd_weights, map_location="cpu", weights_only=True)
    state["loc.0.bias"] = state["loc.0.bias"] + 0.01
    own = tmp_path / "sfd_face.pth"
    torch.save(state, own)
    assert torch.equal(S3FD(device="cpu", weights=own).net.state_dict()["loc.0.bias"], state["loc.0.bias"])
    torch.save({"loc.0.bias": torch.zeros(3)}, own)
    with pytest.raises(WeightsError) as caught:
        S3FD(device="cpu", weights=own)
    assert "layout" in str(caught.value) and "--s3fd_model" not in str(caught.value)


def test_default_weights_path_is_beside_the_package(tmp_path, monkeypatch):
    """In a checkout, the official file's place is the reference's detectors/s3fd/weights."""
    import detectors
    default = Path(detectors.__file__).resolve().parent / "s3fd" / "weights" / "sfd_face.pth"
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "cache"))
    if default.is_file():
        assert S3FD.find_weights() == str(default)
    else:
        with pytest.raises(WeightsError) as caught:
            S3FD(device="cpu")
        message = str(caught.value)
        assert str(default) in message and "download_model.sh" in message and "\n" not in message


def test_device_choices(s3fd_weights, monkeypatch):
    """Whether or not this machine has CUDA: its availability is monkeypatched both ways."""
    from syncnet.runtime.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as caught:
        S3FD(device="cuda", weights=s3fd_weights)
    assert "\n" not in str(caught.value) and "--device cuda" in str(caught.value)
    assert S3FD(device="auto", weights=s3fd_weights).device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda" and resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match="tpu"):
        S3FD(device="tpu", weights=s3fd_weights)

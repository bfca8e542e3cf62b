"""Face detectors as a family: a second detector, defined here and registered by name, runs
through the real pipeline stage; the names are checked; the reference's names still import."""
import argparse
import glob

import numpy as np
import pytest

from syncnet.api import VideoScorer, score_video
from syncnet.detection import DETECTORS, FaceDetector, available_detectors, get_detector, register_detector
from syncnet.errors import InputError
from syncnet.options import ModelOptions, PipelineOptions
from syncnet.synthetic import make_scene_clip

SIZE = (640, 360)
# Each face is tracked over the whole 2 s clip (50 frames): more than this many detections.
PIPELINE = PipelineOptions(min_track=25)


class KnownBoxes(FaceDetector):
    """Finds the faces a synthetic scene was drawn with: `boxes[f]` (rows x1, y1, x2, y2, score)
    at the f-th frame the pipeline hands it, in order; none beyond. It needs no weights file."""
    boxes = []  # set by the test

    def __init__(self, device="auto", weights=None):
        super().__init__(device, weights)
        self.frames_seen = 0

    def detect_faces_batch(self, images, conf_th, scales):
        found = []
        for image in images:
            assert image.shape == (SIZE[1], SIZE[0], 3), "the pipeline passes whole RGB frames"
            rows = self.boxes[self.frames_seen] if self.frames_seen < len(self.boxes) else np.empty((0, 5))
            found.append(rows[rows[:, 4] > conf_th])
            self.frames_seen += 1
        return found


class NeedsLargeFrames(KnownBoxes):
    min_input_side = 400


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene_clip(tmp_path_factory.mktemp("scene") / "scene.avi", seconds=2.0, seed=7, size=SIZE)


@pytest.fixture
def known_boxes():
    """Registered through the registry only, for this test; no other module changes."""
    register_detector("known-boxes", KnownBoxes)
    register_detector("needs-large-frames", NeedsLargeFrames)
    yield "known-boxes"
    for name in ("known-boxes", "needs-large-frames"):
        DETECTORS.pop(name)


def _tracks(detector, scene, work_dir):
    scorer = VideoScorer.from_options(ModelOptions(detector=detector, device="cpu"))
    outcome = scorer.find_tracks(scene.path, work_dir, "scene", PIPELINE)
    assert isinstance(scorer.detector, KnownBoxes) and scorer.detector.frames_seen == outcome.n_frames
    return outcome


def test_a_registered_detector_runs_through_the_pipeline(known_boxes, scene, tmp_path, monkeypatch):
    # The conversion repeats the first frame (SPEC, run_pipeline step 2): a first run, finding
    # nothing, counts the frames, and the truth is lined up with them.
    n_frames = _tracks(known_boxes, scene, tmp_path / "count").n_frames
    lead = n_frames - len(scene.faces)
    truth = [scene.faces[max(0, frame - lead)] for frame in range(n_frames)]
    monkeypatch.setattr(KnownBoxes, "boxes", [np.array([[*face["bbox"], face["conf"]] for face in faces])
                                              for faces in truth])
    outcome = _tracks(known_boxes, scene, tmp_path / "work")
    assert len(outcome.tracks) == 2, "one track per drawn face"
    assert sorted(glob.glob("*.avi", root_dir=outcome.crop_dir)) == ["00000.avi", "00001.avi"]
    for side, entry in enumerate(outcome.tracks):  # the tracker takes the left face first
        track = entry["track"]
        # every frame of the one scene that PySceneDetect finds
        assert list(track["frame"]) == list(range(len(track["frame"]))) and len(track["frame"]) > PIPELINE.min_track
        np.testing.assert_allclose(track["bbox"], [truth[frame][side]["bbox"] for frame in track["frame"]],
                                   atol=1e-9)


def test_the_pipeline_refuses_frames_smaller_than_the_detectors_minimum(known_boxes, scene, tmp_path):
    """The minimum side is the detector's own: frames of 360 x 0.25 suit KnownBoxes (above), not
    this one."""
    with pytest.raises(InputError, match="too small to hold a face the detector can find") as caught:
        score_video(scene.path, work_dir=tmp_path, detector="needs-large-frames", device="cpu")
    assert "at least 1598 pixels a side" in str(caught.value)  # ceil((400 - 0.5) / 0.25)


def test_the_command_line_takes_a_registered_detector(known_boxes):
    from syncnet.cli import add_common_options, add_pipeline_options, model_options

    parser = argparse.ArgumentParser()
    add_pipeline_options(parser)
    add_common_options(parser)
    models = model_options(parser.parse_args(["--detector", known_boxes, "--s3fd_model", "mine.pth"]))
    assert (models.detector, models.s3fd_model) == (known_boxes, "mine.pth")
    assert model_options(parser.parse_args([])) == ModelOptions()


@pytest.mark.parametrize("make", [lambda: ModelOptions(detector="retina"),
                                  lambda: VideoScorer(detector="retina"),
                                  lambda: score_video("missing.mp4", detector="retina")],
                         ids=["options", "scorer", "score_video"])
def test_an_unknown_detector_is_one_line_that_lists_the_names(make):
    with pytest.raises(InputError) as caught:
        make()
    message = str(caught.value)
    assert message == f"--detector 'retina': expected one of {', '.join(available_detectors())}"
    assert "s3fd" in message and "\n" not in message


def test_s3fd_is_the_registrys_first_entry_and_the_default():
    from syncnet.detection.s3fd import S3FD

    assert available_detectors()[0] == ModelOptions().detector == "s3fd"
    assert get_detector("s3fd") is S3FD and issubclass(S3FD, FaceDetector)
    assert (S3FD.min_input_side, S3FD.weights_file) == (28, "sfd_face.pth")


def test_the_reference_names_import_from_a_checkout():
    import SyncNetModel
    from detectors import S3FD
    from detectors.s3fd import S3FD as S3FD_module
    from syncnet.cli.instance import SyncNetInstance as packaged_instance
    from syncnet.models.network import S
    from SyncNetInstance import SyncNetInstance

    assert SyncNetModel.S is S and SyncNetInstance is packaged_instance
    assert S3FD is S3FD_module is get_detector("s3fd")

"""The API's options: the reference's defaults, defined once (every script's argparse default comes
from them), and bad values refused in one line before any model loads. (score_video on real
clips: integration/test_api.py.)"""
import pytest

import syncnet
from syncnet import InputError, OutputOptions, PipelineOptions, ScoringOptions
from syncnet.cli import demo as demo_command
from syncnet.cli import pipeline as pipeline_command
from syncnet.cli import score as score_command


def test_defaults_are_the_references_and_defined_once():
    """SPEC.md's defaults; every script's argparse default comes from the option types."""
    assert PipelineOptions() == PipelineOptions(facedet_scale=0.25, facedet_conf=0.9, crop_scale=0.40,
                                                min_track=100, frame_rate=25, num_failed_det=25,
                                                min_face_size=100)
    assert (ScoringOptions().batch_size, ScoringOptions().vshift) == (20, 15)
    assert (OutputOptions().min_conf, OutputOptions().speaker_threshold) == (3.0, 1.5)
    pipeline = vars(pipeline_command.build_parser([]).parse_args([]))
    scoring = vars(score_command.build_parser([]).parse_args([]))
    demo = vars(demo_command.build_parser([]).parse_args([]))
    for name, value in vars(PipelineOptions()).items():
        assert pipeline[name] == value, name
    for name in ("batch_size", "vshift"):
        assert scoring[name] == demo[name] == getattr(ScoringOptions(), name)
    assert (scoring["min_conf"], scoring["speaker_threshold"]) == (3.0, 1.5)


@pytest.mark.parametrize("options, words", [
    ({"min_trak": 7}, ["unknown option", "min_trak"]),
    ({"batch_size": 0}, ["--batch_size 0", ">= 1"]),
    ({"vshift": -1}, ["--vshift -1", ">= 0"]),
    ({"min_track": 2.5}, ["--min_track 2.5", "integer"]),
    ({"facedet_conf": 1.5}, ["--facedet_conf 1.5", "< 1"]),
    ({"facedet_scale": float("nan")}, ["--facedet_scale", "number"]),
    ({"crop_scale": "0.4"}, ["--crop_scale", "number"]),
])
def test_bad_options_are_refused_before_any_model_loads(options, words, tmp_path):
    missing = tmp_path / "no-such.model"
    with pytest.raises(InputError) as caught:
        syncnet.score_video(tmp_path / "v.mp4", syncnet_model=missing, **options)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message

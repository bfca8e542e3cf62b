"""The synthetic world against its own truth, read back from the decoded files with numpy only:
the mouth opening (dark pixels) cross-correlated with the audio's loudness peaks at the stated
offset, silences are silent and still, boxes hold the drawn mouths, and only the speaker's
mouth follows the audio. No SyncNet is involved."""
import numpy as np
import pytest

from syncnet.synthetic import (
    CONVERSATIONS,
    constant,
    jump,
    linear,
    make_conversation_clip,
    make_face_clip,
    make_scene_clip,
)
from tests.helpers import MOUTH_DARK, audio_loudness, best_lag, decoded_frames, mouth_area, run_command


@pytest.mark.parametrize("offset, mp3, seed", [(6, False, 4), (-9, True, 5),
                                               pytest.param(0, False, 3, marks=pytest.mark.slow),
                                               pytest.param(3, True, 6, marks=pytest.mark.slow)])
def test_loudness_and_mouth_peak_at_the_stated_offset(tmp_path, offset, mp3, seed):
    truth = make_face_clip(tmp_path / "clip.avi", seconds=4.0, seed=seed, offset=constant(offset), mp3=mp3)
    frames = decoded_frames(truth.path)
    assert frames.shape == (100, 224, 224, 3)
    lag, scores = best_lag(audio_loudness(truth.path, tmp_path), mouth_area(frames))
    assert lag == offset, scores
    assert scores[lag] > 0.6


def test_the_oracle_can_fail_a_wrong_offset(tmp_path):
    truth = make_face_clip(tmp_path / "clip.avi", seed=7, offset=constant(4))
    lag, _ = best_lag(audio_loudness(truth.path, tmp_path), mouth_area(decoded_frames(truth.path)))
    assert lag != 0 and lag == truth.offset_at(1.0)


@pytest.mark.slow
def test_a_jump_and_a_drift_are_where_the_profile_says(tmp_path):
    edit = make_face_clip(tmp_path / "jump.avi", seconds=8.0, seed=8, offset=jump(-5, 7, at_s=4.0))
    loudness, mouth = audio_loudness(edit.path, tmp_path), mouth_area(decoded_frames(edit.path))
    assert best_lag(loudness, mouth, (0, 90))[0] == -5
    assert best_lag(loudness, mouth, (110, 200))[0] == 7
    assert (edit.offset_at(3.9), edit.offset_at(4.0)) == (-5, 7)

    drift = make_face_clip(tmp_path / "drift.avi", seconds=8.0, seed=9, offset=linear(-6, 6))
    loudness, mouth = audio_loudness(drift.path, tmp_path), mouth_area(decoded_frames(drift.path))
    found = [best_lag(loudness, mouth, (start, start + 50))[0] for start in range(0, 200, 50)]
    stated = [drift.offset_at((start + 25) / 25) for start in range(0, 200, 50)]
    assert np.abs(np.subtract(found, stated)).max() <= 1 and found == sorted(found), (found, stated)


def test_silences_are_silent_and_still(tmp_path):
    truth = make_face_clip(tmp_path / "clip.avi", seconds=5.0, seed=10, silences=((1.0, 2.5),))
    loudness, mouth = audio_loudness(truth.path, tmp_path), mouth_area(decoded_frames(truth.path))
    quiet, speaking = slice(27, 60), np.r_[0:23, 65:125]
    assert mouth[quiet].max() == 0 and mouth[speaking].max() > 100
    assert loudness[quiet].max() < 0.15 * np.percentile(loudness[speaking], 90)


def test_clips_are_deterministic_and_vary_with_the_seed(tmp_path):
    first = decoded_frames(make_face_clip(tmp_path / "a.avi", seconds=1.0, seed=11).path)
    again = decoded_frames(make_face_clip(tmp_path / "b.avi", seconds=1.0, seed=11).path)
    other = decoded_frames(make_face_clip(tmp_path / "c.avi", seconds=1.0, seed=12).path)
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 10


@pytest.mark.slow
def test_scene_boxes_hold_the_mouths_only_the_speaker_follows_the_audio_and_the_cut_shows(tmp_path):
    truth = make_scene_clip(tmp_path / "scene.avi", seconds=6.0, seed=13, speaker=1, offset=constant(2),
                            scene_cut_s=3.0)
    frames = decoded_frames(truth.path)
    assert len(truth.faces) == len(frames) == 150
    assert all(len(entries) == 2 and [e["frame"] for e in entries] == [i, i]
               for i, entries in enumerate(truth.faces))
    dark = frames.max(axis=-1) < MOUTH_DARK
    inside = np.zeros_like(dark)
    areas = np.zeros((len(frames), 2))
    for index, entries in enumerate(truth.faces):
        for side, entry in enumerate(entries):
            x1, y1, x2, y2 = (int(round(v)) for v in entry["bbox"])
            assert 100 < x2 - x1 < 250 and 0 <= x1 and x2 <= 640 and 0 <= y1 and y2 <= 360
            inside[index, y1:y2, x1:x2] = True
            areas[index, side] = dark[index, y1:y2, x1:x2].sum()
    assert dark.sum() > 1000 and not (dark & ~inside).any()
    loudness = audio_loudness(truth.path, tmp_path)
    lag, scores = best_lag(loudness, areas[:, 1])
    assert lag == 2 and scores[lag] > 0.6
    assert max(best_lag(loudness, areas[:, 0])[1].values()) < 0.4
    # the cut: the picture and the boxes change at frame 75, and only there
    change = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert int(np.argmax(change)) == 74 and change[74] > 5 * np.median(change)
    centres = np.array([[(e["bbox"][0] + e["bbox"][2]) / 2 for e in entries] for entries in truth.faces])
    moves = np.abs(np.diff(centres, axis=0)).max(axis=1)
    assert int(np.argmax(moves)) == 74 and np.delete(moves, 74).max() < 2


def test_write_faces_is_what_run_pipeline_takes(tmp_path):
    from syncnet.pipeline.detection import load_faces_file

    truth = make_scene_clip(tmp_path / "scene.avi", seconds=1.0, seed=14)
    truth.write_faces(tmp_path / "faces.json")
    assert load_faces_file(str(tmp_path / "faces.json")) == truth.faces


def _shown_source_frames(pyframes, source):
    """For each pyframe, the source frame it shows: the nearest decoded frame by mean absolute
    difference (read with OpenCV, independent of the pipeline's own matching)."""
    import cv2

    frames = [cv2.imread(str(path)).astype(np.float32) for path in pyframes]
    return [int(np.argmin([np.abs(frame - candidate).mean() for candidate in source])) for frame in frames]


@pytest.mark.timeout(120)
def test_write_faces_then_run_pipeline_faces_as_documented(tmp_path):
    """docs/synthetic.md's path: write_faces lists the source's frames (50 for 2 s), the conversion
    makes 52 pyframes (SPEC: it repeats the first frames), and run_pipeline --faces takes the
    file as written: every pyframe gets the boxes of the source frame it shows, found here by
    comparing pictures, and both faces are cropped."""
    from syncnet.io.fileio import load_pickle

    truth = make_scene_clip(tmp_path / "scene.mp4", seconds=2.0, seed=21, speaker=1)
    truth.write_faces(tmp_path / "faces.json")
    assert len(truth.faces) == 50
    work = tmp_path / "work"
    result = run_command("run_pipeline.py", "--videofile", truth.path, "--data_dir", work, "--reference", "scene",
                         "--faces", tmp_path / "faces.json", "--min_track", "25", "--s3fd_model",
                         tmp_path / "absent.pth", cwd=tmp_path)
    assert "2 face track(s)" in result.stdout, result.stdout + result.stderr
    pyframes = sorted((work / "pyframes" / "scene").glob("*.jpg"))
    shown = _shown_source_frames(pyframes, decoded_frames(truth.path).astype(np.float32))
    assert len(pyframes) == 52 and shown[:4] == [0, 0, 1, 1], shown[:6]  # the repeats SPEC describes
    faces = load_pickle(work / "pywork" / "scene" / "faces.pckl")
    assert len(faces) == len(pyframes)
    for pyframe, frame in enumerate(shown):
        assert faces[pyframe] == [dict(face, frame=pyframe) for face in truth.faces[frame]], pyframe


def test_conversation_scenes_hold_their_truth(tmp_path):
    """Each conversation scene read back: a face's mouth moves only where its script says, the
    heard audio follows the speaking face's mouth at lag 0 (the desynchronised face's at its
    shift), and the voice-over stretch is loud while no heard face's mouth follows it."""
    for scene in CONVERSATIONS:
        truth = make_conversation_clip(tmp_path / f"{scene}.avi", scene, seconds=4.0, seed=21)
        frames = decoded_frames(truth.path)
        assert len(truth.faces) == len(frames) == len(truth.speaking) == 100
        dark = frames.max(axis=-1) < MOUTH_DARK
        areas = np.array([[dark[index, int(e["bbox"][1]):int(e["bbox"][3]), int(e["bbox"][0]):int(e["bbox"][2])].sum()
                           for e in entries] for index, entries in enumerate(truth.faces)])
        loudness = audio_loudness(truth.path, tmp_path)
        for face in (0, 1):
            speaking = np.flatnonzero(truth.speaking[:, face])
            if len(speaking):
                window = (speaking[0], speaking[-1] + 1)
                lag, scores = best_lag(loudness, areas[:, face], window)
                assert lag == 0 and scores[lag] > 0.5, (scene, face, lag, scores[lag])
        if scene == "turns":  # the listener's mouth is still
            assert areas[truth.speaking[:, 0], 1].max() == 0 and areas[truth.speaking[:, 1], 0].max() == 0
        if scene == "overlap":
            assert truth.speaking.all(axis=1).sum() == 20
        if scene == "voiceover":
            narrated = np.flatnonzero(truth.voice_over)
            assert len(narrated) == 34 and not truth.speaking[narrated].any()
            assert np.percentile(loudness[narrated], 90) > 0.5 * np.percentile(loudness, 90)
            assert areas[narrated, 0].max() > 100  # the dubbed face's lips go on moving, unheard
        if scene == "desync":
            assert not truth.speaking.any() and truth.desynced == 0
            assert best_lag(loudness, areas[:, 0], (10, 90))[0] == truth.shift_frames == 8

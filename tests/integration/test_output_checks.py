"""Issue 23 through real media: demo_syncnet refuses outputs before it scores anything, two threads
scoring through one VideoScorer into one folder get their own answers or a refusal, and a repair
shifts by its verdict's offset."""
import shutil
import threading

import numpy as np
import pytest

from syncnet.errors import InputError
from tests.helpers import TEST_DEVICE, assert_shifted_exactly, decoded_audio, run_command

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory):
    """Two 1 s synthetic face clips whose audio differs (offsets +2 and -3 frames): 20 windows each."""
    from syncnet.synthetic import constant, make_face_clip

    folder = tmp_path_factory.mktemp("short_clips")
    return [make_face_clip(folder / f"clip{index}.avi", seconds=1.0, seed=20 + index, offset=constant(offset)).path
            for index, offset in enumerate((2, -3))]


def test_demo_refuses_its_outputs_before_scoring(clip, tmp_path):
    """A model file that does not exist: a refusal after scoring would name it instead."""
    videos = tmp_path / "videos"
    videos.mkdir()
    video = videos / "clip.avi"
    shutil.copy(clip("example.avi"), video)
    (tmp_path / "linked").symlink_to(videos, target_is_directory=True)
    (tmp_path / "a_folder.json").mkdir()
    original = video.read_bytes()
    for extra, words in [
            (["--write_synced", tmp_path / "linked" / "clip.avi"],
             f"--write_synced {tmp_path}/linked/clip.avi: that is the input {video} (the same file)"),
            (["--plot", tmp_path / "missing" / "p.png"], f"--plot {tmp_path}/missing/p.png: the folder"),
            (["--timeline", tmp_path / "a_folder.json"], f"--timeline {tmp_path}/a_folder.json: that is a folder"),
            (["--write_synced", tmp_path / "out.avi", "--offset", 10 ** 12],
             "--offset 1000000000000: the clip has only ")]:
        result = run_command("demo_syncnet.py", "--initial_model", tmp_path / "missing.model", "--videofile", video,
                             "--tmp_dir", tmp_path / "tmp", *extra, cwd=tmp_path, check=False)
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"demo_syncnet.py: error: {words}"), lines
        assert ".part" not in result.stderr and "Model" not in result.stdout
    assert video.read_bytes() == original
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_folder.json", "linked", "videos"]


def score_in_threads(scorer, videos, folder, references):
    """Each video scored by score_face_video in a thread of its own, in `folder` under its
    reference, all started together: the summaries, or the InputErrors that refused them."""
    outcomes, start = [None] * len(videos), threading.Barrier(len(videos))

    def score(index):
        start.wait(10)
        try:
            outcomes[index] = scorer.score_face_video(videos[index], folder, references[index]).summary
        except InputError as refusal:
            outcomes[index] = refusal

    threads = [threading.Thread(target=score, args=(index,)) for index in range(len(videos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_two_threads_through_one_scorer_into_one_folder(short_clips, syncnet_weights, tmp_path):
    """Each thread gets the answer that scoring its clip alone gives, or a refusal that names the
    folder in use; never the other clip's numbers, never a missing file."""
    from syncnet import VideoScorer

    scorer = VideoScorer(device=TEST_DEVICE, syncnet_model=syncnet_weights)
    alone = [scorer.score_face_video(video, tmp_path / "alone", "demo").summary for video in short_clips]
    assert alone[0].min_dist != alone[1].min_dist, "the two clips must be told apart"
    for references in (("same", "same"), ("first", "second")):
        outcomes = score_in_threads(scorer, short_clips, tmp_path / "shared", references)
        for index, outcome in enumerate(outcomes):
            assert outcome is not None, f"thread {index} failed with another error (see its traceback above)"
            if isinstance(outcome, InputError):
                assert references[0] == references[1], "threads in folders of their own are never refused"
                assert "is in use by another thread of this process" in str(outcome)
            else:
                assert (outcome.offset, outcome.min_dist, outcome.confidence) == (
                    alone[index].offset, alone[index].min_dist, alone[index].confidence)
                np.testing.assert_array_equal(outcome.mean_dists, alone[index].mean_dists)
        assert any(not isinstance(outcome, InputError) for outcome in outcomes)


def test_a_repair_shifts_by_its_verdicts_offset(short_clips, tmp_path):
    """A constant_offset verdict of +2 frames, whatever the whole clip's offset (15 here, as an
    unconfident curve's edge gives): the audio moves by exactly 2 frames."""
    from pathlib import Path

    from syncnet.repair.warp import repair_face_video
    from syncnet.timeline import Segment, Timeline

    segments = [Segment(start_s=0.0, end_s=0.5, offset_frames=2, min_dist=6.0, confidence=4.0, reliable=True,
                        offset_estimate=2.2),
                Segment(start_s=0.5, end_s=1.0, offset_frames=2, min_dist=6.0, confidence=4.0, reliable=True,
                        offset_estimate=1.9)]
    course = Timeline(segment_s=0.5, hop_s=0.5, tolerance_ms=(-125.0, 45.0), duration_s=1.0, segments=segments,
                      verdict="constant_offset")
    target = tmp_path / "synced.avi"
    repair = repair_face_video(short_clips[0], str(target), course, 15, 0.01, min_conf=3.0)
    assert repair.kind == "shift" and "delayed by 2 frame(s)" in repair.description
    rate, original = decoded_audio(Path(short_clips[0]), tmp_path)
    _, shifted = decoded_audio(target, tmp_path)
    assert_shifted_exactly(original, shifted, 2 * rate // 25)

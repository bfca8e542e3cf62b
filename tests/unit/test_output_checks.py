"""Outputs refused before any work (an output that is an input by another spelling, one that cannot
be written), the folder lock between threads, the repair's refusals, and run_syncnet's line when its
repair is refused (issue 23). In-process; the files are made here, and no network is run."""
import json
import os
import threading

import numpy as np
import pytest

from syncnet.errors import InputError
from syncnet.io.fileio import atomic_path, check_output_files, same_file, save_json
from syncnet.io.locking import FolderLock
from syncnet.repair.resync import RepairRefused, check_offset
from syncnet.scoring.results import TrackResult, VideoResult
from syncnet.timeline import Segment, Timeline


@pytest.fixture
def source(tmp_path):
    """An input file in its own folder, and a symlink to that folder: (input, linked folder)."""
    folder = tmp_path / "videos"
    folder.mkdir()
    video = folder / "clip.avi"
    video.write_bytes(b"the input")
    (tmp_path / "linked").symlink_to(folder, target_is_directory=True)
    return video, tmp_path / "linked"


def test_an_output_that_reaches_the_input_by_another_spelling_is_refused(source, tmp_path):
    video, linked = source
    (tmp_path / "hard.avi").hardlink_to(video)
    spellings = [linked / "clip.avi",                                  # a symlinked folder
                 tmp_path / "hard.avi",                                # a hard link
                 video.parent / ".." / "videos" / "." / "clip.avi"]    # .. and .
    for spelling in spellings:
        assert same_file(spelling, video)
        with pytest.raises(InputError, match=r"--write_synced .*: that is the input .*clip\.avi \(the same file\)"):
            check_output_files({"--write_synced": spelling}, [video])
    assert video.read_bytes() == b"the input"
    check_output_files({"--write_synced": linked / "other.avi"}, [video])  # a new name passes


def test_two_outputs_on_one_file_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"--timeline .*t\.json: --plot .*t\.json is the same file"):
        check_output_files({"--plot": tmp_path / "t.json", "--timeline": tmp_path / "." / "t.json"})


def test_an_output_that_cannot_be_written_is_refused_by_the_users_name(tmp_path):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("")
    for path, words in [(tmp_path / "missing" / "t.json", r"the folder .*missing does not exist"),
                        (tmp_path / "a_folder", "that is a folder; name a file to write"),
                        (tmp_path / "a_file" / "t.json", r".*a_file is a file, not a folder")]:
        with pytest.raises(InputError, match=r"^--timeline " + str(path).replace(".", r"\.") + ": " + words):
            check_output_files({"--timeline": path})
    if os.geteuid() != 0:  # root writes in a read-only folder
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(InputError, match="cannot write in"):
            check_output_files({"--plot": locked / "p.png"})
    assert sorted(os.listdir(tmp_path)) == ["a_file", "a_folder"] + (["locked"] if os.geteuid() != 0 else [])


def test_an_atomic_write_that_fails_names_the_users_path(tmp_path):
    target = tmp_path / "missing" / "x.json"
    with pytest.raises(OSError) as failure:
        save_json({}, target)
    assert failure.value.filename == str(target) and ".part" not in str(failure.value)
    with pytest.raises(OSError), atomic_path(target):
        pass


def test_the_folder_lock_refuses_another_thread_and_nests_in_its_own(tmp_path):
    folder = tmp_path / "pywork" / "ref"
    held, release, outcome = threading.Event(), threading.Event(), {}

    def holder():
        with FolderLock(folder):
            with FolderLock(folder):  # nested in the holding thread: counted
                held.set()
                release.wait(10)

    def other():
        try:
            with FolderLock(folder):
                outcome["got"] = True
        except InputError as refusal:
            outcome["refused"] = str(refusal)

    first = threading.Thread(target=holder)
    first.start()
    try:
        assert held.wait(10)
        second = threading.Thread(target=other)
        second.start()
        second.join(10)
    finally:
        release.set()
        first.join(10)
    assert "got" not in outcome
    assert "is in use by another thread of this process" in outcome["refused"]
    with FolderLock(folder):  # released by its holder: free again
        pass


def test_an_offset_beyond_the_clip_is_refused():
    check_offset(None, 100)
    check_offset(-99, 100)
    for offset in (100, -100, 10 ** 12):
        with pytest.raises(InputError, match=rf"--offset {offset}: the clip has only 100 frames"):
            check_offset(offset, 100)


# --- the repair follows the verdict ---------------------------------------------------------------


def timeline(verdict, offsets, vshift=15):
    """A Timeline of 5 s segments every 2.5 s at `offsets` (None: no speech), with `verdict`."""
    segments = [Segment(start_s=2.5 * index, end_s=2.5 * index + 5, offset_frames=offset, min_dist=7.0,
                        confidence=5.0, reliable=offset is not None, offset_estimate=offset,
                        at_edge=offset is not None and abs(offset) == vshift)
                for index, offset in enumerate(offsets)]
    return Timeline(segment_s=5.0, hop_s=2.5, tolerance_ms=(-125.0, 45.0), duration_s=2.5 * len(offsets) + 2.5,
                    segments=segments, verdict=verdict)


def test_the_face_videos_repair_is_refused_where_the_verdict_gives_no_offset(tmp_path):
    from syncnet.repair.warp import repair_face_video

    target = tmp_path / "out.avi"
    cases = [(timeline("out_of_range", [3, 9, 15, 15, 15]), "leaves the searched range -15..+15 frames: 3 segments"),
             (timeline("unreliable", [None] * 5), r"the timeline is unreliable \(0 of 5 segments reliable"),
             (None, r"confidence 0.004 is below --min_conf 3")]
    for course, words in cases:
        with pytest.raises(RepairRefused, match=words):
            repair_face_video(tmp_path / "in.avi", target, course, 15, 0.004, 3.0)
    assert not target.exists()


def track_with(course, offset, confidence=6.0):
    frames = np.arange(300)
    return TrackResult(track=0, file="00000.avi", offset=offset, min_dist=6.0, confidence=confidence, frames=frames,
                       boxes=np.zeros((300, 4)), frame_confidence=np.zeros(300), dists=np.zeros((296, 31)),
                       timeline=course)


def test_run_syncnets_repair_is_refused_where_consensus_and_verdict_disagree(tmp_path):
    from syncnet.repair.warp import repair_tracks

    result = VideoResult(video="v", n_frames=300, tracks=[track_with(timeline("constant_offset", [0] * 5), 15)],
                         converted=str(tmp_path / "video.avi"))
    with pytest.raises(RepairRefused, match=r"consensus offset, \+15 frames, disagrees with the timeline of "
                                            r"00000\.avi \(constant_offset, \+0 frames\)"):
        repair_tracks(result, str(tmp_path / "synced.avi"))
    silent = VideoResult(video="v", n_frames=300, tracks=[track_with(timeline("unreliable", [None] * 5), 4)],
                         converted=str(tmp_path / "video.avi"))
    with pytest.raises(RepairRefused, match="the timeline is unreliable"):
        repair_tracks(silent, str(tmp_path / "synced.avi"), min_conf=0)


def test_run_syncnet_says_its_results_stand_when_the_repair_is_refused(tmp_path, monkeypatch, capsys):
    """The results are written and listed, then one line says the repair was refused; exit status 3."""
    import run_syncnet
    from syncnet.api import VideoScorer

    data_dir = tmp_path / "work"
    for folder in ("pywork", "pyavi"):
        (data_dir / folder / "r").mkdir(parents=True)
    (data_dir / "pywork" / "r" / "pipeline.json").write_text(json.dumps({"complete": True, "n_frames": 300}))
    offsets_json = data_dir / "pywork" / "r" / "offsets.json"
    unconfident = VideoResult(video="v", n_frames=300, tracks=[track_with(None, 15, confidence=0.004)],
                              converted=str(data_dir / "pyavi" / "r" / "video.avi"),
                              files={"offsets.json": str(offsets_json)})
    monkeypatch.setattr(VideoScorer, "score_tracks", lambda *args, **kwargs: unconfident)
    assert run_syncnet.main(["--data_dir", str(data_dir), "--reference", "r", "--write_synced"]) == 3
    printed = capsys.readouterr()
    assert printed.out.splitlines()[-1] == f"Wrote {offsets_json}"
    assert printed.err.splitlines() == [
        "run_syncnet.py: results written; repair refused: no track has confidence >= --min_conf 3 (the most "
        "confident, 00000.avi, has 0.004), so the offset is too uncertain to repair; pass --offset N if you know "
        "the lag"]
    # The edge note at that confidence says the offset is unreliable, not to search further.
    assert "the offset is unreliable" in printed.out and "larger --vshift" not in printed.out


def test_a_batch_refuses_a_kept_copy_that_would_be_its_video(source, tmp_path):
    """--curate into a folder where the copy's name already reaches the video (a link): refused
    before any video is scored."""
    from syncnet.batch.curation import CurationOptions, output_name
    from syncnet.batch.driver import BatchConfig, check_outputs
    from syncnet.io.layout import reference_for

    video, _ = source
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / output_name(reference_for(str(video)), str(video))).symlink_to(video)
    config = BatchConfig(data_dir=str(tmp_path / "runs"), curate=CurationOptions(str(kept)), scratch_dir=str(tmp_path))
    with pytest.raises(InputError, match=r"--curate .*kept: its copy .* of .*clip\.avi is that video itself"):
        check_outputs(config, [str(video)])
    check_outputs(config, [str(tmp_path / "hard.avi")])  # another video's copy lands elsewhere
    assert video.read_bytes() == b"the input"

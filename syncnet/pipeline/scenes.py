"""Shot boundaries with PySceneDetect 0.7, as plain (start, end) frame numbers."""
from syncnet.errors import MediaError


def detect_scenes(video_path):
    """ContentDetector at its defaults; one scene spanning the video when there is no cut.

    0.7 reports positions on the timestamp timeline, which is also how the extracted frames are
    numbered. End frames are exclusive.
    """
    from scenedetect import ContentDetector, SceneManager, open_video

    try:
        video = open_video(str(video_path))
    except Exception as error:  # scenedetect wraps OpenCV's failures in several types
        raise MediaError(f"PySceneDetect cannot open {video_path}: {error}") from None
    manager = SceneManager()
    manager.auto_downscale = True
    manager.add_detector(ContentDetector())
    manager.detect_scenes(video=video)
    scenes = manager.get_scene_list(start_in_scene=True)
    return [(int(start.frame_num), int(end.frame_num)) for start, end in scenes]

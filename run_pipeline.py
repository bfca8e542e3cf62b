#!/usr/bin/env python3
"""Find the face tracks of a video and crop each into pycrop/REFERENCE/%05d.avi, with its audio."""
import argparse
import sys

from syncnet.cli import add_common_options, reported_errors


def build_parser():
    parser = argparse.ArgumentParser(description="FaceTracker")
    parser.add_argument("--data_dir", type=str, default="data/work", help="folder that holds pyavi, pycrop, pywork, pytmp and pyframes")
    parser.add_argument("--videofile", type=str, default="", help="the video to process")
    parser.add_argument("--reference", type=str, default="", help="name of this run's folders under --data_dir")
    add_pipeline_options(parser)
    add_common_options(parser)
    return parser


def add_pipeline_options(parser):
    """The options of the face-track steps, shared with syncnet-batch."""
    parser.add_argument("--facedet_scale", type=float, default=0.25, help="frames are resized by this factor for face detection")
    parser.add_argument("--facedet_conf", type=float, default=0.9,
                        help="face detections need a score above this (the reference's 0.9)")
    parser.add_argument("--crop_scale", type=float, default=0.40, help="margin added around the face box when cropping")
    parser.add_argument("--min_track", type=int, default=100, help="a track needs more detections than this (frames)")
    parser.add_argument("--frame_rate", type=int, default=25, help="frame rate of the converted video")
    parser.add_argument("--num_failed_det", type=int, default=25,
                        help="frames without a detection that a track may bridge")
    parser.add_argument("--min_face_size", type=int, default=100, help="mean face size a track needs (pixels)")
    parser.add_argument("--s3fd_model", type=str, default=None,
                        help="S3FD weights (default detectors/s3fd/weights/sfd_face.pth, "
                             "else sfd_face.pth in the model cache)")
    parser.add_argument("--reuse_faces", action="store_true",
                        help="use pywork/REFERENCE/faces.pckl from an earlier run instead of detecting")


def check_options(opt):
    """Refuse bad options and unusable inputs before any folder is touched."""
    from syncnet.errors import InputError
    from syncnet.layout import check_reference
    from syncnet.media import require_audio_video

    check_reference(opt.reference)
    if not opt.videofile:
        raise InputError("--videofile is required")
    require_audio_video(opt.videofile)
    check_pipeline_options(opt)


def check_pipeline_options(opt):
    """Refuse bad values of the options that add_pipeline_options defines."""
    from syncnet.errors import InputError

    if not 0 < opt.facedet_scale <= 4:
        raise InputError(f"--facedet_scale {opt.facedet_scale}: expected a factor in (0, 4]")
    if not 0 <= opt.facedet_conf < 1:
        raise InputError(f"--facedet_conf {opt.facedet_conf}: expected a score in [0, 1)")
    if opt.crop_scale < 0 or opt.min_track < 0 or opt.num_failed_det < 0 or opt.frame_rate <= 0:
        raise InputError("--crop_scale, --min_track and --num_failed_det must be >= 0, --frame_rate > 0")


def main(argv=None):
    opt = build_parser().parse_args(argv)
    with reported_errors("run_pipeline.py", opt.debug, opt.quiet):
        check_options(opt)
        from syncnet.layout import Layout
        from syncnet.paths import find_s3fd_weights
        from syncnet.pipeline import run_pipeline

        def make_detector():
            from detectors import S3FD

            return S3FD(device=opt.device, weights=find_s3fd_weights(opt.s3fd_model))

        layout = Layout(opt.data_dir, opt.reference)
        tracks = run_pipeline(opt, layout, make_detector)
        if tracks:
            print("%d face track(s) cropped to %s" % (len(tracks), layout.crop))
        else:
            print("No face track was kept, so %s is empty: a track needs more than --min_track %d "
                  "detections and a mean face size above --min_face_size %d pixels."
                  % (layout.crop, opt.min_track, opt.min_face_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())

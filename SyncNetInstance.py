"""SyncNetInstance: load weights, then score a face video (evaluate) or embed its lips (extract_feature)."""
import logging
import os
import time

import cv2
import numpy as np
import torch

from SyncNetModel import S
from syncnet import media
from syncnet.devices import resolve_device
from syncnet.errors import InputError
from syncnet.frames import read_images, read_video
from syncnet.inference import InferenceSyncNet
from syncnet.layout import reset_dir
from syncnet.paths import find_syncnet_model
from syncnet.progress import progress_bar
from syncnet.scoring import (ShiftedDistances, StreamedMfcc, audio_batch, lip_batches, summarise,
                             window_columns, window_count)
from syncnet.weights import load_state_dict

log = logging.getLogger(__name__)

FACE_SIZE = 224
HOW_TO_GET_SYNCNET = "run `bash download_model.sh` to fetch the official syncnet_v2.model"


class SyncNetInstance(torch.nn.Module):

    def __init__(self, dropout=0, num_layers_in_fc_layers=1024, device="auto"):
        super().__init__()
        self.device = resolve_device(device)
        self.__S__ = S(num_layers_in_fc_layers=num_layers_in_fc_layers).to(self.device).eval()
        self._net = None

    def loadParameters(self, path):
        load_state_dict(self.__S__, find_syncnet_model(path), "SyncNet model", HOW_TO_GET_SYNCNET)
        self.__S__.to(self.device).eval()
        self._net = None

    @property
    def network(self):
        """__S__ keeps the official layout; scoring runs its folded 2D equivalent, built on first use."""
        if self._net is None:
            self._net = InferenceSyncNet(self.__S__).to(self.device)
        return self._net

    @torch.inference_mode()
    def evaluate(self, opt, videofile, verbose=True):
        """Score one face video; returns (offset, confidence, dists N x (2*vshift+1)).

        With `verbose` it prints as the reference did; without, it prints nothing. A progress bar
        shows unless `opt.quiet`.
        """
        started = time.time()
        info = media.require_audio_video(videofile)
        work_dir = reset_dir(opt.tmp_dir, opt.reference)
        # A 25 fps input is decoded exactly as the reference did; others are resampled to 25 fps.
        resample = None if info.fps == media.FRAME_RATE else media.FRAME_RATE
        if resample:
            log.info("%s is %.3g fps: resampling its frames to 25 fps", videofile, info.fps)
        media.extract_frames(videofile, work_dir, frame_rate=resample)
        wav_path = os.path.join(work_dir, "audio.wav")
        media.extract_audio(videofile, wav_path)

        frame_paths = sorted(os.path.join(work_dir, f) for f in os.listdir(work_dir)
                             if f.endswith(".jpg"))
        with media.MonoWav(wav_path) as wav:
            audio_seconds = wav.n_samples / media.SAMPLE_RATE
            video_seconds = len(frame_paths) / media.FRAME_RATE
            if audio_seconds != video_seconds and verbose:
                print("WARNING: Audio (%.4fs) and video (%.4fs) lengths are different."
                      % (audio_seconds, video_seconds))
            elif audio_seconds != video_seconds:
                log.warning("%s: audio (%.4fs) and video (%.4fs) lengths are different",
                            videofile, audio_seconds, video_seconds)

            if frame_paths:
                _require_face_crop_size(cv2.imread(frame_paths[0]), videofile)
            n_windows = window_count(len(frame_paths), wav.n_samples)
            if n_windows == 0:
                raise InputError(f"{videofile}: too short to score: SyncNet needs at least 6 frames "
                                 f"with audio (found {len(frame_paths)} frames, {audio_seconds:.2f} s of audio)")
            dists = self._distances(frame_paths, StreamedMfcc(wav.read, wav.n_samples), n_windows, opt)
        summary = summarise(dists, opt.vshift)
        if not verbose:
            return summary.offset, summary.confidence, dists

        print("Compute time %.3f sec." % (time.time() - started))
        with np.printoptions(formatter={"float": "{: 0.3f}".format}):
            print("Framewise conf: ")
            print(summary.framewise_conf)
        print("AV offset: \t%d \nMin dist: \t%.3f\nConfidence: \t%.3f"
              % (summary.offset, summary.min_dist, summary.confidence))
        return summary.offset, summary.confidence, dists

    def _distances(self, frame_paths, coefficients, n_windows, opt):
        """Window by window, batch by batch: frames, their MFCC span, both networks, distances."""
        distances = ShiftedDistances(opt.vshift)
        with progress_bar(n_windows, "scoring windows", "window", getattr(opt, "quiet", False)) as bar:
            for first, lips in lip_batches(read_images(frame_paths), opt.batch_size, n_windows):
                span = coefficients.columns(*window_columns(first, len(lips)))
                lip_feats = self.network.forward_lip(lips.to(self.device))
                aud_feats = self.network.forward_aud(audio_batch(span).to(self.device))
                distances.add(lip_feats.float().cpu(), aud_feats.float().cpu())
                bar.update(len(lips))
        return distances.finish()

    @torch.inference_mode()
    def extract_feature(self, opt, videofile):
        """512-d lip features of every 5-frame window, read straight from the video: (T-4) x 512."""
        if not os.path.isfile(videofile):
            raise InputError(f"video file not found: {videofile}")
        features = [self.network.forward_lipfeat(lips.to(self.device)).float().cpu()
                    for _, lips in lip_batches(_checked_size(read_video(videofile), videofile), opt.batch_size)]
        if not features:
            raise InputError(f"{videofile}: no 5-frame window could be read from this video")
        return torch.cat(features)


def _require_face_crop_size(image, videofile):
    if image is not None and image.shape[:2] != (FACE_SIZE, FACE_SIZE):
        raise InputError(f"{videofile}: frames are {image.shape[1]}x{image.shape[0]}, but SyncNet scores "
                         f"{FACE_SIZE}x{FACE_SIZE} face crops: run run_pipeline.py on a full video")


def _checked_size(frames, videofile):
    for index, image in enumerate(frames):
        if index == 0:
            _require_face_crop_size(image, videofile)
        yield image

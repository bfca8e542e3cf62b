"""SyncNetInstance: load weights, then score a face video (evaluate) or embed its lips (extract_feature)."""
import os
import time

import numpy as np
import torch
from scipy.io import wavfile

from SyncNetModel import S
from syncnet import media
from syncnet.devices import resolve_device
from syncnet.errors import InputError
from syncnet.frames import read_images, read_video
from syncnet.layout import reset_dir
from syncnet.scoring import (ShiftedDistances, audio_batch, lip_batches, mfcc, summarise,
                             window_count)
from syncnet.weights import load_state_dict

HOW_TO_GET_SYNCNET = "run `bash download_model.sh` to fetch the official syncnet_v2.model"


class SyncNetInstance(torch.nn.Module):

    def __init__(self, dropout=0, num_layers_in_fc_layers=1024, device="auto"):
        super().__init__()
        self.device = resolve_device(device)
        self.__S__ = S(num_layers_in_fc_layers=num_layers_in_fc_layers).to(self.device).eval()

    def loadParameters(self, path):
        load_state_dict(self.__S__, path, "SyncNet model", HOW_TO_GET_SYNCNET)
        self.__S__.to(self.device).eval()

    @torch.inference_mode()
    def evaluate(self, opt, videofile):
        """Score one face video; returns (offset, confidence, dists N x (2*vshift+1)) and prints as the reference."""
        self.__S__.eval()
        started = time.time()
        _require_file(videofile)
        work_dir = reset_dir(opt.tmp_dir, opt.reference)
        media.extract_frames(videofile, work_dir)
        wav_path = os.path.join(work_dir, "audio.wav")
        media.extract_audio(videofile, wav_path)

        frame_paths = sorted(os.path.join(work_dir, f) for f in os.listdir(work_dir)
                             if f.endswith(".jpg"))
        _, audio = wavfile.read(wav_path)
        coefficients = mfcc(audio)
        audio_seconds = len(audio) / media.SAMPLE_RATE
        video_seconds = len(frame_paths) / media.FRAME_RATE
        if audio_seconds != video_seconds:
            print("WARNING: Audio (%.4fs) and video (%.4fs) lengths are different."
                  % (audio_seconds, video_seconds))

        n_windows = window_count(len(frame_paths), len(audio))
        if n_windows == 0:
            raise InputError(f"{videofile}: too short to score: SyncNet needs at least 6 frames "
                             f"with audio (found {len(frame_paths)} frames, {audio_seconds:.2f} s of audio)")
        distances = ShiftedDistances(opt.vshift)
        for first, lips in lip_batches(read_images(frame_paths), opt.batch_size, n_windows):
            lip_feats = self.__S__.forward_lip(lips.to(self.device))
            aud_feats = self.__S__.forward_aud(audio_batch(coefficients, first, len(lips)).to(self.device))
            distances.add(lip_feats.float().cpu(), aud_feats.float().cpu())
        dists = distances.finish()
        summary = summarise(dists, opt.vshift)

        print("Compute time %.3f sec." % (time.time() - started))
        with np.printoptions(formatter={"float": "{: 0.3f}".format}):
            print("Framewise conf: ")
            print(summary.framewise_conf)
        print("AV offset: \t%d \nMin dist: \t%.3f\nConfidence: \t%.3f"
              % (summary.offset, summary.min_dist, summary.confidence))
        return summary.offset, summary.confidence, dists

    @torch.inference_mode()
    def extract_feature(self, opt, videofile):
        """512-d lip features of every 5-frame window, read straight from the video: (T-4) x 512."""
        self.__S__.eval()
        _require_file(videofile)
        features = [self.__S__.forward_lipfeat(lips.to(self.device)).float().cpu()
                    for _, lips in lip_batches(read_video(videofile), opt.batch_size)]
        if not features:
            raise InputError(f"{videofile}: no 5-frame window could be read from this video")
        return torch.cat(features)


def _require_file(path):
    if not os.path.exists(path):
        raise InputError(f"video file not found: {path}")
    if not os.path.isfile(path):
        raise InputError(f"not a file: {path}")

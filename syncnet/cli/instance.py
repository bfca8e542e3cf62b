"""SyncNetInstance, the reference's interface, as a thin face over the syncnet package.

    instance = SyncNetInstance(device="auto")
    instance.loadParameters("data/syncnet_v2.model")
    offset, confidence, dists = instance.evaluate(opt, videofile="data/example.avi")

`opt` is anything with the reference's fields (tmp_dir, reference, batch_size, vshift), such as
its argparse namespace. evaluate prints the reference's lines; the package's own code
(syncnet.scoring.face_video, through syncnet.VideoScorer) does the work and prints nothing.
"""
import torch

from syncnet.io.layout import scratch_dir
from syncnet.models.loading import load_syncnet_weights
from syncnet.models.network import S
from syncnet.options import ScoringOptions
from syncnet.render.reports import demo_report
from syncnet.runtime.devices import resolve_device
from syncnet.scoring.face_video import lip_features, score_face_video


class SyncNetInstance(torch.nn.Module):

    def __init__(self, dropout=0, num_layers_in_fc_layers=1024, device="auto"):
        super().__init__()
        self.device = resolve_device(device)
        self.__S__ = S(num_layers_in_fc_layers=num_layers_in_fc_layers).to(self.device).eval()
        self._net = None

    def loadParameters(self, path):
        load_syncnet_weights(self.__S__, path)
        self.__S__.to(self.device).eval()
        self._net = None

    @property
    def network(self):
        """__S__ keeps the official layout; scoring runs its folded 2D equivalent, built on first use."""
        if self._net is None:
            from syncnet.models.inference import InferenceSyncNet

            self._net = InferenceSyncNet(self.__S__).to(self.device)
        return self._net

    def evaluate(self, opt, videofile, verbose=True):
        """Score one face video in opt.tmp_dir/opt.reference; returns (offset, confidence, dists).

        With `verbose` it prints as the reference did; without, it prints nothing.
        """
        scoring = ScoringOptions(batch_size=opt.batch_size, vshift=opt.vshift)
        with scratch_dir(opt.tmp_dir, opt.reference) as work_dir:
            score = score_face_video(self.network, videofile, work_dir, scoring,
                                     quiet=getattr(opt, "quiet", False))
        if verbose:
            print(demo_report(score))
        return score.summary.offset, score.summary.confidence, score.dists

    def extract_feature(self, opt, videofile):
        """512-d lip features of every 5-frame window, read straight from the video: (T-4) x 512."""
        return lip_features(self.network, videofile, ScoringOptions(batch_size=opt.batch_size).batch_size)

"""The S3FD network: VGG-16 trunk, L2-normalised sources and 3x3 detection heads.

Module names and list indices mirror the official sfd_face.pth state dict so it loads
with strict=True. The forward pass stops at the raw head outputs; decoding and NMS live
in box_utils so they can be batched, cached and tested on their own.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class L2Norm(nn.Module):
    """Per-position L2 normalisation over channels, then a learned per-channel scale."""

    def __init__(self, n_channels, scale):
        super().__init__()
        self.eps = 1e-10
        self.weight = nn.Parameter(torch.full((n_channels,), float(scale)))

    def forward(self, x):
        # eps is added after the sqrt (not inside), as the trained weights expect.
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight.view(1, -1, 1, 1)


def _vgg_layers():
    """The 35-entry trunk; the indices are part of the state-dict key names."""
    layers = []
    in_ch = 3
    # 'M' = 2x2 max-pool, 'C' = the same with ceil_mode (the third pool).
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512, "M"]
    for item in cfg:
        if item in ("M", "C"):
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=(item == "C")))
        else:
            layers += [nn.Conv2d(in_ch, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_ch = item
    layers += [
        nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6), nn.ReLU(inplace=True),  # fc6
        nn.Conv2d(1024, 1024, kernel_size=1), nn.ReLU(inplace=True),  # fc7
    ]
    return layers


class S3FDNet(nn.Module):
    """forward(x) -> (loc (N,P,4), conf (N,P,2) softmaxed, feature-map sizes [(h, w)] * 6)."""

    def __init__(self):
        super().__init__()
        self.vgg = nn.ModuleList(_vgg_layers())
        self.L2Norm3_3 = L2Norm(256, 10)
        self.L2Norm4_3 = L2Norm(512, 8)
        self.L2Norm5_3 = L2Norm(512, 5)
        self.extras = nn.ModuleList([
            nn.Conv2d(1024, 256, kernel_size=1),
            nn.Conv2d(256, 512, kernel_size=3, stride=2, padding=1),
            nn.Conv2d(512, 128, kernel_size=1),
            nn.Conv2d(128, 256, kernel_size=3, stride=2, padding=1),
        ])
        source_channels = [256, 512, 512, 1024, 512, 256]
        self.loc = nn.ModuleList([nn.Conv2d(c, 4, kernel_size=3, padding=1) for c in source_channels])
        # conf[0] has 4 outputs: 3 background channels (max-out) and the face channel.
        self.conf = nn.ModuleList([nn.Conv2d(c, 4 if k == 0 else 2, kernel_size=3, padding=1)
                                   for k, c in enumerate(source_channels)])

    def forward(self, x):
        sources = []
        for k in range(16):
            x = self.vgg[k](x)
        sources.append(self.L2Norm3_3(x))
        for k in range(16, 23):
            x = self.vgg[k](x)
        sources.append(self.L2Norm4_3(x))
        for k in range(23, 30):
            x = self.vgg[k](x)
        sources.append(self.L2Norm5_3(x))
        for k in range(30, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)
        for k, conv in enumerate(self.extras):
            x = F.relu(conv(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)

        locs, confs, shapes = [], [], []
        for k, src in enumerate(sources):
            loc = self.loc[k](src)
            conf = self.conf[k](src)
            if k == 0:
                # Max-out background label: fewer false positives from the many small priors.
                background = conf[:, 0:3].max(dim=1, keepdim=True)[0]
                conf = torch.cat((background, conf[:, 3:]), dim=1)
            shapes.append((int(loc.shape[2]), int(loc.shape[3])))
            # NHWC so the rows follow the priors' (i, j) order.
            locs.append(loc.permute(0, 2, 3, 1).contiguous().view(loc.shape[0], -1))
            confs.append(conf.permute(0, 2, 3, 1).contiguous().view(conf.shape[0], -1))
        n = x.shape[0]
        loc = torch.cat(locs, 1).view(n, -1, 4)
        conf = F.softmax(torch.cat(confs, 1).view(n, -1, 2), dim=-1)
        return loc, conf, shapes

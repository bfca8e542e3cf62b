"""The SyncNet network: an audio stream and a lip stream mapped into one embedding space.

Module names and Sequential positions match the official syncnet_v2.model state dict.
"""
import torch
from torch import nn


def _conv2d_block(c_in, c_out, kernel=3, padding=1):
    return [nn.Conv2d(c_in, c_out, kernel_size=kernel, padding=padding),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _conv3d_block(c_in, c_out, kernel, stride=1, padding=0):
    return [nn.Conv3d(c_in, c_out, kernel_size=kernel, stride=stride, padding=padding),
            nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)]


def _fc_head(size):
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                         nn.Linear(512, size))


class S(nn.Module):
    """SyncNet. Audio input: N x 1 x 13 x 20 MFCC; lip input: N x 3 x 5 x 224 x 224 BGR 0..255."""

    def __init__(self, num_layers_in_fc_layers=1024):
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_conv2d_block(1, 64), nn.MaxPool2d(kernel_size=1, stride=1),
            *_conv2d_block(64, 192), nn.MaxPool2d(kernel_size=3, stride=(1, 2)),
            *_conv2d_block(192, 384),
            *_conv2d_block(384, 256),
            *_conv2d_block(256, 256), nn.MaxPool2d(kernel_size=3, stride=2),
            *_conv2d_block(256, 512, kernel=(5, 4), padding=0),
        )
        self.netfcaud = _fc_head(num_layers_in_fc_layers)
        self.netfclip = _fc_head(num_layers_in_fc_layers)
        self.netcnnlip = nn.Sequential(
            *_conv3d_block(3, 96, kernel=(5, 7, 7), stride=(1, 2, 2)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d_block(96, 256, kernel=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv3d_block(256, 256, kernel=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d_block(256, 256, kernel=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d_block(256, 256, kernel=(1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d_block(256, 512, kernel=(1, 6, 6)),
        )

    def forward_aud(self, x):
        return self.netfcaud(torch.flatten(self.netcnnaud(x), 1))

    def forward_lip(self, x):
        return self.netfclip(self.forward_lipfeat(x))

    def forward_lipfeat(self, x):
        return torch.flatten(self.netcnnlip(x), 1)

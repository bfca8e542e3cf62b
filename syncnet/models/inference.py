"""A faster, numerically equivalent form of the SyncNet network for inference.

The lip stream's first Conv3d spans all 5 frames (its output has one time step) and every later
Conv3d and MaxPool3d has a temporal extent of 1, so the whole stream is a 2D network over the
frames stacked as 15 channels. BatchNorm in eval mode folds into the convolution before it.
2D convolutions in channels-last layout are what oneDNN runs fastest on CPUs; results agree
with the reference modules to float32 rounding (about 1e-5).
"""
import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval


def _fold(modules):
    """Fold each BatchNorm into the Conv or Linear before it; other modules are kept."""
    folded = []
    for module in modules:
        previous = folded[-1] if folded else None
        if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)) and isinstance(previous, (nn.Conv2d, nn.Conv3d)):
            folded[-1] = fuse_conv_bn_eval(previous, module)
        elif isinstance(module, nn.BatchNorm1d) and isinstance(previous, nn.Linear):
            folded[-1] = fuse_linear_bn_eval(previous, module)
        else:
            folded.append(copy.deepcopy(module))
    return folded


def _as_2d(module):
    """A Conv3d/MaxPool3d with temporal extent covering one output step, as its 2D equivalent."""
    if isinstance(module, nn.Conv3d):
        out_channels, in_channels, depth, height, width = module.weight.shape
        conv = nn.Conv2d(in_channels * depth, out_channels, (height, width),
                         stride=module.stride[1:], padding=module.padding[1:])
        # (N, C, T, H, W) viewed as (N, C*T, H, W) puts channel c, frame t at c*T + t, as this reshape does.
        conv.weight.data = module.weight.data.reshape(out_channels, in_channels * depth, height, width)
        conv.bias.data = module.bias.data.clone()
        return conv
    if isinstance(module, nn.MaxPool3d):
        def spatial(value):
            return tuple(value[1:]) if isinstance(value, tuple) else value
        return nn.MaxPool2d(spatial(module.kernel_size), spatial(module.stride), spatial(module.padding))
    return module


LIP_SLICE = 5


class InferenceSyncNet(nn.Module):
    """forward_lip / forward_aud / forward_lipfeat of a loaded `SyncNetModel.S`, computed faster.

    Lip input: N x 3 x 5 x H x W, float32 or uint8 BGR pixels.
    """

    def __init__(self, model):
        super().__init__()
        model = model.eval()
        self.lip = nn.Sequential(*[_as_2d(m) for m in _fold(model.netcnnlip)])
        self.aud = nn.Sequential(*_fold(model.netcnnaud))
        self.fc_lip = nn.Sequential(*_fold(model.netfclip))
        self.fc_aud = nn.Sequential(*_fold(model.netfcaud))
        self.eval()

    @property
    def device(self):
        return self.fc_lip[0].weight.device

    def forward_lipfeat(self, x):
        batch, channels, frames, height, width = x.shape
        stacked = x.reshape(batch, channels * frames, height, width).contiguous(memory_format=torch.channels_last)
        # Windows are independent in eval mode: small slices bound the activation memory
        # (the first layer's output is 4.6 MB a window) at no cost in speed. Raw 0..255 pixels
        # may come as uint8; they become float32 here, a slice at a time.
        return torch.cat([torch.flatten(self.lip(part.float()), 1) for part in stacked.split(LIP_SLICE)])

    def forward_lip(self, x):
        return self.fc_lip(self.forward_lipfeat(x))

    def forward_aud(self, x):
        return self.fc_aud(torch.flatten(self.aud(x.contiguous(memory_format=torch.channels_last)), 1))

    def to(self, *args, **kwargs):
        super().to(*args, **kwargs)
        self.lip.to(memory_format=torch.channels_last)
        self.aud.to(memory_format=torch.channels_last)
        return self

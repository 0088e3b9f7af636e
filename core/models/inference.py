"""Inference copies of the networks that run faster with the same outputs (within ~1e-5).

What helps on these convolution stacks (measured on a 2-core CPU):
BatchNorm folded into the preceding convolution (transposed ones too) and
``channels_last`` memory format — together ~1.5x on the deep Sketch Net at
424 and ~1.8x at 848, outputs within 2e-5. What does not: batching on the
CPU, more threads than free cores, ``torch.compile`` (seconds per new shape,
and inductor's freezing corrupts ConvTranspose2d+BatchNorm pairs with equal
in/out channels unless they are folded first). On CUDA, cuDNN autotuning is
switched on by :func:`prepare_device`.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.models.networks import Bottleneck, MaskNetV1, MaskNetV2

# (conv attribute, BatchNorm attribute) pairs held directly by a module class.
_ATTRIBUTE_PAIRS = {
    Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
    MaskNetV1: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
    MaskNetV2: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
}


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Return an eval-mode copy of ``net`` with every Conv/ConvTranspose + BatchNorm pair folded.

    Modules registered under several names (the original networks' aliases)
    are folded once, so the copy keeps its sharing.
    """
    net = copy.deepcopy(net).eval()
    for module in net.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = True  # inference only: no autograd needs the input kept
    done: set[int] = set()
    for module in list(net.modules()):
        if id(module) in done:
            continue
        done.add(id(module))
        if isinstance(module, nn.Sequential):
            _fold_sequential(module)
        for conv_name, bn_name in _ATTRIBUTE_PAIRS.get(type(module), ()):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, _fuse(conv, bn))
                setattr(module, bn_name, nn.Identity())
    return net


def _fold_sequential(seq: nn.Sequential) -> None:
    """Fold each Conv/ConvTranspose directly followed by a BatchNorm in ``seq``, in place."""
    names = list(seq._modules)
    for a, b in itertools.pairwise(names):
        conv, bn = seq._modules[a], seq._modules[b]
        if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(bn, nn.BatchNorm2d):
            seq._modules[a] = _fuse(conv, bn)
            seq._modules[b] = nn.Identity()


def _fuse(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    """One convolution computing ``bn(conv(x))`` with the BatchNorm's running statistics."""
    with torch.no_grad():
        return fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))


class ChannelsLast(nn.Module):
    """Run a network in channels_last memory format (input converted, output made contiguous)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last)).contiguous()


def optimize_for_inference(net: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Return a folded, channels_last inference copy of ``net`` on ``device``."""
    return ChannelsLast(fold_batchnorm(net).to(device)).eval()


def prepare_device(device: torch.device) -> None:
    """Process-wide settings for fast inference on ``device``."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False  # keep fp32 numbers comparable with the CPU's
        torch.backends.cudnn.allow_tf32 = False

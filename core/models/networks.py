"""The original project's four networks, with the same state_dict keys and numerics.

Sketch Net deep and shallow (pix2pix-like generators, BatchNorm eps 0.8) and
Mask Net v1 (28x28 mask) and v2 (56x56 mask, FPN) on a ResNet-50-like
backbone with TensorFlow-style SAME padding. Attribute names follow the
original modules so that original ``state_dict`` files load with
``strict=True``, aliases included (the originals register some modules under
several names, so a real checkpoint holds every such tensor more than once).

Every network takes a ``width`` multiplier for the hidden channels; 1.0 is
the original. Inputs and outputs keep their channel counts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# BatchNorm eps of the Sketch Nets: not stored in a checkpoint, yet it changes every output.
SKETCH_BN_EPS = 0.8


def scale_channels(channels: int, width: float) -> int:
    """Return the hidden channel count for ``width`` (at least 1)."""
    return max(1, int(round(channels * width)))


# --------------------------------------------------------------------------- Sketch Nets


class SketchBlock(nn.Module):
    """Conv or ConvTranspose -> BatchNorm(eps 0.8) -> ReLU, under ``model``: each block of the Sketch Nets."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d):
        super().__init__()
        self.model = nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels, eps=SKETCH_BN_EPS), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# (attribute, kind, cin, cout, kernel, stride, padding-for-deconv); channel 3 in and 1 out are fixed.
_DEEP_LAYERS = [
    ("down1", "conv", 3, 48, 5, 2),
    ("flat1_1", "conv", 48, 128, 3, 1),
    ("flat1_2", "conv", 128, 128, 3, 1),
    ("flat1_3", "conv", 128, 128, 3, 1),
    ("down2", "conv", 128, 256, 3, 2),
    ("flat2_1", "conv", 256, 256, 3, 1),
    ("flat2_2", "conv", 256, 256, 3, 1),
    ("down3", "conv", 256, 256, 3, 2),
    ("flat3_1", "conv", 256, 256, 3, 1),
    ("flat3_2", "conv", 256, 512, 3, 1),
    ("flat3_3", "conv", 512, 512, 3, 1),
    ("flat3_4", "conv", 512, 256, 3, 1),
    ("up1", "deconv", 256, 256, 4, 2, 1),
    ("flat4_1", "conv", 256, 256, 3, 1),
    ("flat4_2", "conv", 256, 128, 3, 1),
    ("up2", "deconv", 128, 128, 4, 2, 1),
    ("flat5_1", "conv", 128, 128, 3, 1),
    ("flat5_2", "conv", 128, 48, 3, 1),
    ("up3", "deconv", 48, 48, 4, 2, 1),
    ("flat6_1", "conv", 48, 24, 3, 1),
    ("flat6_2", "conv", 24, 1, 3, 1),
]

_SHALLOW_LAYERS = [
    ("down1", "conv", 3, 48, 5, 2),
    ("flat1_1", "conv", 48, 128, 3, 1),
    ("flat1_2", "conv", 128, 128, 3, 1),
    ("flat1_3", "conv", 128, 128, 3, 1),
    ("up3", "deconv", 128, 48, 4, 2, 1),
    ("flat6_1", "conv", 48, 24, 3, 1),
    ("flat6_2", "conv", 24, 1, 3, 1),
]


class _SketchNetBase(nn.Module):
    """Blocks registered as attributes, then again inside ``model`` (the original's aliasing)."""

    layers: list[tuple] = []

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = float(width)

        def ch(c: int) -> int:
            return c if c in (1, 3) else scale_channels(c, width)

        blocks = []
        for name, kind, cin, cout, kernel, stride, *rest in self.layers:
            if kind == "conv":  # padding (k-1)//2
                conv = nn.Conv2d(ch(cin), ch(cout), kernel, stride, (kernel - 1) // 2)
            else:
                conv = nn.ConvTranspose2d(ch(cin), ch(cout), kernel, stride, rest[0])
            block = SketchBlock(conv)
            setattr(self, name, block)
            blocks.append(block)
        self.final = nn.Sequential(nn.Conv2d(1, 1, 3, 1, 1), nn.Sigmoid())
        self.model = nn.Sequential(*blocks, self.final)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 3 x H x W in [0, 1] -> N x 1 x H' x W' in [0, 1], 0 = ink
        return self.model(x)


class SketchNetDeep(_SketchNetBase):
    """The original ``Generator``: three stride-2 convs, three transposed convs, no skips."""

    layers = _DEEP_LAYERS


class SketchNetShallow(_SketchNetBase):
    """The original ``Generator_Shallow``: one stride-2 conv, one transposed conv."""

    layers = _SHALLOW_LAYERS


# --------------------------------------------------------------------------- Mask Nets


class SamePad2d(nn.Module):
    """TensorFlow-style SAME zero padding before an unpadded conv or pool.

    As in the original, the amounts computed from ``size(2)`` pad the last
    dimension and those from ``size(3)`` pad dimension 2 (identical for the
    square inputs the Mask Nets get).
    """

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.size(2), x.size(3)
        pad_a = (math.ceil(a / self.stride) - 1) * self.stride + self.kernel - a
        pad_b = (math.ceil(b / self.stride) - 1) * self.stride + self.kernel - b
        left, top = pad_a // 2, pad_b // 2
        return F.pad(x, (left, pad_a - left, top, pad_b - top))


class Bottleneck(nn.Module):
    """1x1 (stride here) -> SAME 3x3 -> 1x1 x4, each with BN+ReLU, plus the residual."""

    def __init__(self, cin: int, base: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, base, 1, stride)
        self.bn1 = nn.BatchNorm2d(base)
        self.conv2 = nn.Conv2d(base, base, 3, 1)
        self.bn2 = nn.BatchNorm2d(base)
        self.conv3 = nn.Conv2d(base, base * 4, 1, 1)
        self.bn3 = nn.BatchNorm2d(base * 4)
        self.relu = nn.ReLU()
        self.padding = SamePad2d(3, 1)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(self.padding(out))))
        out = self.relu(self.bn3(self.conv3(out)))
        residual = self.downsample(x) if self.downsample is not None else x
        return out + residual  # no ReLU after the addition, as in the original


class ResNet(nn.Module):
    """Backbone stages S1..S4: 224 -> 56x56x64, 56x56x256, 28x28x512, 14x14x1024 (width 1)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        stem = scale_channels(64, width)
        self.S1 = nn.Sequential(
            nn.Conv2d(3, stem, 7, 2, 3),
            nn.BatchNorm2d(stem),
            nn.ReLU(),
            SamePad2d(3, 2),
            nn.MaxPool2d(3, 2),
        )
        self._channels = stem
        self.S2 = self._make_stage(scale_channels(64, width), 3, 1)
        self.S3 = self._make_stage(scale_channels(128, width), 4, 2)
        self.S4 = self._make_stage(scale_channels(256, width), 6, 2)

    def _make_stage(self, base: int, count: int, stride: int) -> nn.Sequential:
        """``count`` Bottlenecks; the first takes the stride, with a conv+BN shortcut where the shape changes."""
        downsample = None
        if stride > 1 or self._channels != 4 * base:
            downsample = nn.Sequential(nn.Conv2d(self._channels, 4 * base, 1, stride), nn.BatchNorm2d(4 * base))
        blocks = [Bottleneck(self._channels, base, stride, downsample)]
        self._channels = 4 * base
        blocks += [Bottleneck(self._channels, base) for _ in range(1, count)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.S4(self.S3(self.S2(self.S1(x))))


def stage_channels(width: float) -> tuple[int, int, int]:
    """Output channels of S2, S3, S4 (4x each stage's bottleneck width): 256, 512, 1024 at width 1.

    Derived from the scaled bottleneck widths, not by scaling 256/512/1024 directly: for
    widths like 0.3 the two differ (4 * round(256 * 0.3) = 308, round(1024 * 0.3) = 307).
    """
    return tuple(4 * scale_channels(base, width) for base in (64, 128, 256))


def _add_head(net: nn.Module, cin: int, width: float) -> None:
    """Add the mask head's layers as attributes of ``net``, as the original Mask Nets hold them."""
    c512, c256 = scale_channels(512, width), scale_channels(256, width)
    net.samepadding = SamePad2d(3, 1)
    net.conv1 = nn.Conv2d(cin, c512, 3, 1)
    net.bn1 = nn.BatchNorm2d(c512)
    net.conv2 = nn.Conv2d(c512, c256, 3, 1)
    net.bn2 = nn.BatchNorm2d(c256)
    net.conv3 = nn.Conv2d(c256, c256, 3, 1)
    net.bn3 = nn.BatchNorm2d(c256)
    net.deconv = nn.ConvTranspose2d(c256, c256, 2, 2)
    net.conv4 = nn.ConvTranspose2d(c256, 1, 1, 1)


def _run_head(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """3x [SAME pad -> conv -> BN -> ReLU], deconv -> ReLU (no BN), 1x1 deconv -> sigmoid."""
    pad = net.samepadding
    x = F.relu(net.bn1(net.conv1(pad(x))))
    x = F.relu(net.bn2(net.conv2(pad(x))))
    x = F.relu(net.bn3(net.conv3(pad(x))))
    x = F.relu(net.deconv(x))
    return torch.sigmoid(net.conv4(x))


class MaskNetV1(nn.Module):
    """The original ``MaskNetwork.MaskPredNet(1024, ResNet())``: 224x224 RGB -> 1x28x28 mask."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = float(width)
        self.ResNet = ResNet(width)
        _add_head(self, stage_channels(width)[2], width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 3 x 224 x 224 in [0, 1] -> N x 1 x 28 x 28 in [0, 1]
        return _run_head(self, self.ResNet(x))


class FPN(nn.Module):
    """Feature pyramid over the shared backbone stages: output 3*256 channels at 28x28."""

    def __init__(self, S1: nn.Module, S2: nn.Module, S3: nn.Module, S4: nn.Module, width: float = 1.0):
        super().__init__()
        out = scale_channels(256, width)
        c2, c3, c4 = stage_channels(width)
        self.S1, self.S2, self.S3, self.S4 = S1, S2, S3, S4
        self.S4_conv = nn.Conv2d(c4, out, 1, 1)
        self.S3_conv = nn.Conv2d(c3, out, 1, 1)
        self.S2_conv = nn.Conv2d(c2, out, 1, 1)
        self.conv_both = nn.Sequential(SamePad2d(3, 1), nn.Conv2d(out, out, 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c2 = self.S2(self.S1(x))  # 56x56
        c3 = self.S3(c2)  # 28x28
        c4 = self.S4(c3)  # 14x14
        p4 = self.S4_conv(c4)
        p3 = self.S3_conv(c3) + F.interpolate(p4, scale_factor=2, mode="nearest")
        p2 = self.S2_conv(c2) + F.interpolate(p3, scale_factor=2, mode="nearest")
        p4, p3, p2 = self.conv_both(p4), self.conv_both(p3), self.conv_both(p2)
        return torch.cat(
            [
                F.interpolate(p2, scale_factor=0.5, mode="nearest"),
                p3,
                F.interpolate(p4, scale_factor=2, mode="nearest"),
            ],
            dim=1,
        )


class MaskNetV2(nn.Module):
    """The original ``MaskNetwork2.MaskPredNet(768)``: 224x224 RGB -> 1x56x56 mask."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = float(width)
        self.ResNet = ResNet(width)
        # The original registers the backbone stages three times (ResNet.*, S*, FPN.S*).
        self.S1, self.S2, self.S3, self.S4 = self.ResNet.S1, self.ResNet.S2, self.ResNet.S3, self.ResNet.S4
        self.FPN = FPN(self.S1, self.S2, self.S3, self.S4, width)
        _add_head(self, 3 * scale_channels(256, width), width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 3 x 224 x 224 in [0, 1] -> N x 1 x 56 x 56 in [0, 1]
        return _run_head(self, self.FPN(x))


# Architecture name -> (class, role, the key whose first dimension gives the width, its width-1 size)
ARCHITECTURES: dict[str, tuple[type[nn.Module], str, str, int]] = {
    "sketchnet_deep": (SketchNetDeep, "sketch", "down1.model.0.weight", 48),
    "sketchnet_shallow": (SketchNetShallow, "sketch", "down1.model.0.weight", 48),
    "masknet_v1": (MaskNetV1, "mask", "ResNet.S1.0.weight", 64),
    "masknet_v2": (MaskNetV2, "mask", "ResNet.S1.0.weight", 64),
}


def build_network(architecture: str, width: float = 1.0) -> nn.Module:
    """Return a freshly initialised network of a known architecture, in eval mode."""
    try:
        cls = ARCHITECTURES[architecture][0]
    except KeyError:
        known = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {architecture!r}; known: {known}") from None
    return cls(width).eval()


def network_role(architecture: str) -> str:
    """Return ``"sketch"`` or ``"mask"`` for a known architecture."""
    return ARCHITECTURES[architecture][1]

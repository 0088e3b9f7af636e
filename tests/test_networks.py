"""The four networks: the original state_dict layouts, reference outputs, shapes and the width multiplier."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from core.models.networks import (
    ARCHITECTURES,
    SamePad2d,
    build_network,
    network_role,
    scale_channels,
)

ARCHS = tuple(ARCHITECTURES)


def _layout(seed_dir, arch: str) -> dict:
    return json.loads((seed_dir / "checkpoint-layouts" / f"{arch}.json").read_text())


# --------------------------------------------------------------------------- reference forwards


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_reference_forward(arch, seed_dir, seed_loaded):
    """Each architecture reproduces the original module's output on the seed checkpoint and input."""
    ckpt = seed_loaded(arch)
    assert (ckpt.architecture, ckpt.width) == (arch, 1.0)
    # every alias name is in the file and build() loads them with strict=True
    assert list(ckpt.state_dict) == [t["key"] for t in _layout(seed_dir, arch)["tensors"]]
    net = ckpt.build()
    x = torch.from_numpy(np.load(seed_dir / "reference-forward" / f"{arch}.input.npy"))
    expected = np.load(seed_dir / "reference-forward" / f"{arch}.output.npy")
    with torch.no_grad():
        out32 = net(x).numpy()
        out64 = net.double()(x.double()).numpy()
    assert out32.shape == expected.shape
    # float64 removes accumulation-order noise: what is left is a real difference in the maths
    assert np.abs(out64 - expected).max() <= 1e-5
    # float32 sums in another order than the reference machine did (~2e-5 seen on masknet_v2)
    assert np.abs(out32 - expected).max() <= 5e-5


@pytest.mark.parametrize("arch", ("sketchnet_shallow",))
def test_reference_forward_depends_on_sketch_bn_eps(arch, seed_dir, seed_loaded):
    """The Sketch Nets' BatchNorm eps of 0.8 matters: with the default 1e-5 the reference is missed."""
    net = seed_loaded(arch).build().double()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-5
    x = torch.from_numpy(np.load(seed_dir / "reference-forward" / f"{arch}.input.npy")).double()
    expected = np.load(seed_dir / "reference-forward" / f"{arch}.output.npy")
    with torch.no_grad():
        assert np.abs(net(x).numpy() - expected).max() > 1e-3


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_keys_and_order_match_layout(arch, seed_dir):
    """Every key of the original state_dict exists, in the original order (re-saved files list keys alike)."""
    layout = _layout(seed_dir, arch)
    keys = list(build_network(arch, 1 / 16).state_dict())
    assert keys == [t["key"] for t in layout["tensors"]]
    assert len(keys) == layout["tensor_count"]


@pytest.mark.parametrize("arch", ARCHS)
def test_aliases_share_one_tensor(arch, seed_dir):
    """Keys the layout marks ``alias_of`` are the very same tensor in the module, others are distinct."""
    layout = _layout(seed_dir, arch)
    state = build_network(arch, 1 / 16).state_dict(keep_vars=True)
    for t in layout["tensors"]:
        if "alias_of" in t:
            assert state[t["key"]] is state[t["alias_of"]], t["key"]
    assert len({id(v) for v in state.values()}) == layout["unique_tensor_count"]


@pytest.mark.parametrize("arch", ARCHS)
def test_full_width_shapes_and_dtypes_match_layout(arch, seed_dir):
    """At width 1 every tensor has the layout's shape and dtype (built on the meta device: no memory)."""
    layout = _layout(seed_dir, arch)
    with torch.device("meta"):
        net = ARCHITECTURES[arch][0](1.0)
    state = net.state_dict()
    for t in layout["tensors"]:
        assert tuple(state[t["key"]].shape) == tuple(t["shape"]), t["key"]
        assert str(state[t["key"]].dtype).removeprefix("torch.") == t["dtype"], t["key"]


@pytest.mark.parametrize("arch", ARCHS)
def test_batchnorm_eps_matches_layout(arch, seed_dir):
    """BatchNorm eps is not in a checkpoint, so the layout's recorded values are checked directly."""
    layout = _layout(seed_dir, arch)
    eps = {m.eps for m in build_network(arch, 1 / 16).modules() if isinstance(m, nn.BatchNorm2d)}
    assert sorted(eps) == sorted(layout["batchnorm_eps_values"])


@pytest.mark.parametrize("arch", ("sketchnet_shallow", "masknet_v1"))
def test_seed_state_dict_loads_strictly_with_torch(arch, seed_checkpoints):
    """Plain ``load_state_dict(strict=True)`` accepts the seed file with all its alias names."""
    state = torch.load(seed_checkpoints[arch], weights_only=True)
    result = build_network(arch).load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


# --------------------------------------------------------------------------- shapes


def _deep_side(n: int) -> int:
    # three stride-2 convs (ceil each time), three x2 transposed convs
    for _ in range(3):
        n = math.ceil(n / 2)
    return n * 8


@pytest.mark.parametrize("side,expected", [(64, 64), (300, 304), (301, 304), (424, 424), (100, 104)])
def test_deep_sketch_output_side(side, expected, net_factory):
    """The deep Sketch Net gives back the input side only for multiples of 8 (300 gives 304)."""
    assert _deep_side(side) == expected  # the hand-worked figures agree with the rule
    net = net_factory("sketchnet_deep", 1 / 16)
    with torch.no_grad():
        out = net(torch.rand(1, 3, side, side))
    assert out.shape == (1, 1, expected, expected)
    assert float(out.min()) >= 0 and float(out.max()) <= 1  # sigmoid output


def test_sketch_nets_accept_non_square_input(net_factory):
    """Height and width are handled independently (301 x 457 gives 304 x 464 and 302 x 458)."""
    with torch.no_grad():
        deep = net_factory("sketchnet_deep", 1 / 16)(torch.rand(1, 3, 301, 457))
        shallow = net_factory("sketchnet_shallow", 1 / 16)(torch.rand(1, 3, 301, 457))
    assert deep.shape == (1, 1, 304, 464)
    assert shallow.shape == (1, 1, 302, 458)


@pytest.mark.parametrize("arch,side", [("masknet_v1", 28), ("masknet_v2", 56)])
def test_mask_output_size(arch, side, tiny_nets):
    """224 x 224 input gives a 28 x 28 (v1) or 56 x 56 (v2) mask in [0, 1]."""
    with torch.no_grad():
        out = tiny_nets[arch](torch.rand(2, 3, 224, 224))
    assert out.shape == (2, 1, side, side)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_fpn_output_is_three_maps_at_28(tiny_nets):
    """The FPN concatenates three 256-wide (scaled) maps at 28 x 28 for a 224 input."""
    net = tiny_nets["masknet_v2"]
    with torch.no_grad():
        out = net.FPN(torch.rand(1, 3, 224, 224))
    assert out.shape == (1, 3 * scale_channels(256, net.width), 28, 28)


def test_resnet_stage_structure():
    """Stride sits on conv1 of each stage's first bottleneck, which alone has a downsample."""
    net = build_network("masknet_v1", 1 / 16)
    for stage, count, stride in (("S2", 3, 1), ("S3", 4, 2), ("S4", 6, 2)):
        blocks = list(getattr(net.ResNet, stage))
        assert len(blocks) == count
        assert blocks[0].conv1.stride == (stride, stride)
        assert blocks[0].conv2.stride == (1, 1)
        assert blocks[0].downsample is not None
        assert all(b.downsample is None for b in blocks[1:])
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        s1 = net.ResNet.S1(x)
        s2 = net.ResNet.S2(s1)
        s3 = net.ResNet.S3(s2)
        s4 = net.ResNet.S4(s3)
    assert [t.shape[-1] for t in (s1, s2, s3, s4)] == [56, 56, 28, 14]


def test_samepad_square_hand_worked():
    """SAME padding: 5 -> pad 1+1 (k3 s2), 6 -> pad 0+1 (k3 s2), zeros added."""
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    out = SamePad2d(3, 2)(x)
    assert out.shape == (1, 1, 7, 7)
    assert torch.equal(out[0, 0, 1:6, 1:6], x[0, 0])
    assert float(out.abs().sum()) == float(x.sum())  # only zeros were added

    x = torch.ones(1, 1, 6, 6)
    out = SamePad2d(3, 2)(x)
    assert out.shape == (1, 1, 7, 7)
    assert torch.equal(out[0, 0, :6, :6], x[0, 0])
    assert float(out[0, 0, 6, :].abs().sum()) == 0 and float(out[0, 0, :, 6].abs().sum()) == 0


def test_samepad_non_square_swaps_axes_like_the_original():
    """Amounts from size(2) pad the last dimension and vice versa (the original's quirk).

    H=4, W=7, k3 s2: from H, out 2 and pad 1 -> W gets 0 before, 1 after; from W, out 4 and
    pad 2 -> H gets 1 before, 1 after. Result 6 x 8 with the input at rows 1..4, columns 0..6.
    """
    x = torch.arange(1.0, 29.0).reshape(1, 1, 4, 7)
    out = SamePad2d(3, 2)(x)
    assert out.shape == (1, 1, 6, 8)
    assert torch.equal(out[0, 0, 1:5, 0:7], x[0, 0])


# --------------------------------------------------------------------------- width


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("width", [0.3])
def test_width_multiplier_scales_hidden_channels_only(arch, width):
    """Width scales hidden channels; the 3 input and 1 output channels stay; the net runs."""
    net = build_network(arch, width)
    side = 64  # any multiple of 32 runs the Mask Nets' FPN; small keeps the test fast
    with torch.no_grad():
        out = net(torch.rand(1, 3, side, side))
    assert out.shape[1] == 1
    first = net.state_dict()[ARCHITECTURES[arch][2]]
    assert first.shape[0] == scale_channels(ARCHITECTURES[arch][3], width)
    assert first.shape[1] == 3
    smaller = sum(p.numel() for p in build_network(arch, 1 / 16).parameters())
    assert sum(p.numel() for p in net.parameters()) > smaller


def test_build_network_rejects_unknown_architecture():
    """An unknown name lists the known ones."""
    with pytest.raises(ValueError, match="sketchnet_deep"):
        build_network("resnet50")


def test_roles():
    """Sketch Nets and Mask Nets report their role."""
    assert [network_role(a) for a in ARCHS] == ["sketch", "sketch", "mask", "mask"]

"""BatchNorm folding and the inference copies, compared with the unfolded networks directly, in float64."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.models.inference import ChannelsLast, fold_batchnorm, optimize_for_inference

ARCHS = ("sketchnet_deep", "sketchnet_shallow", "masknet_v1", "masknet_v2")
TOL = 1e-9  # float64: folding changes only rounding (~1e-15); a wrong fold is off by far more


def _random_bn(bn: nn.BatchNorm2d, gen: torch.Generator) -> None:
    """Statistics and affine parameters far from the 0/1 defaults, so a missed or wrong fold shows."""
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) * 2 + 0.1)
        bn.weight.copy_(torch.randn(bn.num_features, generator=gen))
        bn.bias.copy_(torch.randn(bn.num_features, generator=gen))


def _tiny_stack() -> nn.Module:
    """Conv+BN, ConvTranspose+BN (eps 0.8, as the Sketch Nets), a conv without BN, in one Sequential."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 5, 3, 2, 1),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.ConvTranspose2d(5, 4, 4, 2, 1),
        nn.BatchNorm2d(4, eps=0.8),
        nn.ReLU(),
        nn.Conv2d(4, 2, 3, 1, 1),
        nn.Sigmoid(),
    )
    gen = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            _random_bn(m, gen)
    return net.double().eval()


def _batchnorms(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]


def _input(side: int, seed: int = 2) -> torch.Tensor:
    return torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fold_conv_and_transposed_conv_matches_eval_mode():
    net = _tiny_stack()
    x = _input(12)
    with torch.no_grad():
        expected = net(x)
        folded = fold_batchnorm(net)
        got = folded(x)
    assert not _batchnorms(folded), "a BatchNorm was left unfolded"
    assert isinstance(folded[1], nn.Identity) and isinstance(folded[4], nn.Identity)
    assert got.dtype == torch.float64 and got.shape == expected.shape
    assert (got - expected).abs().max().item() < TOL


def test_fold_folds_the_statistics_into_the_weights():
    """The folded conv is w * gamma / sqrt(var + eps) and (b - mean) * gamma / sqrt(var + eps) + beta."""
    net = _tiny_stack()
    conv, bn = net[0], net[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = fold_batchnorm(net)[0]
    torch.testing.assert_close(folded.weight, conv.weight * scale[:, None, None, None], rtol=0, atol=1e-12)
    torch.testing.assert_close(folded.bias, (conv.bias - bn.running_mean) * scale + bn.bias, rtol=0, atol=1e-12)


def test_fold_leaves_the_original_untouched():
    net = _tiny_stack().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)
    assert net.training and not folded.training
    assert len(_batchnorms(net)) == 2
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_fold_is_not_train_mode():
    """Folding uses the running statistics: the copy matches eval mode, never batch statistics."""
    net = _tiny_stack()
    x = _input(12)
    with torch.no_grad():
        folded = fold_batchnorm(net)(x)
        train_out = net.train()(x)
    assert (folded - train_out).abs().max().item() > 1e-3


@pytest.mark.parametrize("arch", ARCHS)
def test_fold_each_architecture_matches_in_float64(arch, net_factory):
    """Every Conv/ConvTranspose + BatchNorm pair of the original networks folds, outputs unchanged."""
    net = net_factory(arch, 1 / 8, 3).double().eval()
    x = _input(64 if arch.startswith("sketch") else 96)
    with torch.no_grad():
        expected = net(x)
        folded = fold_batchnorm(net)
        got = folded(x)
    assert not _batchnorms(folded), f"{arch}: BatchNorm left unfolded"
    assert expected.abs().max().item() > 0
    assert (got - expected).abs().max().item() < 1e-6 * max(1.0, expected.abs().max().item())


def test_fold_keeps_the_original_aliases(net_factory):
    """A block registered under two names (attribute and inside ``model``) is folded once and stays shared."""
    folded = fold_batchnorm(net_factory("sketchnet_shallow", 1 / 8, 0))
    assert folded.down1 is folded.model[0]
    assert folded.flat6_2 is folded.model[-2]
    assert isinstance(folded.down1.model[1], nn.Identity)


@pytest.mark.parametrize("arch", ["sketchnet_deep", "masknet_v2"])
def test_optimize_for_inference_matches_in_float64(arch, net_factory):
    net = net_factory(arch, 1 / 8, 5).double().eval()
    x = _input(64 if arch.startswith("sketch") else 96)
    fast = optimize_for_inference(net)
    assert isinstance(fast, ChannelsLast) and not fast.training
    with torch.no_grad():
        expected, got = net(x), fast(x)
    assert got.is_contiguous()
    assert (got - expected).abs().max().item() < 1e-6 * max(1.0, expected.abs().max().item())

"""Shared fixtures: tiny networks and checkpoints, generated images, the read-only seed material.

The seed material (layouts, reference forwards, make_test_checkpoint.py) lives
beside the repository in ``../shared/seed`` and is read in place, never copied
into the repository; tests that need it skip when it is absent.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = REPO_ROOT.parent / "shared" / "seed"
ARCHS = ("sketchnet_deep", "sketchnet_shallow", "masknet_v1", "masknet_v2")
TINY_WIDTH = 1 / 8
# Weight scale per architecture for the tiny random nets: large enough that sketches are
# not flat grey and masks spread across the usual softctr values (checked where it matters).
TINY_GAIN = {"sketchnet_deep": 2.15, "sketchnet_shallow": 2.0, "masknet_v1": 1.0, "masknet_v2": 1.0}
# The original project's file names, as the `pipeline` command looks them up in weights/:
# (architecture, width, seed). The Sketch Nets run at 424-600 px in CLI tests, hence 1/16.
SEED_FILE_NAMES = {
    "G_net.pth": ("sketchnet_deep", 1 / 16, 1),
    "G_net_x600.pth": ("sketchnet_deep", 1 / 16, 2),
    "MaskNet_v2_stage1.pth": ("masknet_v2", TINY_WIDTH, 3),
    "MaskNet_500epoch.pth": ("masknet_v1", TINY_WIDTH, 4),
}


def randomize(net, seed: int = 0, gain: float = 1.0):
    """Fill a network's parameters and batch-norm statistics with seeded random values, in place.

    Default initialisation gives near-constant outputs (BN stats 0/1); the seed
    checkpoints' recipe (normal weights scaled by fan-in, varied BN stats) gives
    outputs with visible structure, which the pipeline tests need.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict(keep_vars=True).items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.dim() == 1 and name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 + 0.8)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.05)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * gain / np.sqrt(t[0].numel()))
    return net.eval()


def build_tiny(arch: str, width: float = TINY_WIDTH, seed: int = 0):
    """A randomised network of ``arch`` at a small width, in eval mode."""
    from core.models.networks import build_network

    return randomize(build_network(arch, width), seed, TINY_GAIN[arch])


def make_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB test photo: a light, textured background with a coloured object in the middle."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.float64)
    img[..., 0] = 190 + 40 * xx / max(w - 1, 1)
    img[..., 1] = 200 - 30 * yy / max(h - 1, 1)
    img[..., 2] = 210
    img += rng.normal(0, 6, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(20, 160, 3))
    cv2.ellipse(img, (w // 2, h // 2), (max(w // 4, 2), max(h // 3, 2)), 15, 0, 360, colour, -1)
    cv2.rectangle(img, (w // 3, h // 2), (w // 2, h // 2 + max(h // 6, 1)), (250, 240, 30), -1)
    return img


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The read-only seed material, or a skip when ../shared/seed is not beside the repository."""
    if not SEED_DIR.is_dir():
        pytest.skip(f"seed material not found at {SEED_DIR} (it lives beside the repository, in ../shared/seed)")
    return SEED_DIR


@pytest.fixture(scope="session")
def seed_maker(seed_dir):
    """The seed's make_test_checkpoint module, imported from its shared path."""
    path = seed_dir / "make_test_checkpoint.py"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    spec = importlib.util.spec_from_file_location("seed_make_test_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def seed_checkpoints(seed_maker, seed_dir, tmp_path_factory) -> dict[str, Path]:
    """Seed-format ``.pth`` files (all alias names, default seed and gain) for the four layouts."""
    import torch

    out = tmp_path_factory.mktemp("seed-checkpoints")
    paths = {}
    for arch in ARCHS:
        state = seed_maker.make_state_dict(seed_dir / "checkpoint-layouts" / f"{arch}.json")
        paths[arch] = out / f"{arch}.pth"
        torch.save(state, paths[arch])
    return paths


@pytest.fixture(scope="session")
def seed_loaded(seed_checkpoints):
    """``load(arch)``: the seed file of ``arch`` through load_checkpoint, loaded once per session."""
    from core.models.checkpoints import load_checkpoint

    cache = {}

    def load(arch: str):
        if arch not in cache:
            cache[arch] = load_checkpoint(seed_checkpoints[arch])
        return cache[arch]

    return load


@pytest.fixture(scope="session")
def tiny_nets() -> dict:
    """One randomised network per architecture at width 1/8 (shared: do not modify them)."""
    return {arch: build_tiny(arch) for arch in ARCHS}


@pytest.fixture(scope="session")
def tiny_safetensors(tiny_nets, tmp_path_factory) -> dict[str, Path]:
    """The tiny networks written by save_checkpoint (one name per tensor, width in the metadata)."""
    from core.models.checkpoints import save_checkpoint

    out = tmp_path_factory.mktemp("tiny-safetensors")
    return {arch: save_checkpoint(net, out / f"{arch}.safetensors", arch) for arch, net in tiny_nets.items()}


@pytest.fixture(scope="session")
def seed_weights_dir(tmp_path_factory) -> Path:
    """A weights folder with the original file names, holding tiny nets saved as plain state_dicts.

    The two Sketch Nets have different seeds, so a test can tell which file a command used.
    """
    import torch

    out = tmp_path_factory.mktemp("weights")
    for name, (arch, width, seed) in SEED_FILE_NAMES.items():
        # model.state_dict() keeps every alias name, as the original files do
        torch.save(build_tiny(arch, width, seed).state_dict(), out / name)
    return out


@pytest.fixture(scope="session")
def net_factory():
    """``build_tiny(arch, width, seed)`` as a fixture: a fresh randomised network the test may change."""
    return build_tiny


@pytest.fixture(scope="session")
def image_factory():
    """``make_image(h, w, seed)`` as a fixture, for tests that need generated photos."""
    return make_image


@pytest.fixture(scope="session")
def cli_env(seed_weights_dir) -> dict[str, str]:
    """Environment for CLI subprocesses: the tiny weights folder, no torch load overrides."""
    env = dict(os.environ)
    env["WORKBENCH_WEIGHTS"] = str(seed_weights_dir)
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="session")
def cli_cmd() -> list[str]:
    """The command prefix that runs the workbench CLI with this interpreter."""
    return [sys.executable, "-m", "core.cli.main"]

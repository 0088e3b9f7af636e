"""Fixtures for sweep and store tests: tiny seed-architecture checkpoints and generated images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = 1 / 16


def write_scene(path: Path, seed: int, h: int = 72, w: int = 96) -> Path:
    """Write a small smooth scene with a centred ellipse (BGR on disk, like any photo)."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (4, 5, 3)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.ellipse(img, (w // 2, h // 2), (w // 5, h // 4), 0, 0, 360, tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def save_tiny(path: Path, architecture: str, seed: int, metadata: dict | None = None) -> Path:
    """Save a tiny random network of ``architecture`` as safetensors."""
    import torch

    from core.models.checkpoints import save_checkpoint
    from core.models.networks import build_network

    torch.manual_seed(seed)
    net = build_network(architecture, TINY)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
                m.running_mean.uniform_(-0.1, 0.1)
    return save_checkpoint(net, path, architecture, metadata or {"step": seed})


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> dict[str, Path]:
    """Two tiny Mask Net v2, one Mask Net v1 and two deep Sketch Nets."""
    root = tmp_path_factory.mktemp("weights")
    return {
        "mask_a": save_tiny(root / "MaskNet_v2_stage1.safetensors", "masknet_v2", 1, {"stage": "stage1"}),
        "mask_b": save_tiny(root / "MaskNet_v2_stage2.safetensors", "masknet_v2", 2, {"stage": "stage2"}),
        "mask_v1": save_tiny(root / "MaskNet_v1.safetensors", "masknet_v1", 3),
        "sketch_a": save_tiny(root / "G_net_a.safetensors", "sketchnet_deep", 4),
        "sketch_b": save_tiny(root / "G_net_b.safetensors", "sketchnet_deep", 5),
    }


@pytest.fixture
def image_dir(tmp_path) -> Path:
    """A test set of three small images, one of them in a subfolder."""
    folder = tmp_path / "set"
    write_scene(folder / "a.png", 1)
    write_scene(folder / "b.jpg", 2, 80, 60)
    write_scene(folder / "sub" / "c.png", 3, 64, 64)
    return folder


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m core.cli.main ARGS`` and capture its output."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "core.cli.main", *args], cwd=REPO, capture_output=True, text=True,
                          env=full_env, timeout=timeout)

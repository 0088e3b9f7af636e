"""Mask Net training: (photo, object mask) pairs, BCE on the sigmoid mask, Adam and horizontal flips.

Deterministic per seed on the CPU (see :mod:`core.training.loop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import TrainingError
from core.models.networks import build_network
from core.pipeline.seed import MASK_SIDE
from core.training.loop import TrainResult, check_arguments, prepare_run, train_network

__all__ = ["MASK_LOSSES", "MASK_OUTPUT_SIDES", "train_mask"]

MASK_LOSSES = ("loss_mask",)
# Mask side of each Mask Net (output of a 224x224 input).
MASK_OUTPUT_SIDES = {"masknet_v1": 28, "masknet_v2": 56}


def train_mask(
    data: Path | str | Sequence[Path | str],
    out_dir: Path | str,
    *,
    architecture: str = "masknet_v2",
    width: float = 0.25,
    steps: int = 1000,
    batch_size: int = 4,
    lr: float = 1e-4,
    seed: int = 0,
    mask_threshold: float | None = None,
    flip: bool = True,
    log_every: int = 10,
    prefix: str | None = None,
    progress: bool = True,
    command: str = "",
    device: str = "cpu",
    threads: int | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train a Mask Net on (photo, object mask) pairs with BCE and Adam.

    Input: the set's image resized (bilinear) to 224x224 in [0, 1], no gamma —
    what the pipeline feeds the Mask Net. Target: ``masks/<id>.png`` resized
    with INTER_AREA to 28x28 (v1) or 56x56 (v2), in [0, 1]. The target is
    kept soft by default (the covered fraction of each cell, which BCE takes
    as a probability); ``mask_threshold`` binarises it (``> threshold``).

    ``data``, ``out_dir``, ``steps``, ``command``, ``device``, ``threads`` and
    ``overwrite`` are what every training takes (:mod:`core.training.loop`).

    Args:
        data: every image of the sets needs a mask.
        prefix: file-name prefix; default ``MaskNet_v1`` / ``MaskNet_v2``.

    Returns:
        TrainResult with the paths, final loss (``loss_mask``) and timing.
    """
    check_arguments("mask", architecture, steps=steps, batch_size=batch_size, lr=lr, log_every=log_every,
                    threads=threads)
    if mask_threshold is not None and not 0 <= mask_threshold < 1:
        raise TrainingError(f"mask_threshold must be in [0, 1) or None (soft), not {mask_threshold}")
    run = prepare_run(data, out_dir, architecture=architecture, prefix=prefix, overwrite=overwrite, device=device,
                      needs="mask")
    dev, samples = run.device, run.samples
    out_side = MASK_OUTPUT_SIDES[architecture]
    inputs = np.stack([cv2.resize(s.image, (MASK_SIDE, MASK_SIDE)) for s in samples])  # N x 224 x 224 x 3
    targets = np.stack(
        [cv2.resize(s.mask.astype(np.float32) / 255, (out_side, out_side), interpolation=cv2.INTER_AREA)
         for s in samples]
    )  # N x m x m float32 in [0, 1]  # fmt: skip
    if mask_threshold is not None:
        targets = (targets > mask_threshold).astype(np.float32)
    run.samples = []  # the full-size images are no longer needed
    del samples

    hyper = {
        "steps": steps, "batch_size": batch_size, "lr": lr, "mask_side": out_side,
        "mask_target": "soft" if mask_threshold is None else f"> {mask_threshold}", "flip": flip,
        "optimizer": "Adam(0.9, 0.999)",
    }  # fmt: skip

    def build():
        """The Mask Net and its BCE step; x is N x 3 x 224 x 224, y N x 1 x m x m."""
        net = build_network(architecture, width).to(dev).train()
        opt = torch.optim.Adam(net.parameters(), lr=lr)

        def step(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
            opt.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return {"loss_mask": loss.item()}

        return net, step

    return train_network(run, build, inputs=inputs, targets=targets, flip=flip, architecture=architecture,
                         columns=MASK_LOSSES, hyper=hyper, seed=seed, threads=threads, command=command, steps=steps,
                         batch_size=batch_size, log_every=log_every, progress=progress)

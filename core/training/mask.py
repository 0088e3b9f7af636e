"""Mask Net training: (photo, object mask) pairs, BCE on the sigmoid mask, Adam and horizontal flips.

Deterministic per seed on the CPU (see :mod:`core.training.loop`).
"""

from __future__ import annotations

import math
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
    lr_decay: str = "none",
    dice_weight: float = 0.0,
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
    ``dice_weight`` adds that many times the soft Dice loss (1 - Dice of the
    sigmoid mask and the target, per image, averaged) to the BCE: BCE is
    dominated by the easy inside and outside, Dice by the overlap the IoU
    measures, so outlines sharpen sooner. ``lr_decay="cosine"`` lowers the learning rate along a half cosine to 0
    at the last step.

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
    if not dice_weight >= 0:
        raise TrainingError(f"dice_weight must be at least 0, not {dice_weight}")
    if lr_decay not in ("none", "cosine"):
        raise TrainingError(f"lr_decay must be none or cosine, not {lr_decay!r}")
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
    if lr_decay != "none":  # absent at the default, as before the option existed
        hyper["lr_decay"] = lr_decay
    if dice_weight:
        hyper["dice_weight"] = dice_weight

    def build():
        """The Mask Net and its BCE step; x is N x 3 x 224 x 224, y N x 1 x m x m."""
        net = build_network(architecture, width).to(dev).train()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        done = [0]  # steps taken, for the learning-rate schedule

        def step(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
            if lr_decay == "cosine":
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * done[0] / steps))
            done[0] += 1
            opt.zero_grad(set_to_none=True)
            pred = net(x)
            loss = F.binary_cross_entropy(pred, y)
            total = loss
            if dice_weight:
                overlap = (pred * y).sum(dim=(1, 2, 3))
                dice = (2 * overlap + 1) / (pred.sum(dim=(1, 2, 3)) + y.sum(dim=(1, 2, 3)) + 1)
                total = loss + dice_weight * (1 - dice).mean()
            total.backward()
            opt.step()
            return {"loss_mask": loss.item()}

        return net, step

    return train_network(run, build, inputs=inputs, targets=targets, flip=flip, architecture=architecture,
                         columns=MASK_LOSSES, hyper=hyper, seed=seed, threads=threads, command=command, steps=steps,
                         batch_size=batch_size, log_every=log_every, progress=progress)

"""Sketch Net training, pix2pix-like: (gamma'd photo, pencil drawing) pairs, L1 plus a PatchGAN critic.

Pairs are (photo after the pipeline's gamma 2.0 step, pencil drawing of the
photo); the generator gets an L1 loss to the drawing plus an adversarial loss
from a small conditional PatchGAN discriminator (:class:`PatchDiscriminator`)
that sees the photo and a drawing side by side. Adam and a horizontal-flip
augmentation; deterministic per seed on the CPU (see :mod:`core.training.loop`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data.drawings import LINE_SETTINGS, LINES_MAKER, PENCIL_MAKER, make_line_drawing, make_pencil_drawing
from core.errors import TrainingError
from core.models.networks import build_network, scale_channels
from core.pipeline.seed import apply_gamma
from core.training.loop import TrainResult, check_arguments, prepare_run, train_network

__all__ = ["GAN_LOSSES", "LR_DECAYS", "SKETCH_INPUT_GAMMA", "SKETCH_LOSSES", "SKETCH_TARGETS", "PatchDiscriminator",
           "gan_criterion", "init_sketch_net", "train_sketch"]

SKETCH_LOSSES = ("loss_G_L1", "loss_G_GAN", "loss_D")
SKETCH_INPUT_GAMMA = 2.0  # the pipeline's gamma step on the Sketch Net's input
GAN_LOSSES = ("lsgan", "bce")
SKETCH_TARGETS = ("pencil", "drawing", "lines")
LR_DECAYS = ("none", "cosine")


class PatchDiscriminator(nn.Module):
    """pix2pix-style conditional PatchGAN: (photo, drawing) -> a grid of real/fake logits.

    Three stride-2 4x4 convs and a stride-1 4x4 conv to 1 channel; each logit
    judges a 46x46-pixel patch (at 128 input: 1 x 15 x 15 logits).
    """

    def __init__(self, width: float = 1.0, in_channels: int = 4):
        """Build the critic; ``width`` scales its channels like the generator's."""
        super().__init__()
        c1, c2, c3 = (scale_channels(c, width) for c in (64, 128, 256))
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, c1, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, 2, 1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c2, c3, 4, 2, 1),
            nn.BatchNorm2d(c3),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c3, 1, 4, 1, 1),
        )

    def forward(self, photo: torch.Tensor, drawing: torch.Tensor) -> torch.Tensor:
        """Return the patch logits for a photo and a drawing of it."""
        # photo N x 3 x S x S, drawing N x 1 x S x S -> logits N x 1 x (S/8 - 1) x (S/8 - 1)
        return self.model(torch.cat([photo, drawing], dim=1))


def gan_criterion(kind: str) -> Callable[[torch.Tensor, bool], torch.Tensor]:
    """Return ``loss(logits, real)``: LSGAN (MSE to 1/0) or BCE on logits."""
    if kind == "lsgan":
        return lambda logits, real: F.mse_loss(logits, torch.full_like(logits, float(real)))
    return lambda logits, real: F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def train_sketch(
    data: Path | str | Sequence[Path | str],
    out_dir: Path | str,
    *,
    architecture: str = "sketchnet_deep",
    width: float = 0.25,
    side: int = 128,
    steps: int = 1000,
    batch_size: int = 4,
    lr: float = 2e-4,
    seed: int = 0,
    target: str = "pencil",
    adv_weight: float = 1.0,
    l1_weight: float = 100.0,
    gan_loss: str = "lsgan",
    ink_weight: float = 1.0,
    lr_decay: str = "none",
    flip: bool = True,
    log_every: int = 10,
    prefix: str | None = None,
    progress: bool = True,
    command: str = "",
    device: str = "cpu",
    threads: int | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train a Sketch Net pix2pix-style on (gamma'd photo, pencil drawing) pairs.

    Input: the set's image after the pipeline's gamma 2.0 step
    (``u8(pow(img/255, 2) * 255)``), resized (bilinear) to ``side x side``,
    in [0, 1] — exactly what the pipeline feeds the net. Target: the image's
    pencil drawing (``target="pencil"``, made by ``make_pencil_drawing`` at
    full size, gamma step included) or the set's ``drawings/`` (``"drawing"``),
    resized with INTER_AREA to keep thin strokes, in [0, 1], 0 = ink.

    Losses: ``l1_weight * L1(G(x), y) + adv_weight * GAN(D(x, G(x)), real)``
    for the generator; the discriminator (:class:`PatchDiscriminator`, width
    scaled like the generator) gets ``0.5 * (GAN(D(x, y), real) + GAN(D(x,
    G(x)), fake))``. ``gan_loss="lsgan"`` (default) is MSE to 1/0 on the logits,
    more stable at small batches; ``"bce"`` is the classic pix2pix loss. Adam
    with betas (0.5, 0.999) for both, as in pix2pix. The CSV logs the
    unweighted L1 (``loss_G_L1``), the generator's GAN loss (``loss_G_GAN``)
    and ``loss_D``. Only the generator is saved.

    ``data``, ``out_dir``, ``steps``, ``command``, ``device``, ``threads`` and
    ``overwrite`` are what every training takes (:mod:`core.training.loop`).

    ``target="lines"`` is :func:`~core.data.drawings.make_line_drawing` of
    the net's own input (gamma'd and resized to ``side``), so the lines are
    drawn at the scale the net sees, as it will see a photo at 424 or 848.
    ``ink_weight`` multiplies the L1 loss on ink pixels of the target (lines
    cover a few percent of a drawing; without it the cheapest output is
    paper). ``adv_weight=0`` trains without a critic (no discriminator is
    built; its CSV columns hold 0). ``lr_decay="cosine"`` lowers the learning
    rate along a half cosine to 0 at the last step.

    Args:
        side: training side, a multiple of 8 and at least 16 (the deep net's
            output matches its input only then).
        prefix: file-name prefix; default ``SketchNet`` (deep) or
            ``SketchNet_shallow``.

    Returns:
        TrainResult with the paths, final losses and timing.
    """
    check_arguments("sketch", architecture, steps=steps, batch_size=batch_size, lr=lr, log_every=log_every,
                    threads=threads)
    if side < 16 or side % 8:
        raise TrainingError(f"side must be a multiple of 8 and at least 16, not {side}")
    if target not in SKETCH_TARGETS:
        raise TrainingError(f"target must be one of {', '.join(SKETCH_TARGETS)}, not {target!r}")
    if gan_loss not in GAN_LOSSES:
        raise TrainingError(f"gan_loss must be one of {', '.join(GAN_LOSSES)}, not {gan_loss!r}")
    if not (ink_weight >= 1 and adv_weight >= 0 and l1_weight > 0):
        raise TrainingError(f"need ink_weight >= 1, adv_weight >= 0 and l1_weight > 0, not {ink_weight}, "
                            f"{adv_weight}, {l1_weight}")
    if lr_decay not in LR_DECAYS:
        raise TrainingError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, not {lr_decay!r}")
    run = prepare_run(data, out_dir, architecture=architecture, prefix=prefix, overwrite=overwrite, device=device,
                      needs="drawing" if target == "drawing" else None)
    dev, samples = run.device, run.samples
    inputs = np.stack([cv2.resize(apply_gamma(s.image, SKETCH_INPUT_GAMMA), (side, side)) for s in samples])
    # N x S x S x 3 uint8 (pipeline input) and N x S x S float32 targets in [0, 1]
    if target == "lines":
        targets = np.stack([make_line_drawing(x) for x in inputs]).astype(np.float32) / 255
        drawings = []
    else:
        drawings = [s.drawing if target == "drawing" else make_pencil_drawing(s.image) for s in samples]
        targets = np.stack([cv2.resize(d, (side, side), interpolation=cv2.INTER_AREA) for d in drawings])
        targets = targets.astype(np.float32) / 255
    run.samples = []  # the full-size images are no longer needed
    del samples, drawings

    hyper = {
        "side": side, "steps": steps, "batch_size": batch_size, "lr": lr, "target": target,
        "target_maker": {"drawing": "drawings/", "pencil": PENCIL_MAKER, "lines": LINES_MAKER}[target],
        "input_gamma": SKETCH_INPUT_GAMMA, "adv_weight": adv_weight, "l1_weight": l1_weight,
        "gan_loss": gan_loss, "flip": flip, "optimizer": "Adam(0.5, 0.999)",
    }  # fmt: skip
    if target == "lines":
        hyper["line_settings"] = LINE_SETTINGS
    if ink_weight != 1 or lr_decay != "none":  # absent at the defaults, as before these options existed
        hyper.update(ink_weight=ink_weight, lr_decay=lr_decay)
    criterion = gan_criterion(gan_loss)

    def build():
        """The generator (the one saved) and its step against a fresh critic; x is N x 3 x S x S, y N x 1 x S x S."""
        gen = init_sketch_net(build_network(architecture, width)).to(dev).train()
        critic = adv_weight > 0
        disc = PatchDiscriminator(width).to(dev).train() if critic else None
        opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999)) if critic else None
        optimizers = [o for o in (opt_g, opt_d) if o is not None]
        done = [0]  # steps taken, for the learning-rate schedule

        def step(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
            if lr_decay == "cosine":
                for opt in optimizers:
                    for group in opt.param_groups:
                        group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * done[0] / steps))
            done[0] += 1
            fake = gen(x)
            loss_d = loss_gan = torch.zeros(())
            if critic:
                opt_d.zero_grad(set_to_none=True)
                loss_d = 0.5 * (criterion(disc(x, y), True) + criterion(disc(x, fake.detach()), False))
                loss_d.backward()
                opt_d.step()
                loss_gan = criterion(disc(x, fake), True)  # judged by the just-updated discriminator
            opt_g.zero_grad(set_to_none=True)
            loss_l1 = F.l1_loss(fake, y)
            weighted = loss_l1 if ink_weight == 1 else ((fake - y).abs() * (1 + (ink_weight - 1) * (1 - y))).mean()
            (adv_weight * loss_gan + l1_weight * weighted).backward()
            opt_g.step()
            return {"loss_G_L1": loss_l1.item(), "loss_G_GAN": loss_gan.item(), "loss_D": loss_d.item()}

        return gen, step

    return train_network(run, build, inputs=inputs, targets=targets, flip=flip, architecture=architecture,
                         columns=SKETCH_LOSSES, hyper=hyper, seed=seed, threads=threads, command=command, steps=steps,
                         batch_size=batch_size, log_every=log_every, progress=progress)


def init_sketch_net(net: nn.Module) -> nn.Module:
    """Initialise a Sketch Net for training so the signal survives its BatchNorm eps of 0.8.

    With PyTorch's default init, activations shrink at every block (eps 0.8
    dwarfs their variance) and the output of the deep net is constant from
    the first step, so nothing trains. Kaiming-normal convolutions plus a
    BatchNorm scale of sqrt(1 + eps) keep activations near unit scale through
    all 22 blocks.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            # A transposed conv's weight is (in, out, k, k): its fan towards the output is "fan_out".
            mode = "fan_in" if isinstance(m, nn.Conv2d) else "fan_out"
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, math.sqrt(1.0 + m.eps))
            nn.init.zeros_(m.bias)
    return net

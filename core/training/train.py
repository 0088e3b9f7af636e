"""Training Sketch Nets and Mask Nets the way the original project did, reproducibly on the CPU.

Sketch Net (:func:`train_sketch`): pix2pix-like. Pairs are (photo after the
pipeline's gamma 2.0 step, pencil drawing of the photo); the generator gets an
L1 loss to the drawing plus an adversarial loss from a small PatchGAN
discriminator that sees the photo and a drawing side by side (conditional).
Mask Net (:func:`train_mask`): (photo, object mask) pairs, BCE on the
sigmoid mask. Both use Adam and a horizontal-flip augmentation.

Every run is deterministic for a given seed on the CPU (same machine, same
thread count): weights are initialised from ``seed``, the data order and the
flips come from a ``numpy`` Generator seeded with ``seed``, and
``torch.use_deterministic_algorithms`` is on for the run. Torch's global RNG
state, deterministic-algorithms flag and thread count are set for the run and
restored afterwards, so two trainings must not run at once in one process.

Outputs in ``out_dir`` (``prefix`` e.g. ``MaskNet_v2``), as the original named
its checkpoints:

- ``<prefix>_stage1.safetensors``: snapshot at half the steps;
- ``<prefix>_stage2.safetensors``: snapshot at the end;
- ``<prefix>_curve.csv``: the training curve in the original format,
  ``epoch,global_iter,<loss columns>``, one row per log step (losses are the
  mean over the steps since the previous row).

Training data are test sets (see :mod:`core.data.testsets`), read with
``load_test_set`` with their hashes checked; masks and drawings are the ones
the manifest lists. Every set is held in memory at the training resolution
(about ``side*side*7`` bytes per image for sketches, 160 KB for masks).

Typical use::

    result = train_mask(Path("sets/objects"), Path("runs/train1"), steps=2000)
    ckpt = load_checkpoint(result.stage2)
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.deterministic  # holds the fill_uninitialized_memory switch
from torch import nn
from tqdm import tqdm

from core.data.testsets import MANIFEST_NAME, load_test_set, make_pencil_drawing
from core.errors import CurveFormatError, DatasetError, ImageReadError, TrainingDataError, TrainingError
from core.models.checkpoints import save_checkpoint
from core.models.devices import resolve_device
from core.models.networks import ARCHITECTURES, build_network, network_role, scale_channels
from core.pipeline.images import read_image
from core.pipeline.seed import MASK_SIDE, apply_gamma
from core.training import curves

SKETCH_LOSSES = ("loss_G_L1", "loss_G_GAN", "loss_D")
MASK_LOSSES = ("loss_mask",)
CURVE_INDEX_COLUMNS = curves.CURVE_INDEX_COLUMNS
SKETCH_INPUT_GAMMA = 2.0  # the pipeline's gamma step on the Sketch Net's input
GAN_LOSSES = ("lsgan", "bce")
SKETCH_TARGETS = ("pencil", "drawing")
# Mask side of each Mask Net (output of a 224x224 input).
MASK_OUTPUT_SIDES = {"masknet_v1": 28, "masknet_v2": 56}
DEFAULT_PREFIXES = {
    "sketchnet_deep": "SketchNet",
    "sketchnet_shallow": "SketchNet_shallow",
    "masknet_v1": "MaskNet_v1",
    "masknet_v2": "MaskNet_v2",
}


@dataclass(frozen=True)
class TrainResult:
    """What a training run wrote and how it ended."""

    stage1: Path  # checkpoint at half the steps
    stage2: Path  # checkpoint at the end
    curve: Path  # CSV training curve
    steps: int
    final_losses: dict[str, float]  # the last CSV row's losses
    seconds: float  # wall time of the optimisation loop (data loading excluded)
    data: list[dict] = field(default_factory=list)  # provenance of each set, as in the metadata

    @property
    def steps_per_second(self) -> float:
        """Optimisation steps per second of wall time."""
        return self.steps / self.seconds if self.seconds > 0 else float("inf")


# --------------------------------------------------------------------------- data


@dataclass
class _Sample:
    set_name: str
    id: str
    image: np.ndarray  # uint8 HxWx3 RGB
    mask: np.ndarray | None  # uint8 HxW, 255 = object
    drawing: np.ndarray | None  # uint8 HxW, 0 = ink


def _as_folders(data) -> list[Path]:
    """Normalise one folder or a sequence of folders to a non-empty list of Paths."""
    folders = [Path(data)] if isinstance(data, (str, os.PathLike)) else [Path(d) for d in data]
    if not folders:
        raise TrainingDataError("no training set given; pass a test-set folder or a list of them")
    return folders


def _read_gray(path: Path) -> np.ndarray:
    """Read a PNG as uint8 HxW gray (any file name)."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise TrainingDataError(f"{path} could not be read ({exc.strerror or exc})") from None
    gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if gray is None:
        raise TrainingDataError(f"{path} is not a readable image; rebuild the set or replace the file")
    return gray


def _read_sets(folders: list[Path]) -> tuple[list[_Sample], list[dict]]:
    """Read every sample of the sets, in the given order; return them and each set's provenance.

    Hashes are checked against the manifests, so the recorded provenance
    (``{"name", "manifest_sha256", "images"}``, the hash taken over the
    manifest's bytes, which hold every file's sha256) describes the pixels
    actually trained on.
    """
    samples, provenance = [], []
    for folder in folders:
        try:
            test_set = load_test_set(folder, check_hashes=True)
        except DatasetError as exc:
            raise TrainingDataError(str(exc)) from exc
        if not test_set.items:
            raise TrainingDataError(f"{folder / MANIFEST_NAME} lists no files; add images to the set")
        for item in test_set.items:
            try:
                image = read_image(item.image)
            except ImageReadError as exc:
                raise TrainingDataError(f"{folder}: {exc}; rebuild the set or replace the file") from None
            mask = _read_gray(item.mask) if item.mask else None
            drawing = _read_gray(item.drawing) if item.drawing else None
            samples.append(_Sample(test_set.name, item.id, image, mask, drawing))
        raw = (folder / MANIFEST_NAME).read_bytes()
        provenance.append(
            {"name": test_set.name, "manifest_sha256": hashlib.sha256(raw).hexdigest(), "images": len(test_set)}
        )
    return samples, provenance


def _require(samples: list[_Sample], attr: str) -> None:
    """Raise naming the samples that lack ``attr`` (``mask`` or ``drawing``)."""
    missing = [f"{s.set_name}/{s.id}" for s in samples if getattr(s, attr) is None]
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise TrainingDataError(
            f"{len(missing)} images have no {attr} ({', '.join(missing[:3])}{more}); add {attr}s/<id>.png and "
            f"list it as '{attr}' in manifest.json, or train on sets that have them"
        )


class _BatchOrder:
    """Fixed, seeded data order: consecutive batches from a stream of per-epoch permutations.

    Batches always hold ``batch_size`` samples (they run across epoch ends), so
    BatchNorm statistics never come from a short last batch.
    """

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator):
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.seen = 0  # samples handed out so far
        self.queue: list[int] = []

    def next(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Return (indices, horizontal-flip flags, 0-based epoch of the batch's first sample)."""
        epoch = self.seen // self.n
        while len(self.queue) < self.batch_size:
            self.queue += self.rng.permutation(self.n).tolist()
        idx, self.queue = np.array(self.queue[: self.batch_size]), self.queue[self.batch_size :]
        self.seen += self.batch_size
        flips = self.rng.random(self.batch_size) < 0.5
        return idx, flips, epoch


def _batch(images: np.ndarray, idx: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Gather ``images[idx]`` (N x H x W [x C]) and mirror the flagged ones left-right."""
    out = images[idx].copy()
    out[flips] = out[flips][:, :, ::-1]
    return out


def _to_nchw(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 N x H x W x 3 or float N x H x W -> float32 NCHW; uint8 is scaled to [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(batch))
    t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
    t = t.float() / 255 if batch.dtype == np.uint8 else t.float()
    return t.contiguous().to(device)


# --------------------------------------------------------------------------- discriminator


class PatchDiscriminator(nn.Module):
    """pix2pix-style conditional PatchGAN: (photo, drawing) -> a grid of real/fake logits.

    Three stride-2 4x4 convs and a stride-1 4x4 conv to 1 channel; each logit
    judges a 46x46-pixel patch (at 128 input: 1 x 15 x 15 logits).
    """

    def __init__(self, width: float = 1.0, in_channels: int = 4):
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
        # photo N x 3 x S x S, drawing N x 1 x S x S -> logits N x 1 x (S/8 - 1) x (S/8 - 1)
        return self.model(torch.cat([photo, drawing], dim=1))


def _gan_criterion(kind: str) -> Callable[[torch.Tensor, bool], torch.Tensor]:
    """Return ``loss(logits, real)``: LSGAN (MSE to 1/0) or BCE on logits."""
    if kind == "lsgan":
        return lambda logits, real: F.mse_loss(logits, torch.full_like(logits, float(real)))
    return lambda logits, real: F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


# --------------------------------------------------------------------------- shared loop


def _check_common(steps: int, batch_size: int, lr: float, log_every: int, threads: int | None) -> None:
    if steps < 1:
        raise TrainingError(f"steps must be at least 1, not {steps}")
    if batch_size < 1:
        raise TrainingError(f"batch_size must be at least 1, not {batch_size}")
    if not lr > 0:
        raise TrainingError(f"lr must be positive, not {lr}")
    if log_every < 1:
        raise TrainingError(f"log_every must be at least 1, not {log_every}")
    if threads is not None and threads < 1:
        raise TrainingError(f"threads must be at least 1 or None (torch's default), not {threads}")


def _output_paths(out_dir: Path, prefix: str, overwrite: bool) -> tuple[Path, Path, Path]:
    paths = (
        out_dir / f"{prefix}_stage1.safetensors",
        out_dir / f"{prefix}_stage2.safetensors",
        out_dir / f"{prefix}_curve.csv",
    )
    existing = [p.name for p in paths if p.exists()]
    if existing and not overwrite:
        raise TrainingError(
            f"{out_dir} already holds {', '.join(existing)}; choose another out_dir or prefix, or pass overwrite=True"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    return paths


def _format_loss(value: float) -> str:
    return format(value, ".7g")


def _run_loop(
    *,
    net: nn.Module,
    architecture: str,
    step_fn: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    order: _BatchOrder,
    columns: Sequence[str],
    steps: int,
    log_every: int,
    paths: tuple[Path, Path, Path],
    metadata: dict,
    progress: bool,
    desc: str,
) -> tuple[dict[str, float], float]:
    """Run ``steps`` optimisation steps, log the curve, save both stages; return (last losses, seconds)."""
    stage1_path, stage2_path, curve_path = paths
    stage1_step = max(1, steps // 2)
    window = {c: 0.0 for c in columns}
    window_steps = 0
    last: dict[str, float] = {}
    start = time.perf_counter()
    with open(curve_path, "w", newline="", encoding="utf-8") as fh, tqdm(
        total=steps, desc=desc, unit="step", file=sys.stderr, disable=not progress, dynamic_ncols=True
    ) as bar:
        writer = csv.writer(fh)
        writer.writerow([*CURVE_INDEX_COLUMNS, *columns])
        fh.flush()
        for step in range(1, steps + 1):
            idx, flips, epoch = order.next()
            losses = step_fn(idx, flips)
            for c in columns:
                window[c] += losses[c]
            window_steps += 1
            if step % log_every == 0 or step == steps:
                last = {c: window[c] / window_steps for c in columns}
                writer.writerow([epoch, step, *(_format_loss(last[c]) for c in columns)])
                fh.flush()  # a killed run still leaves its curve so far
                window = {c: 0.0 for c in columns}
                window_steps = 0
                bar.set_postfix({c: f"{v:.4f}" for c, v in last.items()}, refresh=False)
            # With steps == 1 both stages are the same step, and both files are written.
            for stage, at, path in (("stage1", stage1_step, stage1_path), ("stage2", steps, stage2_path)):
                if step == at:
                    meta = {**metadata, "stage": stage, "step": step, "epoch": epoch}
                    save_checkpoint(net, path, architecture, meta)
            bar.update(1)
    return last, time.perf_counter() - start


class _Determinism:
    """Seed torch, switch deterministic algorithms on and set the thread count; restore all afterwards."""

    def __init__(self, seed: int, threads: int | None):
        self.seed, self.threads = seed, threads

    def __enter__(self):
        self._rng = torch.random.fork_rng(devices=[])
        self._rng.__enter__()
        torch.manual_seed(self.seed)
        self._threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        self._was = torch.are_deterministic_algorithms_enabled()
        self._warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        self._fill = torch.utils.deterministic.fill_uninitialized_memory
        # warn_only: on the CPU every op used here is deterministic; on CUDA a few
        # backward ops (nearest upsampling) have no deterministic kernel and would raise.
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Filling every new buffer with NaN is a debugging aid, not needed for
        # determinism, and cost ~15% of a Mask Net step.
        torch.utils.deterministic.fill_uninitialized_memory = False
        return self

    def __exit__(self, *exc):
        torch.use_deterministic_algorithms(self._was, warn_only=self._warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = self._fill
        torch.set_num_threads(self._threads)
        return self._rng.__exit__(*exc)


def _base_metadata(provenance: list[dict], seed: int, command: str, hyper: dict) -> dict:
    combined = hashlib.sha256("".join(p["manifest_sha256"] for p in provenance).encode()).hexdigest()
    return {
        "data": provenance,  # per set: name, sha256 of manifest.json, image count
        "data_sha256": combined,  # one hash over every set's manifest hash, for quick comparison
        "seed": seed,
        "command": command,
        "training": hyper,
    }


def _environment(threads: int | None) -> dict:
    """What besides the seed decides the exact weights: torch version and thread count."""
    return {"torch": torch.__version__, "threads": threads or torch.get_num_threads()}


def _check_architecture(architecture: str, role: str) -> None:
    if architecture not in ARCHITECTURES or network_role(architecture) != role:
        known = ", ".join(a for a in ARCHITECTURES if network_role(a) == role)
        raise TrainingError(f"architecture {architecture!r} is not a {role} network; use one of {known}")


# --------------------------------------------------------------------------- public


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

    Args:
        data: one test-set folder or a list of them (read in that order).
        out_dir: where the two checkpoints and the CSV go (created).
        side: training side, a multiple of 8 and at least 16 (the deep net's
            output matches its input only then).
        steps: optimisation steps; ``stage1`` is saved after ``steps // 2``.
        prefix: file-name prefix; default ``SketchNet`` (deep) or
            ``SketchNet_shallow``.
        command: the command line that started the run, stored in the metadata.
        device: ``cpu`` (the deterministic case), ``cuda``, ``cuda:N`` or ``auto``.
        threads: torch CPU threads for the run (None keeps torch's setting).
            On a machine shared with other work, 1 thread can be several times
            faster than oversubscribed cores (measured on a busy 2-core box,
            Mask Net v2 width 0.25 batch 4: 1.2-1.5 steps/s with 1 thread,
            0.24-0.27 with 2).
        overwrite: replace existing outputs of the same prefix.

    Returns:
        TrainResult with the paths, final losses and timing.
    """
    _check_architecture(architecture, "sketch")
    _check_common(steps, batch_size, lr, log_every, threads)
    if side < 16 or side % 8:
        raise TrainingError(f"side must be a multiple of 8 and at least 16, not {side}")
    if target not in SKETCH_TARGETS:
        raise TrainingError(f"target must be one of {', '.join(SKETCH_TARGETS)}, not {target!r}")
    if gan_loss not in GAN_LOSSES:
        raise TrainingError(f"gan_loss must be one of {', '.join(GAN_LOSSES)}, not {gan_loss!r}")
    dev = resolve_device(device)
    samples, provenance = _read_sets(_as_folders(data))
    if target == "drawing":
        _require(samples, "drawing")
    inputs = np.stack([cv2.resize(apply_gamma(s.image, SKETCH_INPUT_GAMMA), (side, side)) for s in samples])
    # N x S x S x 3 uint8 (pipeline input) and N x S x S float32 targets in [0, 1]
    drawings = [s.drawing if target == "drawing" else make_pencil_drawing(s.image) for s in samples]
    targets = np.stack([cv2.resize(d, (side, side), interpolation=cv2.INTER_AREA) for d in drawings])
    targets = targets.astype(np.float32) / 255
    del samples, drawings

    prefix = prefix or DEFAULT_PREFIXES[architecture]
    paths = _output_paths(Path(out_dir), prefix, overwrite)
    hyper = {
        "side": side, "steps": steps, "batch_size": batch_size, "lr": lr, "target": target,
        "target_maker": "drawings/" if target == "drawing" else "core.data.testsets.make_pencil_drawing",
        "input_gamma": SKETCH_INPUT_GAMMA, "adv_weight": adv_weight, "l1_weight": l1_weight,
        "gan_loss": gan_loss, "flip": flip, "optimizer": "Adam(0.5, 0.999)", **_environment(threads),
    }  # fmt: skip
    metadata = _base_metadata(provenance, seed, command, hyper)
    rng = np.random.default_rng(seed)
    criterion = _gan_criterion(gan_loss)

    with _Determinism(seed, threads):
        gen = init_sketch_net(build_network(architecture, width)).to(dev).train()
        disc = PatchDiscriminator(width).to(dev).train()
        opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))

        def step_fn(idx: np.ndarray, flips: np.ndarray) -> dict[str, float]:
            flips = flips if flip else np.zeros_like(flips)
            x = _to_nchw(_batch(inputs, idx, flips), dev)  # N x 3 x S x S
            y = _to_nchw(_batch(targets, idx, flips), dev)  # N x 1 x S x S
            fake = gen(x)
            opt_d.zero_grad(set_to_none=True)
            loss_d = 0.5 * (criterion(disc(x, y), True) + criterion(disc(x, fake.detach()), False))
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            loss_gan = criterion(disc(x, fake), True)  # judged by the just-updated discriminator
            loss_l1 = F.l1_loss(fake, y)
            (adv_weight * loss_gan + l1_weight * loss_l1).backward()
            opt_g.step()
            return {"loss_G_L1": loss_l1.item(), "loss_G_GAN": loss_gan.item(), "loss_D": loss_d.item()}

        last, seconds = _run_loop(
            net=gen, architecture=architecture, step_fn=step_fn, order=_BatchOrder(len(inputs), batch_size, rng),
            columns=SKETCH_LOSSES, steps=steps, log_every=log_every, paths=paths, metadata=metadata,
            progress=progress, desc=f"train {prefix}",
        )  # fmt: skip
    return TrainResult(*paths, steps=steps, final_losses=last, seconds=seconds, data=provenance)


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

    Args:
        data: one test-set folder or a list of them; every image needs a mask.
        out_dir: where the two checkpoints and the CSV go (created).
        steps: optimisation steps; ``stage1`` is saved after ``steps // 2``.
        prefix: file-name prefix; default ``MaskNet_v1`` / ``MaskNet_v2``.
        command: the command line that started the run, stored in the metadata.
        device: ``cpu`` (the deterministic case), ``cuda``, ``cuda:N`` or ``auto``.
        threads: torch CPU threads for the run (None keeps torch's setting).
            On a machine shared with other work, 1 thread can be several times
            faster than oversubscribed cores (measured on a busy 2-core box,
            Mask Net v2 width 0.25 batch 4: 1.2-1.5 steps/s with 1 thread,
            0.24-0.27 with 2).
        overwrite: replace existing outputs of the same prefix.

    Returns:
        TrainResult with the paths, final loss (``loss_mask``) and timing.
    """
    _check_architecture(architecture, "mask")
    _check_common(steps, batch_size, lr, log_every, threads)
    if mask_threshold is not None and not 0 <= mask_threshold < 1:
        raise TrainingError(f"mask_threshold must be in [0, 1) or None (soft), not {mask_threshold}")
    dev = resolve_device(device)
    samples, provenance = _read_sets(_as_folders(data))
    _require(samples, "mask")
    out_side = MASK_OUTPUT_SIDES[architecture]
    inputs = np.stack([cv2.resize(s.image, (MASK_SIDE, MASK_SIDE)) for s in samples])  # N x 224 x 224 x 3
    targets = np.stack(
        [cv2.resize(s.mask.astype(np.float32) / 255, (out_side, out_side), interpolation=cv2.INTER_AREA)
         for s in samples]
    )  # N x m x m float32 in [0, 1]  # fmt: skip
    if mask_threshold is not None:
        targets = (targets > mask_threshold).astype(np.float32)
    del samples

    prefix = prefix or DEFAULT_PREFIXES[architecture]
    paths = _output_paths(Path(out_dir), prefix, overwrite)
    hyper = {
        "steps": steps, "batch_size": batch_size, "lr": lr, "mask_side": out_side,
        "mask_target": "soft" if mask_threshold is None else f"> {mask_threshold}", "flip": flip,
        "optimizer": "Adam(0.9, 0.999)", **_environment(threads),
    }  # fmt: skip
    metadata = _base_metadata(provenance, seed, command, hyper)
    rng = np.random.default_rng(seed)

    with _Determinism(seed, threads):
        net = build_network(architecture, width).to(dev).train()
        opt = torch.optim.Adam(net.parameters(), lr=lr)

        def step_fn(idx: np.ndarray, flips: np.ndarray) -> dict[str, float]:
            flips = flips if flip else np.zeros_like(flips)
            x = _to_nchw(_batch(inputs, idx, flips), dev)  # N x 3 x 224 x 224
            y = _to_nchw(_batch(targets, idx, flips), dev)  # N x 1 x m x m
            opt.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return {"loss_mask": loss.item()}

        last, seconds = _run_loop(
            net=net, architecture=architecture, step_fn=step_fn, order=_BatchOrder(len(inputs), batch_size, rng),
            columns=MASK_LOSSES, steps=steps, log_every=log_every, paths=paths, metadata=metadata,
            progress=progress, desc=f"train {prefix}",
        )  # fmt: skip
    return TrainResult(*paths, steps=steps, final_losses=last, seconds=seconds, data=provenance)


def read_curve(csv_path: Path | str) -> dict[str, np.ndarray]:
    """Read a training curve in the original CSV format into columns (see :func:`core.training.curves.parse_curve`).

    The header is ``epoch,global_iter`` followed by one or more loss names;
    every row has one value per column. ``epoch`` and ``global_iter`` must be
    whole numbers, losses any float (``nan``/``inf`` included: a diverged run
    is still a curve). Blank lines are skipped; a header-only file gives empty
    columns.

    Returns:
        ``{"epoch": int64[n], "global_iter": int64[n], "<loss>": float64[n], ...}``
        in the file's column order.

    Raises:
        CurveFormatError: the file is missing or not in that format; the message
        names the line.
    """
    path = Path(csv_path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets save a BOM
    except FileNotFoundError:
        raise CurveFormatError(f"curve {path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CurveFormatError(f"curve {path} is not a readable text CSV ({exc}); export it again as CSV") from None
    try:
        return curves.parse_curve(text, f"curve {path}")
    except curves.CurveFormatError as exc:
        # Re-raised as this module's kind, which is also a TrainingError (the CLI reports those in one line).
        raise CurveFormatError(str(exc)) from None

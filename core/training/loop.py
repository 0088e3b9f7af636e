"""The training run shared by Sketch Nets and Mask Nets: set-up, determinism, the loop, snapshots, metadata.

Every run is deterministic for a given seed on the CPU (same machine, same
thread count): weights are initialised from ``seed``, the data order and the
flips come from a ``numpy`` Generator seeded with ``seed``, and
``torch.use_deterministic_algorithms`` is on for the run. Torch's global RNG
state, deterministic-algorithms flag and thread count are set for the run and
restored afterwards (:class:`Determinism`), so two trainings must not run at
once in one process.

Outputs in ``out_dir`` (``prefix`` e.g. ``MaskNet_v2``), as the original named
its checkpoints:

- ``<prefix>_stage1.safetensors``: snapshot at half the steps;
- ``<prefix>_stage2.safetensors``: snapshot at the end;
- ``<prefix>_curve.csv``: the training curve in the original format,
  ``epoch,global_iter,<loss columns>``, one row per log step (losses are the
  mean over the steps since the previous row).

Arguments every training takes, besides its own:

- ``data``: one test-set folder or a list of them (read in that order);
- ``out_dir``: where the two checkpoints and the CSV go (created);
- ``steps``: optimisation steps; ``stage1`` is saved after ``steps // 2``;
- ``command``: the command line that started the run, stored in the metadata;
- ``device``: ``cpu`` (the deterministic case), ``cuda``, ``cuda:N`` or ``auto``;
- ``threads``: torch CPU threads for the run (None keeps torch's setting).
  On a machine shared with other work, 1 thread can be several times faster
  than oversubscribed cores (measured on a busy 2-core box, Mask Net v2 width
  0.25 batch 4: 1.2-1.5 steps/s with 1 thread, 0.24-0.27 with 2);
- ``overwrite``: replace existing outputs of the same prefix.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.utils.deterministic  # holds the fill_uninitialized_memory switch
from torch import nn
from tqdm import tqdm

from core.errors import TrainingError
from core.models.checkpoints import save_checkpoint
from core.models.devices import resolve_device
from core.models.networks import ARCHITECTURES, network_role
from core.training.curves import CURVE_INDEX_COLUMNS
from core.training.samples import BatchOrder, Sample, as_folders, gather, read_sets, require, to_nchw

__all__ = ["DEFAULT_PREFIXES", "Determinism", "RunSetup", "TrainResult", "check_arguments", "environment",
           "output_paths", "prepare_run", "run_loop", "run_metadata", "stabilise_checkpoint", "train_network"]

#: One optimisation step on a batch: (inputs, targets) as NCHW tensors -> its losses by column name.
Step = Callable[[torch.Tensor, torch.Tensor], dict[str, float]]

log = logging.getLogger(__name__)

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


@dataclass
class RunSetup:
    """What :func:`prepare_run` found: the device, the samples and their provenance, the output paths."""

    device: torch.device
    samples: list[Sample]
    provenance: list[dict]  # per set: name, sha256 of manifest.json, image count
    prefix: str
    paths: tuple[Path, Path, Path]  # stage1, stage2, curve


# --------------------------------------------------------------------------- set-up


def check_arguments(role: str, architecture: str, *, steps: int, batch_size: int, lr: float, log_every: int,
                    threads: int | None) -> None:
    """Refuse an architecture of the wrong role and the settings every training shares, naming the bad one.

    Raises:
        TrainingError: the first bad argument, with what it must be.
    """
    if architecture not in ARCHITECTURES or network_role(architecture) != role:
        known = ", ".join(a for a in ARCHITECTURES if network_role(a) == role)
        raise TrainingError(f"architecture {architecture!r} is not a {role} network; use one of {known}")
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


def prepare_run(data, out_dir: Path | str, *, architecture: str, prefix: str | None, overwrite: bool, device: str,
                needs: str | None = None) -> RunSetup:
    """Resolve the device, read the training sets and claim the output paths, in that order.

    ``needs`` (``"mask"`` or ``"drawing"``) names what every sample must have.
    Call it after the arguments are checked, so a bad argument is refused before
    any data is read.

    Raises:
        TrainingDataError: a set is missing, damaged, or lacks what ``needs`` names.
        TrainingError: the outputs exist and ``overwrite`` is off.
    """
    dev = resolve_device(device)
    samples, provenance = read_sets(as_folders(data))
    if needs:
        require(samples, needs)
    prefix = prefix or DEFAULT_PREFIXES[architecture]
    return RunSetup(dev, samples, provenance, prefix, output_paths(Path(out_dir), prefix, overwrite))


def output_paths(out_dir: Path, prefix: str, overwrite: bool) -> tuple[Path, Path, Path]:
    """Return the stage1, stage2 and curve paths of a run, creating ``out_dir``.

    Raises:
        TrainingError: one of them exists and ``overwrite`` is off.
    """
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


def environment(threads: int | None) -> dict:
    """What besides the seed decides the exact weights: torch version and thread count."""
    return {"torch": torch.__version__, "threads": threads or torch.get_num_threads()}


def run_metadata(provenance: list[dict], seed: int, command: str, hyper: dict) -> dict:
    """Return the metadata every snapshot of a run carries (its stage, step and epoch are added per snapshot)."""
    combined = hashlib.sha256("".join(p["manifest_sha256"] for p in provenance).encode()).hexdigest()
    return {
        "data": provenance,  # per set: name, sha256 of manifest.json, image count
        "data_sha256": combined,  # one hash over every set's manifest hash, for quick comparison
        "seed": seed,
        "command": command,
        "training": hyper,
    }


# --------------------------------------------------------------------------- the run


class Determinism:
    """Seed torch, switch deterministic algorithms on and set the thread count; restore all afterwards."""

    def __init__(self, seed: int, threads: int | None):
        """Remember the seed and thread count (None keeps torch's) to apply on entry."""
        self.seed, self.threads = seed, threads

    def __enter__(self):
        """Fork torch's RNG, seed it and switch to deterministic algorithms."""
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
        """Restore torch's RNG state, deterministic-algorithms flags and thread count."""
        torch.use_deterministic_algorithms(self._was, warn_only=self._warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = self._fill
        torch.set_num_threads(self._threads)
        return self._rng.__exit__(*exc)


def stabilise_checkpoint(path: Path) -> Path:
    """Rewrite a safetensors file's header with sorted keys, so equal tensors and metadata give equal bytes.

    The safetensors writer keeps the metadata in a hash map whose order
    changes from run to run; the tensor data and their offsets do not. Only
    the JSON header is re-serialised (sorted, compact, space-padded to a
    multiple of 8 bytes as the format asks); the data section is copied as is.
    """
    import json
    import struct

    from core.files import write_atomic

    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    write_atomic(path, struct.pack("<Q", len(text)) + text + raw[8 + length:])
    return path


def _format_loss(value: float) -> str:
    """Format a loss as the curve CSV holds it (7 significant digits)."""
    return format(value, ".7g")


def run_loop(
    *,
    net: nn.Module,
    architecture: str,
    step_fn: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    order: BatchOrder,
    columns: Sequence[str],
    steps: int,
    log_every: int,
    paths: tuple[Path, Path, Path],
    metadata: dict,
    progress: bool,
    desc: str,
) -> tuple[dict[str, float], float]:
    """Run ``steps`` optimisation steps, log the curve, save both stages; return (last losses, seconds).

    ``step_fn(indices, flips)`` runs one optimisation step on a batch and returns
    its losses by column name.
    """
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
                    stabilise_checkpoint(save_checkpoint(net, path, architecture, meta))
                    log.info("saved %s at step %d: %s", stage, step, path)
            bar.update(1)
    seconds = time.perf_counter() - start
    log.info("%s: %d steps in %.1f s; final %s", desc, steps, seconds,
             ", ".join(f"{c} {v:.4f}" for c, v in last.items()))
    return last, seconds


def train_network(
    run: RunSetup,
    build: Callable[[], tuple[nn.Module, Step]],
    *,
    inputs: np.ndarray,
    targets: np.ndarray,
    flip: bool,
    architecture: str,
    columns: Sequence[str],
    hyper: dict,
    seed: int,
    threads: int | None,
    command: str,
    steps: int,
    batch_size: int,
    log_every: int,
    progress: bool,
) -> TrainResult:
    """Train the network ``build`` makes on (inputs, targets) pairs under :class:`Determinism`; return what it wrote.

    ``build()`` runs once torch is seeded, so the initial weights come from
    ``seed``; it returns the network to snapshot and its optimisation step.
    Batches are drawn by a ``numpy`` Generator seeded with ``seed`` and
    flipped horizontally (inputs and targets alike) unless ``flip`` is off.
    ``hyper`` is recorded in every snapshot's metadata, followed by the
    :func:`environment`.
    """
    metadata = run_metadata(run.provenance, seed, command, {**hyper, **environment(threads)})
    rng = np.random.default_rng(seed)
    with Determinism(seed, threads):
        net, step = build()

        def step_fn(idx: np.ndarray, flips: np.ndarray) -> dict[str, float]:
            flips = flips if flip else np.zeros_like(flips)
            x = to_nchw(gather(inputs, idx, flips), run.device)  # N x 3 x H x W
            y = to_nchw(gather(targets, idx, flips), run.device)  # N x 1 x h x w
            return step(x, y)

        last, seconds = run_loop(
            net=net, architecture=architecture, step_fn=step_fn, order=BatchOrder(len(inputs), batch_size, rng),
            columns=columns, steps=steps, log_every=log_every, paths=run.paths, metadata=metadata,
            progress=progress, desc=f"train {run.prefix}",
        )  # fmt: skip
    return TrainResult(*run.paths, steps=steps, final_losses=last, seconds=seconds, data=run.provenance)

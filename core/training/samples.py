"""Training samples: test sets read into memory with their provenance, served in seeded batches.

Training data are test sets (format: :mod:`core.data.testset`) read with
their hashes checked, so the provenance recorded in a checkpoint describes the
pixels actually trained on; masks and drawings are the ones the manifest lists.
The data order and the flips come from one seeded ``numpy`` Generator.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data.testset import MANIFEST_NAME, load_test_set
from core.errors import DatasetError, ImageReadError, TrainingDataError
from core.files import read_gray
from core.pipeline.images import read_image

__all__ = ["BatchOrder", "Sample", "as_folders", "gather", "read_sets", "require", "to_nchw"]


@dataclass
class Sample:
    """One training image with its optional mask and drawing, and the set it came from."""

    set_name: str
    id: str
    image: np.ndarray  # uint8 HxWx3 RGB
    mask: np.ndarray | None  # uint8 HxW, 255 = object
    drawing: np.ndarray | None  # uint8 HxW, 0 = ink


def as_folders(data) -> list[Path]:
    """Normalise one folder or a sequence of folders to a non-empty list of Paths."""
    folders = [Path(data)] if isinstance(data, (str, os.PathLike)) else [Path(d) for d in data]
    if not folders:
        raise TrainingDataError("no training set given; pass a test-set folder or a list of them")
    return folders


def read_sets(folders: list[Path]) -> tuple[list[Sample], list[dict]]:
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
            try:
                mask = read_gray(item.mask) if item.mask else None
                drawing = read_gray(item.drawing) if item.drawing else None
            except ImageReadError as exc:
                raise TrainingDataError(str(exc)) from None
            samples.append(Sample(test_set.name, item.id, image, mask, drawing))
        raw = (folder / MANIFEST_NAME).read_bytes()
        provenance.append(
            {"name": test_set.name, "manifest_sha256": hashlib.sha256(raw).hexdigest(), "images": len(test_set)}
        )
    return samples, provenance


def require(samples: list[Sample], attr: str) -> None:
    """Raise naming the samples that lack ``attr`` (``mask`` or ``drawing``)."""
    missing = [f"{s.set_name}/{s.id}" for s in samples if getattr(s, attr) is None]
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise TrainingDataError(
            f"{len(missing)} images have no {attr} ({', '.join(missing[:3])}{more}); add {attr}s/<id>.png and "
            f"list it as '{attr}' in manifest.json, or train on sets that have them"
        )


class BatchOrder:
    """Fixed, seeded data order: consecutive batches from a stream of per-epoch permutations.

    Batches always hold ``batch_size`` samples (they run across epoch ends), so
    BatchNorm statistics never come from a short last batch.
    """

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator):
        """Serve batches of ``batch_size`` indices into ``n`` samples, drawing order and flips from ``rng``."""
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


def gather(images: np.ndarray, idx: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Gather ``images[idx]`` (N x H x W [x C]) and mirror the flagged ones left-right."""
    out = images[idx].copy()
    out[flips] = out[flips][:, :, ::-1]
    return out


def to_nchw(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 N x H x W x 3 or float N x H x W -> float32 NCHW; uint8 is scaled to [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(batch))
    t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
    t = t.float() / 255 if batch.dtype == np.uint8 else t.float()
    return t.contiguous().to(device)


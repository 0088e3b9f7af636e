"""The original script's output folders: the seed profile run over a list of images, written to disk.

For each image ``<name>.<ext>`` this writes ``<outpath>/gallery/<name>.png``
(input | cropped | sketch) and ``<outpath>/sketch/<name>.png`` (the saved
sketch: ``vec_width`` wide, after gamma 3), exactly as the original
``pipeline.py`` did, and hands the saved sketch to an optional vectoriser.
Unreadable images are skipped and reported, never fatal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import ImageReadError
from core.files import encode_png, write_atomic
from core.pipeline.images import read_image
from core.pipeline.seed import Network, SeedSettings, gallery_sheet, run_seed, saved_sketch

__all__ = ["ImageOutcome", "Vectoriser", "output_name", "run_images"]

log = logging.getLogger(__name__)

#: Writes the strokes of a saved sketch under ``(outpath, name)``; returns anything.
Vectoriser = Callable[[np.ndarray, Path, str], object]


@dataclass(frozen=True)
class ImageOutcome:
    """What became of one input image: written, or skipped with the reason."""

    path: Path
    name: str  # the output file stem
    error: str | None = None  # why the image was skipped; None when its files were written

    @property
    def ok(self) -> bool:
        """True when the image's files were written."""
        return self.error is None


def output_name(path: str | Path) -> str:
    """The output file stem of an input image: its name without the last extension (any bytes kept)."""
    return os.fsdecode(Path(path).name).rsplit(".", 1)[0]


def run_images(
    images: Iterable[str | Path],
    outpath: str | Path,
    settings: SeedSettings,
    sketch_net: Network,
    mask_net: Network | None = None,
    device: str | torch.device = "cpu",
    vec_width: int = 600,
    vectorise: Vectoriser | None = None,
) -> Iterator[ImageOutcome]:
    """Write the original script's outputs for each image in turn; yield one outcome per image.

    Each readable image goes through the seed profile; its ``sketch/`` and
    ``gallery/`` files are written, and the saved sketch (``vec_width`` wide,
    after gamma 3) goes to ``vectorise``. A generator, so a caller can show
    progress and report skipped images as they happen. Images that cannot be
    read are skipped (their outcome holds the reason); anything else that
    fails is raised.
    """
    outpath = Path(outpath)
    for path in images:
        path = Path(path)
        name = output_name(path)
        try:
            img = read_image(path)
        except ImageReadError as exc:
            log.info("skipped %s: %s", name, exc)
            yield ImageOutcome(path, name, str(exc))
            continue
        result = run_seed(img, settings, sketch_net, mask_net, device)
        saved = saved_sketch(result.sketch, vec_width)
        write_atomic(outpath / "sketch" / f"{name}.png", encode_png(saved))
        write_atomic(outpath / "gallery" / f"{name}.png",
                     encode_png(gallery_sheet(img, result.cropped, result.sketch)))
        if vectorise is not None:
            # As the original: the saved sketch (vec_width wide, after gamma 3) is what gets vectorised.
            vectorise(saved, outpath, name)
        log.debug("wrote %s under %s", name, outpath)
        yield ImageOutcome(path, name)

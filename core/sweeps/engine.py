"""The cell engine: computes one image's cells, sharing every piece of work the cells have in common.

Each image is decoded once, each Mask Net runs once per (image, checkpoint,
plain/inverted, precision), and each Sketch Net forward is shared by every
cell whose input is the same (keyed by the input's content, so soft and hard
crops under a mask that is 1 everywhere share it too). Networks are folded
for inference once per sweep. Finished cells go to a writer (see
:class:`core.sweeps.session.ResultWriter`), which encodes and records them on
its own thread while the next cell computes. Both executors run this code:
``local`` in the sweep's own process, ``ray`` inside each worker actor.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Protocol

import numpy as np

from core.errors import ImageReadError, SweepCancelled
from core.sweeps.cell import Cell
from core.sweeps.plan import Plan, group_cells

__all__ = ["CellEngine", "StopFlag"]


class StopFlag(Protocol):
    """Anything with ``is_set()``: a ``threading.Event`` set by SIGTERM, or a Ray task's cancel flag."""

    def is_set(self) -> bool: ...


class CellEngine:
    """Computes cells image by image, reusing masks and Sketch Net forwards.

    Args:
        plan: the sweep's plan (its spec and loaded checkpoints).
        device: the torch device to run on.
        writer: receives each finished cell (``put``/``put_failure``/``raise_if_failed``).
        stop: when set, the engine stops before the next cell with :class:`core.errors.SweepCancelled`.
        progress: told of each finished cell (``cell(cell, failed, seconds, error)``), or None.
    """

    def __init__(self, plan: Plan, device, writer, stop: StopFlag, progress=None):
        self.plan, self.device, self.writer, self.stop, self.progress = plan, device, writer, stop, progress
        self.nets: dict[str, object] = {}

    def net(self, sha: str):
        """The optimised inference copy of a checkpoint's network, built once per sweep."""
        if sha not in self.nets:
            from core.models.inference import optimize_for_inference, prepare_device

            prepare_device(self.device)
            self.nets[sha] = optimize_for_inference(self.plan.checkpoints[sha].build(), self.device)
        return self.nets[sha]

    def run(self, cells: list[Cell]) -> None:
        """Compute every cell, one image group after another."""
        for group in group_cells(cells):
            self.run_image(group)

    def run_image(self, cells: list[Cell]) -> None:
        """Compute the cells of one image (one decode; masks and forwards shared)."""
        from core.pipeline.images import read_image

        t0 = time.perf_counter()
        try:
            img = read_image(cells[0].image.path, self.plan.spec.max_pixels)
        except ImageReadError as exc:
            for cell in cells:
                self.check_stop()
                self.writer.put_failure(cell, str(exc))
                self._tick(cell, error=str(exc))
            return
        t_decode = time.perf_counter() - t0
        masks: dict = {}
        crops: dict = {}
        sketches: dict = {}
        inverted = None
        for cell in cells:
            self.check_stop()
            started = time.perf_counter()
            try:
                if cell.config["method"] != "checkpoint":
                    out = self.run_baseline(img, cell)
                else:
                    if cell.config["merge"] and inverted is None:
                        from core.pipeline.seed import invert_value

                        inverted = invert_value(img)
                    out = self.run_seed(img, inverted, cell, masks, crops, sketches)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                self.writer.put_failure(cell, error)
                self._tick(cell, error=error)
                continue
            out["timings"]["t_decode"] = t_decode
            out["timings"]["seconds"] = time.perf_counter() - started + t_decode
            t_decode = 0.0  # decoding is charged to the first cell of the image only
            self.writer.put(cell, img, out)
            self._tick(cell, seconds=out["timings"]["seconds"])

    def run_baseline(self, img, cell: Cell) -> dict:
        """A classical baseline's sketch of the image."""
        from core.pipeline.baselines import run_baseline

        t = time.perf_counter()
        sketch = run_baseline(cell.config["method"], img, cell.config["baseline_params"])
        return {"mask": None, "cropped": None, "sketch": sketch,
                "timings": {"t_mask": 0.0, "t_sketch": time.perf_counter() - t}}

    def run_seed(self, img, inverted, cell: Cell, masks: dict, crops: dict, sketches: dict) -> dict:
        """The seed profile for one cell, taking masks, crops and forwards from the image's shared caches."""
        from core.pipeline.seed import SeedSettings, merge_sketches, prepare_sketch_input

        c = cell.config
        settings = SeedSettings(c["resolution"], c["background"], c["mask_mode"] or "soft",
                                c["softctr"] if c["softctr"] is not None else 0.5, c["gamma"], c["merge"])
        timings = {"t_mask": 0.0, "t_sketch": 0.0}
        variants = [(False, img)] + ([(True, inverted)] if c["merge"] else [])
        results = []
        for is_inverted, source in variants:
            mask = None
            if c["background"]:
                mkey = (c["mask_sha256"], is_inverted, c["precision"])
                if mkey not in masks:
                    t = time.perf_counter()
                    masks[mkey] = self.predict(c["mask_sha256"], source, None, c["precision"])
                    timings["t_mask"] += time.perf_counter() - t
                mask = masks[mkey]
            # Crops are cheap; the Sketch Net forward is not. Key it by the input's content, so cells
            # whose crops coincide (e.g. soft and hard under a mask that is 1 everywhere) share it.
            ckey = (c["mask_sha256"], is_inverted, c["precision"], c["mask_mode"], c["softctr"], c["gamma"])
            if ckey not in crops:
                cropped = prepare_sketch_input(source, mask, settings)
                crops[ckey] = (cropped, hashlib.blake2b(cropped.tobytes(), digest_size=16).digest())
            cropped, digest = crops[ckey]
            skey = (c["sketch_sha256"], c["resolution"], c["precision"], cropped.shape, digest)
            if skey not in sketches:
                t = time.perf_counter()
                sketches[skey] = self.predict(c["sketch_sha256"], cropped, c["resolution"], c["precision"])
                timings["t_sketch"] += time.perf_counter() - t
            results.append((mask, cropped, sketches[skey]))
        mask, cropped, sketch = results[0]
        if c["merge"]:
            sketch = merge_sketches(sketch, results[1][2])
        return {"mask": mask, "cropped": cropped, "sketch": sketch, "timings": timings}

    def predict(self, sha: str, image: np.ndarray, side: int | None, precision: str):
        """Mask (side None) or sketch prediction, under autocast for fp16/bf16."""
        import torch

        from core.models.devices import autocast_dtype
        from core.pipeline.seed import predict_mask, predict_sketch

        net = self.net(sha)
        dtype = autocast_dtype(precision)
        ctx = torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx:
            if side is None:
                return predict_mask(net, image, self.device)
            return predict_sketch(net, image, side, self.device)

    def check_stop(self) -> None:
        """Raise SweepCancelled when a stop was asked for, or the writer's error when writing failed."""
        if self.stop.is_set():
            raise SweepCancelled("the sweep was stopped")
        self.writer.raise_if_failed()

    def _tick(self, cell: Cell, seconds: float | None = None, error: str | None = None) -> None:
        if self.progress is not None:
            self.progress.cell(cell, seconds=seconds, error=error)

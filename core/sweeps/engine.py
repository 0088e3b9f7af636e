"""The cell engine: computes one image's cells, sharing every piece of work the cells have in common.

Each image is decoded once, each Mask Net runs once per (image, checkpoint,
plain/inverted, precision), and each Sketch Net forward is shared by every
cell whose input is the same (keyed by the input's content, so soft and hard
crops under a mask that is 1 everywhere share it too). Networks are folded
for inference once per sweep. Finished cells go to a writer (see
:class:`core.sweeps.writer.ResultWriter`), which encodes them on a small pool
and records them on its own thread while the next cell computes. Both executors run this code:
``local`` in the sweep's own process, ``ray`` inside each worker actor.

On CUDA the engine batches: it takes a window of images, runs every Mask Net
and Sketch Net input of the window that shares (network, side, precision) as
one batch (:mod:`core.sweeps.batching` plans the batches and backs off on
out-of-memory), then hands the cells to the writer. The CPU path stays
unbatched, image by image (batching gains nothing there, and its pixels stay
identical to the original's).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Protocol

import numpy as np

from core.errors import ImageReadError, SweepCancelled
from core.sweeps.cell import Cell
from core.sweeps.plan import GroupFeed, Plan, group_cells

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

    #: Images per window on the batched path: enough inputs per batch, little memory held.
    WINDOW = 16
    #: Threads decoding the next window's images while the current one computes.
    DECODE_THREADS = 2

    def __init__(self, plan: Plan, device, writer, stop: StopFlag, progress=None, batching: bool | None = None):
        self.plan, self.device, self.writer, self.stop, self.progress = plan, device, writer, stop, progress
        self.nets: dict[str, object] = {}
        self.batching = self.batches_on(device) if batching is None else batching
        self.batch_sizes: dict = {}  # (sha256, side, precision) -> the batch size that last worked
        self.done = 0  # cells finished (computed or failed) by this engine

    @staticmethod
    def batches_on(device) -> bool:
        """Whether the engine batches on ``device``: on CUDA only (tests patch it to check the path on a CPU)."""
        return getattr(device, "type", str(device)) == "cuda"

    def net(self, sha: str):
        """The optimised inference copy of a checkpoint's network, built once per sweep."""
        if sha not in self.nets:
            from core.models.inference import optimize_for_inference, prepare_device

            prepare_device(self.device)
            self.nets[sha] = optimize_for_inference(self.plan.checkpoints[sha].build(), self.device)
        return self.nets[sha]

    def run(self, cells: list[Cell], feed: GroupFeed | None = None) -> None:
        """Compute every cell: one image group after another, or (batching) a window of groups at a time.

        Args:
            feed: where to take the image groups from when several engines share the work (one per GPU);
                ``cells`` is then ignored.
        """
        feed = feed or GroupFeed(group_cells(cells))
        if not self.batching:
            while groups := feed.take(1):
                self.run_image(groups[0])
            return
        from concurrent.futures import ThreadPoolExecutor

        # Decode ahead: the next window's images are read (and inverted) on a small pool while this
        # window's forwards run; OpenCV's decoders release the GIL.
        with ThreadPoolExecutor(max_workers=self.DECODE_THREADS, thread_name_prefix="sweep-decode") as pool:
            window = feed.take(self.WINDOW)
            ahead = [pool.submit(self.decode, cells) for cells in window]
            while window:
                self.check_stop()
                decoded, following = ahead, feed.take(self.WINDOW)
                ahead = [pool.submit(self.decode, cells) for cells in following]
                self.run_window(window, [future.result() for future in decoded])
                window = following

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
                self.tick(cell, error=str(exc))
            return
        t_decode = time.perf_counter() - t0
        masks: dict = {}
        crops: dict = {}
        sketches: dict = {}
        inverted = None

        def compute(cell: Cell) -> dict:
            nonlocal inverted
            if cell.config["method"] != "checkpoint":
                return self.run_baseline(img, cell)
            if cell.config["merge"] and inverted is None:
                from core.pipeline.seed import invert_value

                inverted = invert_value(img)
            return self.run_seed(img, inverted, cell, masks, crops, sketches)

        for cell in cells:
            self.check_stop()
            t_decode = self.emit(cell, img, compute, t_decode)

    def emit(self, cell: Cell, img, compute, t_decode: float, forwards_done: bool = False) -> float:
        """Compute one cell with ``compute(cell)`` and hand it (or its failure) to the writer.

        Returns the decoding time still to charge: decoding is charged to the
        image's first cell that succeeds. With ``forwards_done`` the cell's
        share of forwards run before it (batched: ``t_mask``, ``t_sketch``)
        is added to its time.
        """
        started = time.perf_counter()
        try:
            out = compute(cell)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.writer.put_failure(cell, error)
            self.tick(cell, error=error)
            return t_decode
        timings = out["timings"]
        timings["t_decode"] = t_decode
        timings["seconds"] = time.perf_counter() - started + t_decode
        if forwards_done:
            timings["seconds"] += timings["t_mask"] + timings["t_sketch"]
        out["device"] = str(self.device)  # with one engine per GPU, the writer records which computed it
        self.writer.put(cell, img, out)
        self.tick(cell, seconds=timings["seconds"])
        return 0.0

    def run_baseline(self, img, cell: Cell) -> dict:
        """A classical baseline's sketch of the image."""
        from core.pipeline.baselines import run_baseline

        t = time.perf_counter()
        sketch = run_baseline(cell.config["method"], img, cell.config["baseline_params"])
        return {"mask": None, "cropped": None, "sketch": sketch,
                "timings": {"t_mask": 0.0, "t_sketch": time.perf_counter() - t}}

    def run_seed(self, img, inverted, cell: Cell, masks: dict, crops: dict, sketches: dict) -> dict:
        """The seed profile for one cell, taking masks, crops and forwards from the image's shared caches."""
        from core.pipeline.seed import merge_sketches

        c = cell.config
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
            cropped, skey = self.sketch_input(c, is_inverted, source, mask, crops)
            if skey not in sketches:
                t = time.perf_counter()
                sketches[skey] = self.predict(c["sketch_sha256"], cropped, c["resolution"], c["precision"])
                timings["t_sketch"] += time.perf_counter() - t
            results.append((mask, cropped, sketches[skey]))
        mask, cropped, sketch = results[0]
        if c["merge"]:
            sketch = merge_sketches(sketch, results[1][2])
        return {"mask": mask, "cropped": cropped, "sketch": sketch, "timings": timings}

    def decode(self, cells: list[Cell]) -> tuple:
        """Read one image group's image (and its value-inverted copy when a cell merges).

        Returns ``(image, inverted or None, seconds)``, or ``(None, None, error text)`` when it cannot be read.
        """
        from core.pipeline.images import read_image
        from core.pipeline.seed import invert_value

        t0 = time.perf_counter()
        try:
            img = read_image(cells[0].image.path, self.plan.spec.max_pixels)
            merge = any(c.config["method"] == "checkpoint" and c.config["merge"] for c in cells)
            inverted = invert_value(img) if merge else None
        except ImageReadError as exc:
            return None, None, str(exc)
        except Exception as exc:  # on a decode thread: an unexpected error fails this image's cells only
            return None, None, f"{type(exc).__name__}: {exc}"
        return img, inverted, time.perf_counter() - t0

    def run_window(self, groups: list[list[Cell]], decoded: list[tuple] | None = None) -> None:
        """Compute the cells of several images with batched forwards (the CUDA path).

        Three stages: every Mask Net input of the window, batched; then the crops and
        the Sketch Net inputs (shared by content as on the CPU path), batched; then
        each cell assembled and handed to the writer. A forward that fails (out of
        memory even alone) fails the cells that need it, not the sweep.

        Args:
            decoded: each group's :meth:`decode` result when already read (decode-ahead), else read here.
        """
        from core.pipeline.seed import sketch_to_image

        images = []  # (cells, image, inverted image or None, decode seconds)
        for cells, (img, inverted, seconds) in zip(groups, decoded or [self.decode(g) for g in groups],
                                                   strict=True):
            if img is None:
                for cell in cells:
                    self.check_stop()
                    self.writer.put_failure(cell, seconds)
                    self.tick(cell, error=seconds)
                continue
            images.append((cells, img, inverted, seconds))
        mask_requests: dict = {}  # (image no, Mask Net, inverted, precision) -> (batch key, input)
        for n, (cells, img, inverted, _) in enumerate(images):
            for c in (cell.config for cell in cells):
                if c["method"] == "checkpoint" and c["background"]:
                    for is_inverted in (False, True) if c["merge"] else (False,):
                        mask_requests.setdefault((n, c["mask_sha256"], is_inverted, c["precision"]),
                                                 ((c["mask_sha256"], None, c["precision"]),
                                                  inverted if is_inverted else img))
        masks = self.forward_requests(mask_requests)
        inputs: dict = {}  # cell key -> its (mask key, sketch key, cropped, mask) parts, or the error
        sketch_requests: dict = {}
        for n, (cells, img, inverted, _) in enumerate(images):
            crops: dict = {}
            for cell in cells:
                if cell.config["method"] == "checkpoint":
                    try:
                        inputs[cell.key] = self.sketch_inputs(n, img, inverted, cell, masks, crops, sketch_requests)
                    except Exception as exc:
                        inputs[cell.key] = exc
        sketches = self.forward_requests(sketch_requests,
                                         finish=lambda raw, image: sketch_to_image(raw, image.shape[1], image.shape[0]))
        for cells, img, _, t_decode in images:
            charged: set = set()  # shared forwards are charged to the first cell using them

            def compute(cell: Cell, img=img, charged=charged) -> dict:
                if cell.config["method"] != "checkpoint":
                    return self.run_baseline(img, cell)
                return self.assemble(cell, inputs[cell.key], masks, sketches, charged)

            for cell in cells:
                self.check_stop()
                t_decode = self.emit(cell, img, compute, t_decode, forwards_done=True)

    def sketch_inputs(self, n: int, img, inverted, cell: Cell, masks: dict, crops: dict, requests: dict) -> list:
        """One cell's Sketch Net inputs (plain, and inverted when merging), added to ``requests``."""

        c = cell.config
        parts = []
        for is_inverted, source in [(False, img)] + ([(True, inverted)] if c["merge"] else []):
            mkey, mask = None, None
            if c["background"]:
                mkey = (n, c["mask_sha256"], is_inverted, c["precision"])
                mask = masks[mkey][0]
                if isinstance(mask, BaseException):
                    raise mask
            cropped, skey = self.sketch_input(c, is_inverted, source, mask, crops)
            requests.setdefault(skey, ((c["sketch_sha256"], c["resolution"], c["precision"]), cropped))
            parts.append((mkey, skey, cropped, mask))
        return parts

    @staticmethod
    def sketch_input(c: dict, is_inverted: bool, source, mask, crops: dict) -> tuple:
        """One pass's Sketch Net input (cropped, after gamma) and the key of its forward: ``(cropped, key)``.

        Crops are cheap; the Sketch Net forward is not. The forward is keyed by
        the input's content, so cells whose crops coincide (e.g. soft and hard
        under a mask that is 1 everywhere) share it; ``crops`` keeps the
        image's crops by their settings. ``c`` is the cell's config.
        """
        from core.pipeline.seed import SeedSettings, prepare_sketch_input

        ckey = (c["mask_sha256"], is_inverted, c["precision"], c["mask_mode"], c["softctr"], c["gamma"])
        if ckey not in crops:
            settings = SeedSettings(c["resolution"], c["background"], c["mask_mode"] or "soft",
                                    c["softctr"] if c["softctr"] is not None else 0.5, c["gamma"], c["merge"])
            cropped = prepare_sketch_input(source, mask, settings)
            crops[ckey] = (cropped, hashlib.blake2b(cropped.tobytes(), digest_size=16).digest())
        cropped, digest = crops[ckey]
        return cropped, (c["sketch_sha256"], c["resolution"], c["precision"], cropped.shape, digest)

    def assemble(self, cell: Cell, parts, masks: dict, sketches: dict, charged: set) -> dict:
        """A cell's outputs from the window's batched results (raises the error of a forward it needed)."""
        from core.pipeline.seed import merge_sketches

        if isinstance(parts, BaseException):
            raise parts
        timings = {"t_mask": 0.0, "t_sketch": 0.0}
        results = []
        for mkey, skey, cropped, mask in parts:
            sketch = sketches[skey][0]
            if isinstance(sketch, BaseException):
                raise sketch
            for key, field, table in ((mkey, "t_mask", masks), (skey, "t_sketch", sketches)):
                if key is not None and key not in charged:
                    charged.add(key)
                    timings[field] += table[key][1]
            results.append((mask, cropped, sketch))
        mask, cropped, sketch = results[0]
        if cell.config["merge"]:
            sketch = merge_sketches(sketch, results[1][2])
        return {"mask": mask, "cropped": cropped, "sketch": sketch, "timings": timings}

    def forward_requests(self, requests: dict, finish=None) -> dict:
        """Run requests ``{key: ((sha256, side or None, precision), image)}`` in batches.

        Returns ``{key: (output or the exception that stopped it, seconds charged)}``; ``finish(raw, image)``
        turns a raw network output into the stored form.
        """
        from core.sweeps.batching import group_requests, run_batched

        keys = list(requests)
        results: dict = {}
        for bkey, indices in group_requests([requests[k][0] for k in keys]).items():
            sha, side, precision = bkey
            batch_inputs = [requests[keys[i]][1] for i in indices]
            size = self.batch_sizes.get(bkey) or self.first_batch_size(sha, side, precision)
            started = time.perf_counter()
            try:
                outputs, self.batch_sizes[bkey] = run_batched(
                    lambda chunk: self.forward_batch(sha, side, precision, chunk),  # noqa: B023 (called at once)
                    batch_inputs, size, on_oom=self.release_memory)
            except Exception as exc:
                outputs = [exc] * len(batch_inputs)
            share = (time.perf_counter() - started) / len(batch_inputs)
            for i, out, image in zip(indices, outputs, batch_inputs, strict=True):
                if finish is not None and not isinstance(out, BaseException):
                    out = finish(out, image)
                results[keys[i]] = (out, share)
        return results

    def forward_batch(self, sha: str, side: int | None, precision: str, images: list) -> list[np.ndarray]:
        """One batched forward: Mask Net (side None, 224 px) or Sketch Net at ``side``; raw float outputs."""
        import cv2
        import torch

        from core.models.devices import autocast_dtype
        from core.pipeline.seed import MASK_SIDE

        # As core.pipeline.seed.to_tensor, but the uint8 resize travels (4x fewer bytes, pinned so the copy
        # does not block the host) and is scaled on the device: float32 x / 255 equals the float64 quotient
        # cast to float32 for every uint8 x, so the input is bit for bit the unbatched one.
        side = side or MASK_SIDE
        x = torch.from_numpy(np.stack([cv2.resize(image, (side, side)) for image in images]))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255)  # NCHW view of NHWC memory: already channels_last
        dtype = autocast_dtype(precision)
        ctx = torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            out = self.net(sha)(x)
        return [o.squeeze() for o in out.float().cpu().numpy()]

    def first_batch_size(self, sha: str, side: int | None, precision: str) -> int:
        """The batch size to start a (network, side, precision) group with, from the device's free memory."""
        from core.pipeline.seed import MASK_SIDE
        from core.sweeps.batching import bytes_per_input, choose_batch_size

        free = None
        if self.device.type == "cuda":
            import torch

            free = torch.cuda.mem_get_info(self.device)[0]
        width = getattr(self.plan.checkpoints.get(sha), "width", None) or 1.0
        return choose_batch_size(free, bytes_per_input(side or MASK_SIDE, precision, width))

    def release_memory(self) -> None:
        """After an out-of-memory error: give the allocator's cached blocks back before retrying smaller."""
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

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

    def tick(self, cell: Cell, seconds: float | None = None, error: str | None = None) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress.cell(cell, seconds=seconds, error=error)

"""How fast finished cells are encoded and written: PNG levels and writer pool sizes, measured.

Two measurements behind ``workbench bench --writer``:

* :func:`measure_png_levels` - encode time and size at each zlib level, of
  stored sketches (real photos drawn by the ``xdog`` baseline at the sweep's
  side) and of Sketch Net inputs (the photos themselves), so the levels the
  writer uses (:data:`core.sweeps.outputs.SKETCH_PNG_LEVEL`,
  :data:`~core.sweeps.outputs.CROP_PNG_LEVEL`) are measured choices
  (:func:`choose_png_level`);
* :func:`measure_writer` - cells per second through a
  :class:`core.sweeps.writer.ResultWriter` at each pool size, with the real
  post-processing (gamma, metrics, PNG and WebP encoding, atomic writes).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["choose_png_level", "measure_png_levels", "measure_writer", "run_writer_bench", "sample_outputs"]


def sample_outputs(side: int = 848, count: int = 4) -> list[dict]:
    """Outputs like a checkpoint cell's, from real photos: ``{"image", "mask", "cropped", "sketch"}`` each.

    The sketch is the ``xdog`` baseline's drawing of a scikit-image photo
    whose longer side is scaled to ``side``; generated scenes stand in when
    the photos are not installed.
    """
    import cv2

    from core.data.photos import PHOTO_CATALOGUE, load_photo
    from core.pipeline.baselines import run_baseline
    from core.sweeps.bench import photo_like

    photos = [p for p in (load_photo(photo) for photo in PHOTO_CATALOGUE) if p is not None]
    photos += [photo_like(seed) for seed in range(max(0, count - len(photos)))]
    outputs = []
    for photo in photos[:count]:
        h, w = photo.shape[:2]
        scale = side / max(h, w)
        img = cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
        mask = np.exp(-(((yy / img.shape[0] - 0.5) ** 2) + ((xx / img.shape[1] - 0.5) ** 2)) * 8)  # soft centre
        outputs.append({"image": img, "mask": mask.astype(np.float32), "cropped": img,
                        "sketch": run_baseline("xdog", img)})
    return outputs


def measure_png_levels(sketches: list[np.ndarray], levels=range(10), repeats: int = 5) -> list[dict]:
    """Per zlib level: median encode milliseconds per sketch and mean kilobytes (the pixels never change)."""
    from core.files import encode_png

    rows = []
    for level in levels:
        times, sizes = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            sizes = [len(encode_png(sketch, level)) for sketch in sketches]
            times.append((time.perf_counter() - started) / len(sketches))
        rows.append({"level": int(level), "encode_ms": round(1000 * statistics.median(times), 2),
                     "kb": round(float(np.mean(sizes)) / 1024, 1)})
    return rows


def choose_png_level(rows: list[dict], within: float = 0.10) -> int:
    """The lowest compressing level whose files are within ``within`` of the smallest any level makes.

    Every level up costs encode time on every cell; past this knee it buys
    less than ``within`` of the bytes. Level 0 (stored, several times the
    bytes) is never chosen. The choice depends on sizes only, so it is the
    same on every machine; the times show what it costs.
    """
    compressing = [r for r in rows if r["level"] > 0]
    smallest = min(r["kb"] for r in compressing)
    return min(r["level"] for r in compressing if r["kb"] <= (1 + within) * smallest)


def measure_writer(outputs: list[dict], threads=(1, 2, 4), cells: int = 32) -> list[dict]:
    """Cells per second through a :class:`ResultWriter` at each pool size (median of 3 runs each).

    Each cell is a checkpoint cell with a mask, a crop and a sketch of one of
    ``outputs``, written under a temporary folder and recorded in a sink
    instead of a store, so only post-processing and file writing are timed.
    """
    from core.sweeps.cell import Cell, ImageItem
    from core.sweeps.ray_worker import ResultSink
    from core.sweeps.writer import ResultWriter

    rows = []
    for n in threads:
        rates = []
        for run in range(3):
            with tempfile.TemporaryDirectory(prefix="writer-bench-") as tmp:
                writer = ResultWriter(ResultSink(Path(tmp)), 0, "cpu", threads=n)
                started = time.perf_counter()
                for i in range(cells):
                    out = outputs[i % len(outputs)]
                    image = ImageItem(Path(tmp) / f"{i}.png", f"{i}.png", "bench", f"{run}-{n}-{i:060d}", 0)
                    config = {"method": "checkpoint", "mask_sha256": f"{i:064d}", "sketch_sha256": "0" * 64,
                              "precision": "fp32", "vectorize": False}
                    writer.put(Cell(f"{run}{n}{i:062d}", image, config), out["image"],
                               {"mask": out["mask"], "cropped": out["cropped"], "sketch": out["sketch"],
                                "timings": {}})
                writer.close()
                rates.append(cells / (time.perf_counter() - started))
        rows.append({"threads": int(n), "cells_per_s": round(statistics.median(rates), 1)})
    return rows


def run_writer_bench(side: int = 848, images: int = 4, cells: int = 32) -> dict:
    """Everything ``workbench bench --writer`` reports: PNG levels of drawings and photos, writer cells/s.

    Pool sizes run from 1 to :data:`core.sweeps.writer.MAX_WRITER_THREADS`
    (and no more than this machine's cores, plus 1 to show the plateau).
    """
    from core.sweeps.writer import MAX_WRITER_THREADS

    outputs = sample_outputs(side, images)
    png = {"sketch": measure_png_levels([o["sketch"] for o in outputs]),
           "crop": measure_png_levels([o["cropped"] for o in outputs], repeats=3)}
    cpus = os.cpu_count() or 1
    threads = sorted({1, 2, min(MAX_WRITER_THREADS, cpus), min(MAX_WRITER_THREADS, cpus + 1)})
    return {"side": side, "images": len(outputs), "cpus": cpus, "png": png,
            "chosen": {kind: choose_png_level(rows) for kind, rows in png.items()},
            "writer_cells": cells, "writer": measure_writer(outputs, tuple(threads), cells)}

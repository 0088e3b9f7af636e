"""Build the benchmark store: baseline sweeps over many small generated images (>= 30,000 cells by default).

    .venv/bin/python scripts/build_bench_store.py [--out runs/bench] [--images 10000]

Writes ``--images`` generated photos (48-96 px: gradients, discs, boxes and
lines from a seeded generator) under ``<out>/images`` and runs one sweep of
the three classical baselines (canny, xdog, pencil) over them into
``<out>/store/workbench.db``: ``3 x images`` cells, no network needed. Takes
a few minutes (about 5 on two cores for 10,000 images); a store already
holding the cells is reused (the sweep is cached). Prints one JSON line.
``scripts/bench_ui.py`` times the Compare page on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.files import encode_png, write_atomic  # noqa: E402

BASELINES = ["canny", "xdog", "pencil"]


def generated_photo(seed: int) -> np.ndarray:
    """A small RGB picture with edges to draw: a gradient, a few discs and boxes, a line or two."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(48, 97, size=2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = rng.uniform(40, 215, size=(2, 3))
    img = top + (bottom - top) * (yy / max(h - 1, 1))[..., None]
    for _ in range(int(rng.integers(2, 6))):
        colour = rng.uniform(0, 255, size=3)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(4, min(h, w) / 2.5)
        if rng.random() < 0.5:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            inside = (np.abs(yy - cy) <= r * rng.uniform(0.4, 1)) & (np.abs(xx - cx) <= r)
        img[inside] = colour
    for _ in range(int(rng.integers(0, 3))):
        y0, y1 = rng.integers(0, h, size=2)
        for x in range(w):
            y = int(y0 + (y1 - y0) * x / max(w - 1, 1))
            img[max(0, y - 1):y + 1, x] = rng.uniform(0, 60)
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_images(folder: Path, count: int) -> Path:
    """``count`` generated photos as ``bench_00000.png`` ... under ``folder`` (those already there are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"bench_{i:05d}.png"
        if not path.exists():
            write_atomic(path, encode_png(generated_photo(i)))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench", help="folder (default runs/bench)")
    parser.add_argument("--images", type=int, default=10_000, help="generated images (default 10000: 30000 cells)")
    args = parser.parse_args(argv)

    from core.sweeps.run import run_sweep
    from core.sweeps.spec import SweepSpec

    started = time.perf_counter()
    images = write_images(args.out / "images", args.images)
    wrote = time.perf_counter() - started
    db = args.out / "store" / "workbench.db"
    spec = SweepSpec(images=[str(images)], baselines=BASELINES, device="cpu", name=f"bench {args.images}")
    summary = run_sweep(spec, db, progress=sys.stderr.isatty())
    print(json.dumps({"db": str(db), "cells": summary.cells, "computed": summary.computed, "cached": summary.cached,
                      "failed": summary.failed, "status": summary.status, "images_seconds": round(wrote, 1),
                      "sweep_seconds": summary.seconds}))
    return 0 if summary.status == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())

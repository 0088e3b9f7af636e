"""``workbench bench``: the same cells computed three ways, timed in one run.

(a) naive — as the original project worked: one fresh process per
configuration that loads its models (plain eager modules) and processes the
images one by one; (b) the engine — ``workbench sweep`` in a fresh process,
start-up included; (c) the networks' plain eager forward calls alone, models
preloaded, outputs discarded. The default workload uses seed-architecture
checkpoints at width 1.0 with random weights (two Mask Net v2, two deep
Sketch Nets), four generated photo-like images, resolution 424, soft and
hard: 32 cells.

Run as ``python -m core.sweeps.bench naive CONFIG_JSON`` it is the naive worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Workload:
    """Files of a bench run: checkpoints, images and the axes."""

    root: Path
    images: Path
    masks: list[Path]
    sketches: list[Path]
    resolution: int
    modes: list[str]

    @property
    def configs(self) -> list[dict]:
        """Every (mask, sketch, mode) configuration of the workload, at its resolution."""
        return [
            {"mask": str(m), "sketch": str(s), "mode": mode, "side": self.resolution}
            for m in self.masks
            for s in self.sketches
            for mode in self.modes
        ]


def photo_like(seed: int, h: int = 384, w: int = 512) -> np.ndarray:
    """A smooth random scene with a centred object: uint8 RGB ``h x w x 3``."""
    import cv2

    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 6, (h, w, 3))
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    axes = (int(w * rng.uniform(0.15, 0.3)), int(h * rng.uniform(0.15, 0.3)))
    cv2.ellipse(img, (w // 2, h // 2), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return img


def make_workload(root: Path, images: int = 4, resolution: int = 424, width: float = 1.0) -> Workload:
    """Write random-weight seed-format checkpoints and generated images under ``root``."""
    import cv2
    import torch

    from core.models.networks import build_network

    root.mkdir(parents=True, exist_ok=True)
    folder = root / "images"
    folder.mkdir(exist_ok=True)
    for i in range(images):
        cv2.imwrite(str(folder / f"photo{i}.png"), cv2.cvtColor(photo_like(i), cv2.COLOR_RGB2BGR))
    paths = {"mask": [], "sketch": []}
    for role, arch in (("mask", "masknet_v2"), ("sketch", "sketchnet_deep")):
        for i in range(2):
            torch.manual_seed(100 * i + len(arch))
            net = build_network(arch, width)
            _randomise_batchnorm(net)
            path = root / f"{arch}_{i}.pth"
            torch.save(net.state_dict(), path)
            paths[role].append(path)
    return Workload(root, folder, paths["mask"], paths["sketch"], resolution, ["soft", "hard"])


def _randomise_batchnorm(net) -> None:
    """Give BatchNorm layers non-trivial statistics so outputs are not flat."""
    import torch

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.05, 0.05)


def naive_worker(config: dict) -> None:
    """One configuration the original way: load eager models, then image by image, sketch written as PNG."""
    import cv2

    from core.models.checkpoints import load_checkpoint
    from core.pipeline.images import list_images, read_image
    from core.pipeline.seed import SeedSettings, run_seed

    mask_net = load_checkpoint(config["mask"]).build()
    sketch_net = load_checkpoint(config["sketch"]).build()
    settings = SeedSettings(side=config["side"], mask_mode=config["mode"], softctr=0.5)
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    for path in list_images(config["images"]):
        result = run_seed(read_image(path), settings, sketch_net, mask_net)
        cv2.imwrite(str(out / path.name), result.sketch)


def time_naive(work: Workload) -> tuple[float, dict]:
    """Run every configuration in its own process; return seconds and output folders by config."""
    outputs = {}
    started = time.perf_counter()
    for i, config in enumerate(work.configs):
        config = dict(config, images=str(work.images), out=str(work.root / "naive" / str(i)))
        subprocess.run([sys.executable, "-m", "core.sweeps.bench", "naive", json.dumps(config)], check=True)
        outputs[(config["mask"], config["sketch"], config["mode"])] = Path(config["out"])
    return time.perf_counter() - started, outputs


def time_engine(work: Workload, device: str) -> tuple[float, dict]:
    """Run the sweep in a fresh ``workbench sweep`` process; return seconds and its JSON summary."""
    db = work.root / "engine" / "bench.db"
    cmd = [sys.executable, "-m", "core.cli.main", "sweep", "--images", str(work.images),
           "--mask-checkpoint", *map(str, work.masks), "--sketch-checkpoint", *map(str, work.sketches),
           "--resolution", str(work.resolution), "--mask-mode", *work.modes, "--softctr", "0.5",
           "--device", device, "--db", str(db), "--json", "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def time_forward(work: Workload, device: str) -> float:
    """Eager forward calls only (models preloaded, outputs discarded): one Mask Net and one Sketch Net per cell."""
    import torch

    from core.models.checkpoints import load_checkpoint
    from core.models.devices import resolve_device
    from core.pipeline.images import list_images, read_image
    from core.pipeline.seed import MASK_SIDE, to_tensor

    dev = resolve_device(device)
    nets = {str(p): load_checkpoint(p).build(dev) for p in work.masks + work.sketches}
    images = [read_image(p) for p in list_images(work.images)]
    inputs = [(to_tensor(img, MASK_SIDE).to(dev), to_tensor(img, work.resolution).to(dev)) for img in images]
    total = 0.0
    with torch.inference_mode():
        for config in work.configs:
            for mask_in, sketch_in in inputs:
                t = time.perf_counter()
                nets[config["mask"]](mask_in)
                nets[config["sketch"]](sketch_in)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                total += time.perf_counter() - t
    return total


def max_pixel_diff(work: Workload, naive_outputs: dict, engine: dict) -> int:
    """Largest absolute difference between the engine's and the naive sketches, over all cells."""
    import cv2

    from core.files import sha256_file
    from core.store.store import Store

    sha = {str(p): sha256_file(p) for p in work.masks + work.sketches}
    worst = 0
    with Store(work.root / "engine" / "bench.db") as store:
        rows = store.results(engine["sweep_id"])
        for (mask, sketch, mode), folder in naive_outputs.items():
            for row in rows:
                if (row["mask_sha256"], row["sketch_sha256"], row["mask_mode"]) != (sha[mask], sha[sketch], mode):
                    continue
                a = cv2.imread(str(store.absolute(row["sketch_path"])), cv2.IMREAD_GRAYSCALE)
                b = cv2.imread(str(folder / row["image_name"]), cv2.IMREAD_GRAYSCALE)
                worst = max(worst, int(np.abs(a.astype(int) - b.astype(int)).max()))
    return worst


def run_bench(images: int = 4, resolution: int = 424, device: str = "cpu", width: float = 1.0,
              root: Path | None = None) -> dict:
    """Measure naive, engine and forward-only times on one workload; return the figures."""
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        work = make_workload(Path(root or tmp), images, resolution, width)
        naive_s, naive_outputs = time_naive(work)
        engine_s, summary = time_engine(work, device)
        forward_s = time_forward(work, device)
        diff = max_pixel_diff(work, naive_outputs, summary)
    return {
        "cells": summary["cells"],
        "device": summary["device"],
        "naive_s": round(naive_s, 2),
        "engine_s": round(engine_s, 2),
        "forward_s": round(forward_s, 2),
        "speedup_vs_naive": round(naive_s / engine_s, 2),
        "engine_over_forward": round(engine_s / forward_s, 2),
        "max_pixel_diff": diff,
        "computed": summary["computed"],
        "threads": _threads(),
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "naive":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    naive_worker(json.loads(sys.argv[2]))

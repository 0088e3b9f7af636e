"""``workbench bench``: the same cells computed three ways, timed in one run.

(a) naive — as the original project worked: one fresh process per
configuration that loads its models (plain eager modules) and processes the
images one by one; (b) the engine — ``workbench sweep`` in a fresh process,
start-up included; (c) the networks' plain eager forward calls alone, models
preloaded, outputs discarded. The default workload uses seed-architecture
checkpoints at width 1.0 with random weights (two Mask Net v2, two deep
Sketch Nets), four generated photo-like images, resolution 424, soft and
hard: 32 cells.

On CUDA (:func:`run_cuda_bench`) the question is another one — does the
engine keep the GPU busy? — so it measures, per side and precision, the
engine's images/s against the device's network-only forward throughput
(the same optimised Sketch Net on inputs already on the GPU), the writer's
cells/s, and each precision's fidelity against the CPU's fp32 sketches.
:func:`self_test` is ``workbench doctor``'s short check of every device.

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


def make_workload(root: Path, images: int = 4, resolution: int = 424, width: float = 1.0, per_role: int = 2,
                  size: tuple[int, int] = (384, 512)) -> Workload:
    """Write random-weight seed-format checkpoints (``per_role`` of each role) and generated ``h x w`` images."""
    import cv2
    import torch

    from core.models.networks import build_network

    root.mkdir(parents=True, exist_ok=True)
    folder = root / "images"
    folder.mkdir(exist_ok=True)
    for i in range(images):
        cv2.imwrite(str(folder / f"photo{i}.png"), cv2.cvtColor(photo_like(i, *size), cv2.COLOR_RGB2BGR))
    paths = {"mask": [], "sketch": []}
    for role, arch in (("mask", "masknet_v2"), ("sketch", "sketchnet_deep")):
        for i in range(per_role):
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


def check_bench_device(device: str, precisions: list[str] | None = None):
    """The torch device a bench runs on; a DeviceError (one line) when it or a precision cannot run here.

    fp16 and bf16 are CUDA bench figures: asked for on a machine without a GPU, they are refused up front.
    """
    from core.errors import DeviceError
    from core.models.devices import check_precision, resolve_device

    dev = resolve_device(device)
    for precision in precisions or []:
        if precision in ("fp16", "bf16") and dev.type != "cuda":
            raise DeviceError(f"bench --precision {precision} times the CUDA path and needs a CUDA device "
                              f"(this run is on {dev}); use --device cuda on a machine with a GPU")
        check_precision(precision, dev)
    return dev


def within_levels(a: np.ndarray, b: np.ndarray, levels: int = 2) -> float:
    """Share of pixels of two uint8 images whose grey levels differ by at most ``levels``."""
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)) <= levels).mean())


def sweep_sketches(images: Path, sketches: list[Path], masks: list[Path | None], side: int, precision: str,
                   device: str, db: Path, modes=("soft",)) -> tuple[float, dict, dict]:
    """Run one in-process sweep; return its seconds, {(image sha, mask sha, mode): sketch} and the store rows."""
    import cv2

    from core.store.store import Store
    from core.sweeps.run import run_sweep
    from core.sweeps.spec import SweepSpec

    spec = SweepSpec(images=[str(images)], sketch_checkpoints=[str(p) for p in sketches],
                     mask_checkpoints=[None if m is None else str(m) for m in masks], resolutions=[side],
                     mask_modes=list(modes), precisions=[precision], device=device, name="bench")
    started = time.perf_counter()
    summary = run_sweep(spec, db, progress=False)
    seconds = time.perf_counter() - started
    with Store(db, readonly=True) as store:
        rows = store.results(summary.sweep_id)
        out = {(r["image_sha256"], r["mask_sha256"], r["mask_mode"]):
               cv2.imread(str(store.absolute(r["sketch_path"])), cv2.IMREAD_GRAYSCALE)
               for r in rows if r["status"] == "done"}
    return seconds, out, {"rows": rows, "failed": summary.failed}


def fidelity(got: dict, reference: dict) -> float | None:
    """Worst share of pixels within 2 grey levels over the cells both runs computed (None when none)."""
    shares = [within_levels(got[k], reference[k]) for k in got if k in reference]
    return round(min(shares), 5) if shares else None


def forward_throughput(sketch: Path, side: int, precision: str, device, seconds: float = 2.0) -> tuple[float, int]:
    """The device's network-only forward: the optimised Sketch Net on random inputs already on the device.

    Returns images/s and the batch size used (chosen from free memory as the engine does).
    """
    import contextlib

    import torch

    from core.models.checkpoints import load_checkpoint
    from core.models.devices import autocast_dtype
    from core.models.inference import optimize_for_inference, prepare_device
    from core.sweeps.batching import bytes_per_input, choose_batch_size

    prepare_device(device)
    net = optimize_for_inference(load_checkpoint(sketch).build(), device)
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    batch = min(16, choose_batch_size(free, bytes_per_input(side, precision)))
    x = torch.rand(batch, 3, side, side, device=device)
    dtype = autocast_dtype(precision)
    ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *a: None)
    done = 0
    with torch.inference_mode(), ctx:
        for _ in range(2):  # warm-up: cuDNN autotuning for this shape
            net(x)
        sync(device)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            net(x)
            sync(device)
            done += batch
        elapsed = time.perf_counter() - started
    return done / elapsed, batch


def run_cuda_bench(device: str = "cuda", precisions: list[str] | None = None, sides=(424, 848, 1272),
                   images: int = 16, width: float = 1.0, root: Path | None = None) -> dict:
    """CUDA figures per side and precision: engine and forward images/s, engine share, writer cells/s, fidelity.

    The engine sweeps ``images`` generated photos (one deep Sketch Net, no mask) in this process, once to
    warm up and once timed; fidelity compares two of the images with the CPU's fp32 sketches.
    """
    from core.models.devices import supported_precisions

    dev = check_bench_device(device, precisions)
    if dev.type != "cuda":
        from core.errors import DeviceError

        raise DeviceError(f"the CUDA bench needs a CUDA device, not {dev}; run workbench bench without --device")
    precisions = precisions or supported_precisions(dev)
    with tempfile.TemporaryDirectory(prefix="workbench-gpu-bench-") as tmp:
        work = make_workload(Path(root or tmp), images, sides[0], width)
        fid = work.root / "fidelity"
        fid.mkdir()
        for path in sorted(work.images.iterdir())[:2]:
            (fid / path.name).write_bytes(path.read_bytes())
        sketch, rows = work.sketches[0], []
        for side in sides:
            _, cpu, _ = sweep_sketches(fid, [sketch], [None], side, "fp32", "cpu", work.root / f"cpu{side}" / "w.db")
            for precision in precisions:
                tag, run = f"{side}-{precision}", (side, precision, str(dev))
                _, got, _ = sweep_sketches(fid, [sketch], [None], *run, work.root / f"f{tag}" / "w.db")
                sweep_sketches(work.images, [sketch], [None], *run, work.root / f"w{tag}" / "w.db")  # warm-up
                seconds, _, info = sweep_sketches(work.images, [sketch], [None], *run, work.root / f"t{tag}" / "w.db")
                forward, batch = forward_throughput(sketch, side, precision, dev)
                post = sum(r["t_post"] or 0.0 for r in info["rows"])
                engine = len(info["rows"]) / seconds
                rows.append({"side": side, "precision": precision, "batch": batch, "failed": info["failed"],
                             "engine_images_per_s": round(engine, 2), "forward_images_per_s": round(forward, 2),
                             "engine_share": round(engine / forward, 3),
                             "writer_cells_per_s": round(len(info["rows"]) / post, 2) if post else None,
                             "within_2_vs_cpu_fp32": fidelity(got, cpu)})
    from core.provenance import environment_provenance

    env = environment_provenance(dev)
    return {"device": str(dev), "device_name": env["device_name"], "torch": env["torch"], "cuda": env["cuda"],
            "cudnn": env["cudnn"], "images": images, "image_size": [384, 512], "width": width, "rows": rows}


def self_test(devices: list[str], side: int = 256, width: float = 0.125) -> list[dict]:
    """``workbench doctor``'s check: a tiny sweep on each device, compared with the CPU's fp32 result.

    Two generated images, one Mask Net and one Sketch Net (random weights at ``width``), soft and hard
    masks. The CPU's run is also compared with the original eager pipeline (it must match exactly).
    Returns one entry per (device, precision): cells, failed, seconds, ``within_2`` (share of pixels within
    2 grey levels of the CPU fp32 sketches) and ``ok``.
    """
    from core.models.devices import resolve_device, supported_precisions

    results = []
    with tempfile.TemporaryDirectory(prefix="workbench-doctor-") as tmp:
        work = make_workload(Path(tmp), 2, side, width, per_role=1, size=(192, 256))
        args = (work.images, work.sketches, work.masks, side)
        seconds, cpu, info = sweep_sketches(*args, "fp32", "cpu", work.root / "cpu" / "w.db", modes=work.modes)
        naive = naive_sketches(work, cpu)
        exact = all(np.array_equal(cpu[k], v) for k, v in naive.items()) and len(naive) == len(cpu)
        results.append({"device": "cpu", "precision": "fp32", "cells": len(info["rows"]), "failed": info["failed"],
                        "seconds": round(seconds, 2), "within_2": fidelity(cpu, naive), "identical": exact,
                        "ok": exact and info["failed"] == 0})
        for name in devices:
            dev = resolve_device(name)
            for precision in supported_precisions(dev):
                tag = f"{name.replace(':', '')}-{precision}"
                seconds, got, info = sweep_sketches(*args, precision, str(dev), work.root / tag / "w.db",
                                                    modes=work.modes)
                share = fidelity(got, cpu)
                # fp32 must match the CPU; half precisions move pixels by design (bf16 many, by a few grey
                # levels): their share is reported, and they pass when every cell computed.
                needed = 0.999 if precision == "fp32" else 0.0
                results.append({"device": str(dev), "precision": precision, "cells": len(info["rows"]),
                                "failed": info["failed"], "seconds": round(seconds, 2), "within_2": share,
                                "ok": info["failed"] == 0 and share is not None and share >= needed})
    return results


def naive_sketches(work: Workload, like: dict) -> dict:
    """The original eager pipeline's sketches of the workload, keyed like :func:`sweep_sketches`'s."""
    from core.files import sha256_file
    from core.models.checkpoints import load_checkpoint
    from core.pipeline.images import list_images, read_image
    from core.pipeline.seed import SeedSettings, run_seed

    sketch = load_checkpoint(work.sketches[0]).build()
    out = {}
    for mask_path in work.masks:
        mask_net, mask_sha = load_checkpoint(mask_path).build(), sha256_file(mask_path)
        for path in list_images(work.images):
            image_sha = sha256_file(path)
            for mode in work.modes:
                settings = SeedSettings(side=work.resolution, mask_mode=mode, softctr=0.5)
                out[(image_sha, mask_sha, mode)] = run_seed(read_image(path), settings, sketch, mask_net).sketch
    return out


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "naive":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    naive_worker(json.loads(sys.argv[2]))

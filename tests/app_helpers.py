"""Helpers for the app tests: tiny checkpoints, generated photos, a store filled by a real sweep, AppTest.

Plain functions; the fixtures built on them are in ``tests/app_fixtures.py``
(registered with ``pytest_plugins`` in each app test module, since
``tests/conftest.py`` belongs to another part of the suite).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TINY_WIDTH = 1 / 16
# The tiny nets are seeded-random; this gain gives sketches with visible structure rather
# than flat grey (default init gives near-constant outputs).
GAIN = {"sketchnet_deep": 2.15, "sketchnet_shallow": 2.0, "masknet_v1": 1.0, "masknet_v2": 1.0}


def tiny_net(arch: str, seed: int = 0, width: float = TINY_WIDTH, gain: float | None = None):
    """A seeded random network of ``arch`` (weights scaled by fan-in, varied batch-norm statistics)."""
    import torch

    from core.models.networks import build_network

    net = build_network(arch, width)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict(keep_vars=True).items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.dim() == 1 and name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 + 0.8)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.05)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * (gain or GAIN[arch]) / np.sqrt(t[0].numel()))
    return net.eval()


def make_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB test photo: a light textured background with a coloured object in the middle."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.float64)
    img[..., 0] = 190 + 40 * xx / max(w - 1, 1)
    img[..., 1] = 200 - 30 * yy / max(h - 1, 1)
    img[..., 2] = 210
    img += rng.normal(0, 6, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(20, 160, 3))
    cv2.ellipse(img, (w // 2, h // 2), (max(w // 4, 2), max(h // 3, 2)), 15, 0, 360, colour, -1)
    cv2.rectangle(img, (w // 3, h // 2), (w // 2, h // 2 + max(h // 6, 1)), (250, 240, 30), -1)
    return img


def write_png(path: Path, img: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def png_bytes(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def make_weights(folder: Path) -> dict[str, Path]:
    """Tiny checkpoints in ``folder``: one Sketch Net and two Mask Nets (stage1 and stage2 by name and metadata)."""
    from core.models.checkpoints import save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    return {
        "sketch": save_checkpoint(tiny_net("sketchnet_deep", 1), folder / "G_tiny.safetensors", "sketchnet_deep",
                                  {"trained_on": "tiny"}),
        "stage1": save_checkpoint(tiny_net("masknet_v2", 2), folder / "MaskNet_v2_stage1.safetensors",
                                  "masknet_v2", {"stage": "1"}),
        "stage2": save_checkpoint(tiny_net("masknet_v2", 3), folder / "MaskNet_v2_stage2.safetensors",
                                  "masknet_v2", {"stage": "2"}),
    }


def make_test_set(folder: Path, sizes=((64, 80), (96, 72), (80, 96))) -> Path:
    """A folder of generated photos, 64-96 px."""
    for i, (h, w) in enumerate(sizes):
        write_png(folder / f"photo{i}.png", make_photo(h, w, seed=i))
    return folder


@dataclass
class SweptStore:
    """A store folder filled by a real sweep, and what went into it."""

    root: Path  # the DB's folder
    db: Path
    images: Path  # the test set folder
    weights: Path
    checkpoints: dict
    sweep_id: int
    cells: int

    def copy_to(self, dest: Path) -> "SweptStore":
        """A private copy of the store folder (outputs included) and of the weights, for a test that writes.

        The weights land in ``weights/`` beside ``dest``; the same bytes give the same checkpoint labels.
        """
        shutil.copytree(self.root, dest)
        weights = dest.parent / "weights"
        shutil.copytree(self.weights, weights)
        ckpts = {k: weights / p.name for k, p in self.checkpoints.items()}
        return SweptStore(dest, dest / self.db.name, self.images, weights, ckpts, self.sweep_id, self.cells)


def small_spec(images: Path, ckpts: dict, **extra):
    """The sweep the app tests browse: resolutions 64/128, soft/hard on two Mask Nets, plus canny."""
    from core.sweeps.spec import SweepSpec

    fields = dict(
        images=[str(images)],
        sketch_checkpoints=[str(ckpts["sketch"])],
        mask_checkpoints=[str(ckpts["stage1"]), str(ckpts["stage2"])],
        baselines=["canny"],
        resolutions=[64, 128],
        mask_modes=["soft", "hard"],
        device="cpu",
        name="small",
    )
    fields.update(extra)
    return SweepSpec(**fields)


def fill_store(base: Path) -> SweptStore:
    """Build weights, a test set and a store under ``base`` and run the small sweep into it."""
    weights = base / "weights"
    ckpts = make_weights(weights)
    images = make_test_set(base / "testsets" / "tiny")
    root = base / "store"
    root.mkdir(parents=True)
    db = root / "workbench.db"
    summary = run_sweep_quietly(small_spec(images, ckpts), db)
    assert summary.status == "done" and summary.failed == 0, summary
    _checkpoint_wal(db)
    return SweptStore(root, db, images, weights, ckpts, summary.sweep_id, summary.cells)


def run_sweep_quietly(spec, db: Path):
    """``run_sweep`` on one thread: on a busy 2-core machine more threads only fight (5x slower seen)."""
    import torch

    from core.sweeps.run import run_sweep

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_sweep(spec, db, progress=False)
    finally:
        torch.set_num_threads(previous)


def _checkpoint_wal(db: Path) -> None:
    """Fold the WAL into the main file so a plain folder copy carries every row."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def app_test(page: str | None = None, timeout: float = 60):
    """An AppTest of the router, switched to ``page`` (e.g. ``"workbench/pages/sweeps.py"``) after a first run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def assert_no_exception(at) -> None:
    """Fail with the exception text when a Streamlit run raised."""
    if len(at.exception):
        pytest.fail("app raised: " + "\n".join(e.value for e in at.exception))


def worker_env() -> dict[str, str]:
    """Environment for worker subprocesses started by tests (one thread each: see run_sweep_quietly)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    return env

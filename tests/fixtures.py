"""Builders for the whole test suite: tiny networks, generated photos, malicious pickles, swept stores, AppTest.

Plain functions that test modules import by name (``from tests.fixtures import ...``);
``tests/conftest.py`` turns the shared, costly ones into pytest fixtures. Heavy
libraries (torch, cv2, streamlit) are imported inside the functions, so
collecting a test module stays cheap.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import os
import pickle
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = REPO_ROOT.parent / "shared" / "seed"
CLI = [sys.executable, "-m", "core.cli.main"]

# --------------------------------------------------------------------------- tiny networks

ARCHS = ("sketchnet_deep", "sketchnet_shallow", "masknet_v1", "masknet_v2")
TINY_WIDTH = 1 / 8
SWEEP_WIDTH = 1 / 16  # the networks that sweeps run: whole sweeps stay quick
# Weight scale per architecture for the tiny random nets: large enough that sketches are
# not flat grey and masks spread across the usual softctr values (checked where it matters).
TINY_GAIN = {"sketchnet_deep": 2.15, "sketchnet_shallow": 2.0, "masknet_v1": 1.0, "masknet_v2": 1.0}
# The original project's file names, as the `pipeline` command looks them up in weights/:
# (architecture, width, seed). The Sketch Nets run at 424-600 px in CLI tests, hence 1/16.
SEED_FILE_NAMES = {
    "G_net.pth": ("sketchnet_deep", 1 / 16, 1),
    "G_net_x600.pth": ("sketchnet_deep", 1 / 16, 2),
    "MaskNet_v2_stage1.pth": ("masknet_v2", TINY_WIDTH, 3),
    "MaskNet_500epoch.pth": ("masknet_v1", TINY_WIDTH, 4),
}


def randomize(net, seed: int = 0, gain: float = 1.0):
    """Fill a network's parameters and batch-norm statistics with seeded random values, in place.

    Default initialisation gives near-constant outputs (BN stats 0/1); the seed
    checkpoints' recipe (normal weights scaled by fan-in, varied BN stats) gives
    outputs with visible structure, which the pipeline tests need.
    """
    import torch

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
                t.copy_(torch.randn(t.shape, generator=gen) * gain / np.sqrt(t[0].numel()))
    return net.eval()


def tiny_net(arch: str, width: float = TINY_WIDTH, seed: int = 0):
    """A fresh seeded random network of ``arch`` at a small width, in eval mode."""
    from core.models.networks import build_network

    return randomize(build_network(arch, width), seed, TINY_GAIN[arch])


def save_tiny(path: Path, arch: str, seed: int, metadata: dict | None = None, width: float = SWEEP_WIDTH) -> Path:
    """A tiny network of ``arch`` saved as safetensors by save_checkpoint (``{"step": seed}`` unless told)."""
    from core.models.checkpoints import save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(tiny_net(arch, width, seed), path, arch, metadata or {"step": seed})


def sweep_weights(folder: Path) -> dict[str, Path]:
    """Two tiny Mask Net v2 (stage1, stage2), one Mask Net v1 and two deep Sketch Nets."""
    return {
        "mask_a": save_tiny(folder / "MaskNet_v2_stage1.safetensors", "masknet_v2", 1, {"stage": "stage1"}),
        "mask_b": save_tiny(folder / "MaskNet_v2_stage2.safetensors", "masknet_v2", 2, {"stage": "stage2"}),
        "mask_v1": save_tiny(folder / "MaskNet_v1.safetensors", "masknet_v1", 3),
        "sketch_a": save_tiny(folder / "G_net_a.safetensors", "sketchnet_deep", 4),
        "sketch_b": save_tiny(folder / "G_net_b.safetensors", "sketchnet_deep", 5),
    }


def app_weights(folder: Path) -> dict[str, Path]:
    """The app tests' checkpoints: one Sketch Net and two Mask Nets (stage1 and stage2 by name and metadata)."""
    return {
        "sketch": save_tiny(folder / "G_tiny.safetensors", "sketchnet_deep", 1, {"trained_on": "tiny"}),
        "stage1": save_tiny(folder / "MaskNet_v2_stage1.safetensors", "masknet_v2", 2, {"stage": "1"}),
        "stage2": save_tiny(folder / "MaskNet_v2_stage2.safetensors", "masknet_v2", 3, {"stage": "2"}),
    }


# --------------------------------------------------------------------------- generated images


def make_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB test photo: a light, textured background with a coloured object in the middle."""
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


def make_scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A uint8 RGB smooth random-colour scene with a centred ellipse (no noise: a clean input for sweeps)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (4, 5, 3)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.ellipse(img, (w // 2, h // 2), (w // 5, h // 4), 0, 0, 360, tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    return img


def encode_image(img: np.ndarray, suffix: str = ".png") -> bytes:
    """The file bytes of an RGB (or grey) uint8 image in the format ``suffix`` names."""
    import cv2

    ok, buf = cv2.imencode(suffix, cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
    assert ok, f"cv2 cannot encode {suffix}"
    return buf.tobytes()


def png_bytes(img: np.ndarray) -> bytes:
    """An RGB (or grey) uint8 image as PNG bytes."""
    return encode_image(img, ".png")


def write_image(path: Path, img: np.ndarray) -> Path:
    """Write an RGB (or grey) uint8 image in the format its suffix names, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_image(img, path.suffix))
    return path


def write_scene(path: Path, seed: int, h: int = 72, w: int = 96) -> Path:
    """Write ``make_scene(h, w, seed)`` to ``path``."""
    return write_image(path, make_scene(h, w, seed))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- malicious pickles


class RunsShell:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.target)}",)


class OpensFile:
    """Unpickling this calls ``builtins.open(target, "w")``, which creates the file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return builtins.open, (self.target, "w")


MALICIOUS_KINDS = ["system-torch-save", "open-torch-save", "system-raw", "open-raw"]


def malicious_bytes(kind: str, target, net=None, protocol: int = 2) -> bytes:
    """A pickle that creates ``target`` when unpickled; ``kind`` is one of MALICIOUS_KINDS.

    ``system-*`` runs a shell command, ``open-*`` calls ``builtins.open``. ``*-torch-save`` is the
    zip format torch.save writes, with ``net``'s real state_dict beside the payload; ``*-raw`` is a
    legacy raw pickle of the payload alone, in pickle ``protocol``.
    """
    payload = (RunsShell if kind.startswith("system") else OpensFile)(target)
    if kind.endswith("torch-save"):
        import torch

        buffer = io.BytesIO()
        torch.save({"state_dict": net.state_dict(), "extra": payload}, buffer)
        return buffer.getvalue()
    return pickle.dumps(payload, protocol=protocol)


def write_malicious(path: Path, kind: str, target, net=None, protocol: int = 2) -> Path:
    """``malicious_bytes`` written to ``path``."""
    path.write_bytes(malicious_bytes(kind, target, net, protocol))
    return path


# --------------------------------------------------------------------------- subprocesses and waiting


def worker_env(*, one_thread: bool = True, **variables: str) -> dict[str, str]:
    """Environment for subprocesses started by tests: the repository importable, no torch load overrides.

    ``one_thread`` sets OMP_NUM_THREADS=1 (see run_sweep_quietly); ``variables`` are set on top.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    env.update(variables)
    return env


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m core.cli.main ARGS`` in the repository and capture its output."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*CLI, *args], cwd=REPO_ROOT, capture_output=True, text=True, env=full_env, timeout=timeout,
                          check=False)


def wait_for(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something truthy and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


# --------------------------------------------------------------------------- a store filled by a real sweep


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

    def copy_to(self, dest: Path) -> SweptStore:
        """A private copy of the store folder (outputs included) and of the weights, for a test that writes.

        The weights land in ``weights/`` beside ``dest``; the same bytes give the same checkpoint labels.
        """
        shutil.copytree(self.root, dest)
        weights = dest.parent / "weights"
        shutil.copytree(self.weights, weights)
        ckpts = {k: weights / p.name for k, p in self.checkpoints.items()}
        return SweptStore(dest, dest / self.db.name, self.images, weights, ckpts, self.sweep_id, self.cells)


def make_test_set(folder: Path, sizes=((64, 80), (96, 72), (80, 96))) -> Path:
    """A folder of generated photos, 64-96 px."""
    for i, (h, w) in enumerate(sizes):
        write_image(folder / f"photo{i}.png", make_photo(h, w, seed=i))
    return folder


def small_spec(images: Path, ckpts: dict, **extra):
    """The sweep the app tests browse: resolutions 64/128, soft/hard on two Mask Nets, plus canny."""
    from core.sweeps.spec import SweepSpec

    fields = {
        "images": [str(images)],
        "sketch_checkpoints": [str(ckpts["sketch"])],
        "mask_checkpoints": [str(ckpts["stage1"]), str(ckpts["stage2"])],
        "baselines": ["canny"],
        "resolutions": [64, 128],
        "mask_modes": ["soft", "hard"],
        "device": "cpu",
        "name": "small",
    }
    return SweepSpec(**{**fields, **extra})


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


def sweep_rows(spec, db: Path) -> tuple:
    """Run ``spec`` into ``db`` quietly; returns ``(summary, {cell key: row}, {cell key: stored sketch})``."""
    import cv2

    from core.store.store import Store

    summary = run_sweep_quietly(spec, db)
    with Store(db, readonly=True) as store:
        rows = {r["cell_key"]: r for r in store.results(summary.sweep_id)}
        sketches = {k: cv2.imread(str(store.absolute(r["sketch_path"])), cv2.IMREAD_GRAYSCALE)
                    for k, r in rows.items() if r["status"] == "done"}
    return summary, rows, sketches


def fill_store(base: Path) -> SweptStore:
    """Build weights, a test set and a store under ``base`` and run the small sweep into it."""
    weights = base / "weights"
    ckpts = app_weights(weights)
    images = make_test_set(base / "testsets" / "tiny")
    root = base / "store"
    root.mkdir(parents=True)
    db = root / "workbench.db"
    summary = run_sweep_quietly(small_spec(images, ckpts), db)
    assert summary.status == "done" and summary.failed == 0, summary
    # Fold the WAL into the main file so a plain folder copy carries every row.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return SweptStore(root, db, images, weights, ckpts, summary.sweep_id, summary.cells)


# --------------------------------------------------------------------------- the Streamlit app


def app_test(page: str | None = None, timeout: float = 60, first_view_drawn: bool = True):
    """An AppTest of the router, switched to ``page`` (e.g. ``"workbench/pages/sweeps.py"``) after a first run.

    ``first_view_drawn``: as if the browser's viewer had already reported the
    session's first view drawn (so Compare draws its controls at once); False
    starts where a new browser session starts, with the controls deferred.
    """
    from streamlit.testing.v1 import AppTest

    from workbench.state import FIRST_VIEW_KEY

    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app.py"), default_timeout=timeout)
    if first_view_drawn:
        at.session_state[FIRST_VIEW_KEY] = True
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def assert_no_exception(at) -> None:
    """Fail with the exception text when a Streamlit run raised."""
    if len(at.exception):
        pytest.fail("app raised: " + "\n".join(e.value for e in at.exception))


# --------------------------------------------------------------------------- a running app, a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_ui(db: Path, env: dict, log_dir: Path, *args: str, timeout: float = 90):
    """``workbench ui --db DB ARGS...`` on a free port in its own session; yields its URL, kills the group at the end.

    ``ARGS`` e.g. ``--host 0.0.0.0`` and a token: the start-up probe, ``/_stcore/health``, stays open without one;
    the URL is always ``http://127.0.0.1:PORT``.
    """
    import signal
    import urllib.request

    port = free_port()
    log = open(log_dir / "ui.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "core.cli.main", "ui", "--db", str(db), "--port", str(port), *args],
                            env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("workbench ui did not start: " + Path(log.name).read_text()[-2000:])
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


@contextlib.contextmanager
def chromium_browser():
    """Headless system Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def new_tab(browser, width: int = 1500, height: int = 1000):
    """A page in a fresh browser context (own cache and cookies), closed at the end."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def cuda_only(test):
    """Mark ``test`` as a CUDA test (``pytest -m cuda``) that skips, saying why, where torch sees no GPU."""
    import torch

    needs = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch sees none here")
    return pytest.mark.cuda(needs(test))

"""Sweeps: every combination of settings over a test set, cached by cell key, resumable.

A :class:`SweepSpec` names the axes (test sets, checkpoints, baselines,
resolutions, mask modes, softctr values, gamma, merge, profile, precision,
device). :func:`plan_sweep` expands it into cells, each identified by a hash
of the input image's bytes, the checkpoints' sha256, the canonical config and
the pipeline version. :func:`run_sweep` computes only the cells the store
does not already hold, in an order that reuses work: each image is decoded
once, each Mask Net runs once per (image, checkpoint, plain/inverted), each
Sketch Net forward is shared by every cell that needs the same input, and
files are encoded and written on a separate thread while the next cell
computes.

Two executors run the cells: ``local`` (this process, the default) and
``ray`` (actors on a local Ray instance or a Ray cluster, see
:mod:`core.sweeps.ray`). The executor is not part of the spec: a cell
computed by either one is cached for both.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import resource
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import SweepError
from core.pipeline.seed import MASK_MODES, PIPELINE_VERSION

PROFILES = ("seed",)
THUMB_SIDE = 256
EXECUTORS = ("local", "ray")


@dataclass
class SweepSpec:
    """The axes of a sweep. Every list is an axis; cells are their product."""

    images: list[str]
    sketch_checkpoints: list[str] = field(default_factory=list)
    mask_checkpoints: list[str | None] = field(default_factory=lambda: [None])  # None = background off
    baselines: list[str] = field(default_factory=list)
    baseline_params: dict[str, dict] = field(default_factory=dict)
    resolutions: list[int] = field(default_factory=lambda: [424])
    mask_modes: list[str] = field(default_factory=lambda: ["soft"])
    softctrs: list[float] = field(default_factory=lambda: [0.5])
    gammas: list[bool] = field(default_factory=lambda: [True])
    merges: list[bool] = field(default_factory=lambda: [False])
    profiles: list[str] = field(default_factory=lambda: ["seed"])
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    device: str = "auto"
    vectorize: bool = False
    name: str = ""
    note: str = ""
    max_pixels: int = 50_000_000

    def canonical(self) -> dict:
        """The spec as a JSON-ready dict with absolute paths and sorted, de-duplicated axes."""
        d = asdict(self)
        d["images"] = sorted({str(Path(p).resolve()) for p in self.images})
        d["sketch_checkpoints"] = sorted({str(Path(p).resolve()) for p in self.sketch_checkpoints})
        d["mask_checkpoints"] = sorted({str(Path(p).resolve()) if p else "" for p in self.mask_checkpoints})
        for axis in ("baselines", "resolutions", "mask_modes", "softctrs", "gammas", "merges", "profiles", "precisions"):
            d[axis] = sorted(set(d[axis]), key=str)
        return d

    def spec_hash(self) -> str:
        """Identity of the sweep: the same axes give the same sweep (resumed, not duplicated)."""
        d = self.canonical()
        for k in ("name", "note"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def load_spec_toml(path: str | Path) -> dict:
    """Read a sweep spec TOML file into a dict of :class:`SweepSpec` fields."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SweepError(f"cannot read sweep file {path}: {exc}") from None
    known = set(SweepSpec.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise SweepError(f"sweep file {path} has unknown keys {unknown}; known keys: {sorted(known)}")
    base = Path(path).resolve().parent
    for key in ("images", "sketch_checkpoints", "mask_checkpoints"):
        if key in data:
            data[key] = [(str((base / p).resolve()) if p not in ("", "none") else None) for p in data[key]]
    return data


# --------------------------------------------------------------------------- planning


@dataclass
class ImageItem:
    """One input file of a test set."""

    path: Path
    name: str
    test_set: str
    sha256: str
    size_bytes: int


@dataclass
class Cell:
    """One unit of work: one image under one full configuration."""

    key: str
    image: ImageItem
    config: dict  # canonical config (see cell_config)

    def row(self) -> dict:
        """The store's columns for this cell (before it is computed)."""
        c = self.config
        return {
            "cell_key": self.key,
            "image_sha256": self.image.sha256,
            "image_name": self.image.name,
            "image_path": display_name(self.image.path),
            "test_set": self.image.test_set,
            "method": c["method"],
            "sketch_checkpoint": c.get("sketch_label"),
            "sketch_sha256": c.get("sketch_sha256"),
            "mask_checkpoint": c.get("mask_label"),
            "mask_sha256": c.get("mask_sha256"),
            "resolution": c.get("resolution"),
            "mask_mode": c.get("mask_mode"),
            "softctr": c.get("softctr"),
            "gamma": _int(c.get("gamma")),
            "merge": _int(c.get("merge")),
            "background": _int(c.get("background")),
            "profile": c["profile"],
            "precision": c.get("precision"),
            "vectorize": int(c["vectorize"]),
            "baseline_params": json.dumps(c["baseline_params"], sort_keys=True) if c.get("baseline_params") else None,
            "config_json": json.dumps(c, sort_keys=True),
            "pipeline_version": PIPELINE_VERSION,
        }


def _int(v):
    return None if v is None else int(bool(v))


@dataclass
class Plan:
    """A sweep expanded into cells, with the checkpoints it needs loaded."""

    spec: SweepSpec
    images: list[ImageItem]
    cells: list[Cell]
    checkpoints: dict  # sha256 -> core.models.checkpoints.Checkpoint


def cell_key(image_sha256: str, config: dict) -> str:
    """The cache key: input bytes, checkpoint hashes (inside config), canonical config, pipeline version."""
    payload = json.dumps({"image": image_sha256, "config": config, "pipeline": PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def display_name(path: Path | str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _sha256_bytes(path: Path) -> tuple[str, int]:
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    return hashlib.sha256(data).hexdigest(), len(data)


def collect_images(roots: list[str]) -> list[ImageItem]:
    """List image files of the test sets (subfolders included), hashing their bytes."""
    from core.pipeline.images import list_images

    items = []
    for root in roots:
        root_path = Path(root)
        if not root_path.exists():
            raise SweepError(f"test set {root} does not exist")
        test_set = root_path.name if root_path.is_dir() else root_path.parent.name
        # A test set built by the workbench keeps its photos under images/.
        folder = root_path / "images" if (root_path / "manifest.json").is_file() and (root_path / "images").is_dir() else root_path
        for path in list_images(folder):
            sha, size = _sha256_bytes(path)
            name = display_name(path.relative_to(folder) if folder.is_dir() else Path(path.name))
            items.append(ImageItem(path, name, test_set, sha, size))
    if not items:
        raise SweepError(f"no images found in {', '.join(roots)}")
    return items


def plan_sweep(spec: SweepSpec) -> Plan:
    """Validate the spec, load its checkpoints and expand it into cells (cheap: no network runs)."""
    from core.models.checkpoints import load_checkpoint

    _validate(spec)
    images = collect_images(spec.images)
    checkpoints = {}
    sketch = []
    for path in dict.fromkeys(spec.sketch_checkpoints):
        ckpt = load_checkpoint(path)
        if ckpt.role != "sketch":
            raise SweepError(f"--sketch-checkpoint {path} is a {ckpt.architecture}, not a Sketch Net")
        checkpoints[ckpt.sha256] = ckpt
        sketch.append(ckpt)
    masks = []
    for path in dict.fromkeys(spec.mask_checkpoints):
        if not path:
            masks.append(None)
            continue
        ckpt = load_checkpoint(path)
        if ckpt.role != "mask":
            raise SweepError(f"--mask-checkpoint {path} is a {ckpt.architecture}, not a Mask Net")
        checkpoints[ckpt.sha256] = ckpt
        masks.append(ckpt)

    configs: list[dict] = []
    for profile, precision, side, gamma, merge in itertools.product(
        spec.profiles, spec.precisions, spec.resolutions, spec.gammas, spec.merges
    ):
        for s, m in itertools.product(sketch, masks):
            base = {
                "profile": profile,
                "method": "checkpoint",
                "sketch_sha256": s.sha256,
                "sketch_label": s.label,
                "resolution": int(side),
                "gamma": bool(gamma),
                "merge": bool(merge),
                "precision": precision,
                "vectorize": bool(spec.vectorize),
            }
            if m is None:
                configs.append(dict(base, background=False, mask_sha256=None, mask_label=None, mask_mode=None, softctr=None))
                continue
            for mode, softctr in itertools.product(spec.mask_modes, spec.softctrs):
                configs.append(
                    dict(base, background=True, mask_sha256=m.sha256, mask_label=m.label, mask_mode=mode,
                         softctr=float(softctr))
                )
    if spec.baselines:
        from core.pipeline.baselines import baseline_params

        for name in spec.baselines:
            params = baseline_params(name, spec.baseline_params.get(name))
            configs.append(
                {"profile": "baseline", "method": name, "baseline_params": params, "vectorize": bool(spec.vectorize)}
            )
    unique_configs = list({json.dumps(c, sort_keys=True): c for c in configs}.values())
    cells = []
    seen = set()
    for image in images:
        for config in unique_configs:
            key = cell_key(image.sha256, config)
            if key not in seen:  # the same bytes under two names are one cell
                seen.add(key)
                cells.append(Cell(key, image, config))
    return Plan(spec, images, cells, checkpoints)


def _validate(spec: SweepSpec) -> None:
    from core.models.devices import PRECISIONS

    if not spec.images:
        raise SweepError("no test set given; pass --images DIR")
    if not spec.sketch_checkpoints and not spec.baselines:
        raise SweepError("nothing to run; pass --sketch-checkpoint PATH and/or --baseline NAME")
    for side in spec.resolutions:
        if not isinstance(side, int) or side < 16 or side > 4096:
            raise SweepError(f"resolution {side!r} is not a side in pixels between 16 and 4096 (e.g. 424, 848)")
    for mode in spec.mask_modes:
        if mode not in MASK_MODES:
            raise SweepError(f"mask mode {mode!r} is not one of {', '.join(MASK_MODES)}")
    for softctr in spec.softctrs:
        if not 0.0 <= float(softctr) <= 1.0:
            raise SweepError(f"softctr {softctr!r} is not in [0, 1]")
    for profile in spec.profiles:
        if profile not in PROFILES:
            raise SweepError(f"pipeline profile {profile!r} is not one of {', '.join(PROFILES)}")
    for precision in spec.precisions:
        if precision not in PRECISIONS:
            raise SweepError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")


# --------------------------------------------------------------------------- running


@dataclass
class SweepSummary:
    """What a sweep run did (the CLI's ``--json`` line)."""

    sweep_id: int
    cells: int
    computed: int
    cached: int
    failed: int
    seconds: float
    status: str
    device: str

    def to_dict(self) -> dict:
        return asdict(self)


class Cancelled(Exception):
    """Raised inside the sweep loop when a stop was requested (SIGTERM/SIGINT)."""


def run_sweep(spec: SweepSpec, db_path: str | Path, *, progress: bool = True, plan: Plan | None = None,
              retry_failed: bool = False, executor: str = "local", ray_address: str | None = None,
              ray_cpus_per_worker: int = 1) -> SweepSummary:
    """Run (or resume) a sweep: compute missing cells, record everything in the store.

    ``executor`` is ``local`` (this process) or ``ray`` (Ray actors; a local
    Ray instance, or the cluster at ``ray_address``). Returns the summary;
    failed cells are recorded, not raised.
    """
    from core.models.devices import check_precision, resolve_device

    if executor not in EXECUTORS:
        raise SweepError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        from core.sweeps.ray import run_sweep_ray

        return run_sweep_ray(spec, db_path, progress=progress, plan=plan, retry_failed=retry_failed,
                             address=ray_address, cpus_per_worker=ray_cpus_per_worker)
    started = time.perf_counter()
    device = resolve_device(spec.device)
    for precision in spec.precisions:
        check_precision(precision, device)
    plan = plan or plan_sweep(spec)
    store, sweep_id, rows, todo = open_sweep(spec, plan, db_path, "local", retry_failed)
    cached = len(plan.cells) - len(todo)

    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    writer = _Writer(store, sweep_id, device)
    status = "done"
    bar = _progress_bar(len(plan.cells), cached, progress, rows)
    try:
        executor = _Executor(plan, device, writer, stop, bar)
        executor.run(todo)
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:
        status = "interrupted"
        writer.close()
        store.finish_sweep(sweep_id, status, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        _restore_stop_handlers(previous)
        if bar is not None:
            bar.close()
    writer.close()
    store.finish_sweep(sweep_id, status)
    failed = failed_cells(store, sweep_id)
    store.close()
    return SweepSummary(sweep_id, len(plan.cells), writer.count, cached, failed,
                        round(time.perf_counter() - started, 3), status, str(device))


def open_sweep(spec: SweepSpec, plan: Plan, db_path: str | Path, executor: str, retry_failed: bool):
    """Record the sweep in the store, claim it and register its cells.

    Returns ``(store, sweep_id, rows, todo)``: the open store, the sweep's id,
    the stored row of every cell by key, and the cells still to compute (the
    same cache for every executor).
    """
    from core.store.store import Store

    store = Store(db_path)
    sweep_id = store.upsert_sweep(spec.spec_hash(), spec.name or _default_name(spec), spec.note,
                                  spec.canonical(), len(plan.cells), executor)
    if not store.claim_sweep(sweep_id):
        store.close()
        raise SweepError(f"sweep {sweep_id} is already running in another process; wait for it or cancel it")
    for ckpt in plan.checkpoints.values():
        store.upsert_checkpoint(checkpoint_row(ckpt))
    rows = store.register_cells(sweep_id, [c.row() for c in plan.cells])
    store.upsert_images([{"sha256": i.sha256, "size_bytes": i.size_bytes, "path": display_name(i.path),
                          "name": i.name, "test_set": i.test_set} for i in plan.images])
    finished = ("done", "failed") if not retry_failed else ("done",)
    todo = [c for c in plan.cells if rows[c.key]["status"] not in finished]
    return store, sweep_id, rows, todo


def failed_cells(store, sweep_id: int) -> int:
    """How many of a sweep's cells are recorded as failed."""
    return store.query(
        "SELECT count(*) AS n FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id "
        "WHERE sc.sweep_id = ? AND c.status = 'failed'", (sweep_id,)
    )[0]["n"]


def _default_name(spec: SweepSpec) -> str:
    sets = ", ".join(Path(p).name for p in spec.images)
    return f"{sets} x {len(spec.sketch_checkpoints) + len(spec.baselines)} methods"


def checkpoint_row(ckpt) -> dict:
    """The store's ``checkpoints`` row for a loaded checkpoint."""
    info = ckpt.describe()
    return {
        "sha256": ckpt.sha256,
        "label": ckpt.label,
        "file_name": ckpt.path.name,
        "path": str(ckpt.path.resolve()),
        "format": ckpt.format,
        "architecture": ckpt.architecture,
        "role": ckpt.role,
        "width": ckpt.width,
        "parameters": info["parameters"],
        "size_bytes": ckpt.size,
        "metadata_json": json.dumps(ckpt.metadata, sort_keys=True),
    }


def _install_stop_handlers(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_stop_handlers(previous) -> None:
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)


def _progress_bar(total: int, cached: int, enabled: bool, rows: dict):
    if not enabled:
        return None
    from tqdm import tqdm

    failed = sum(1 for r in rows.values() if r["status"] == "failed")
    bar = tqdm(total=total, initial=cached, desc="sweep", unit="cell", file=sys.stderr, dynamic_ncols=True)
    bar.set_postfix(done=cached - failed, failed=failed)
    bar.failed = failed
    return bar


def group_cells(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped by input image, each group ordered so that work is shared within it.

    A group is the unit that reuses work (one decode, one Mask Net per
    checkpoint, shared Sketch Net forwards): the local executor runs groups
    one after another, the Ray executor hands whole groups to its workers.
    """
    by_image: dict[str, list[Cell]] = {}
    for cell in cells:
        by_image.setdefault(cell.image.sha256, []).append(cell)
    for group in by_image.values():
        # Order so that cells sharing a Mask Net and a Sketch Net run together.
        group.sort(key=lambda c: (c.config["method"], c.config.get("mask_sha256") or "",
                                  c.config.get("sketch_sha256") or "", c.config.get("resolution") or 0,
                                  c.config.get("precision") or ""))
    return list(by_image.values())


class _Executor:
    """Computes cells image by image, reusing masks and Sketch Net forwards."""

    def __init__(self, plan: Plan, device, writer: "_Writer", stop: threading.Event, bar):
        self.plan, self.device, self.writer, self.stop, self.bar = plan, device, writer, stop, bar
        self._nets: dict[str, object] = {}

    def net(self, sha: str):
        """The optimised inference copy of a checkpoint's network, built once per sweep."""
        if sha not in self._nets:
            from core.models.inference import optimize_for_inference, prepare_device

            prepare_device(self.device)
            self._nets[sha] = optimize_for_inference(self.plan.checkpoints[sha].build(), self.device)
        return self._nets[sha]

    def run(self, cells: list[Cell]) -> None:
        for group in group_cells(cells):
            self.run_image(group)

    def run_image(self, cells: list[Cell]) -> None:
        from core.errors import ImageReadError
        from core.pipeline.images import read_image

        t0 = time.perf_counter()
        try:
            img = read_image(cells[0].image.path, self.plan.spec.max_pixels)
        except ImageReadError as exc:
            for cell in cells:
                self._check_stop()
                self.writer.put_failure(cell, str(exc))
                self._tick(failed=True)
            return
        t_decode = time.perf_counter() - t0
        masks: dict = {}
        crops: dict = {}
        sketches: dict = {}
        inverted = None
        for cell in cells:
            self._check_stop()
            started = time.perf_counter()
            try:
                if cell.config["method"] != "checkpoint":
                    out = self.run_baseline(img, cell)
                else:
                    if cell.config["merge"] and inverted is None:
                        from core.pipeline.seed import invert_value

                        inverted = invert_value(img)
                    out = self.run_seed(img, inverted, cell, masks, crops, sketches)
            except Exception as exc:  # noqa: BLE001 - one bad cell must not stop the sweep
                self.writer.put_failure(cell, f"{type(exc).__name__}: {exc}")
                self._tick(failed=True)
                continue
            out["timings"]["t_decode"] = t_decode
            out["timings"]["seconds"] = time.perf_counter() - started + t_decode
            t_decode = 0.0  # decoding is charged to the first cell of the image only
            self.writer.put(cell, img, out)
            self._tick()

    def run_baseline(self, img, cell: Cell) -> dict:
        from core.pipeline.baselines import run_baseline

        t = time.perf_counter()
        sketch = run_baseline(cell.config["method"], img, cell.config["baseline_params"])
        return {"mask": None, "cropped": None, "sketch": sketch,
                "timings": {"t_mask": 0.0, "t_sketch": time.perf_counter() - t}}

    def run_seed(self, img, inverted, cell: Cell, masks: dict, crops: dict, sketches: dict) -> dict:
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
        ctx = torch.autocast(self.device.type, dtype=dtype) if dtype else _null()
        with ctx:
            if side is None:
                return predict_mask(net, image, self.device)
            return predict_sketch(net, image, side, self.device)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Cancelled()
        self.writer.raise_if_failed()

    def _tick(self, failed: bool = False) -> None:
        if self.bar is not None:
            self.bar.failed += failed
            self.bar.update(1)
            self.bar.set_postfix(done=self.bar.n - self.bar.failed, failed=self.bar.failed, refresh=False)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Writer:
    """Encodes and writes cell outputs and records them in the store, on its own thread."""

    def __init__(self, store, sweep_id: int, device):
        self.store, self.sweep_id, self.device = store, sweep_id, str(device)
        self.queue: queue.Queue = queue.Queue(maxsize=8)  # bounded: the compute thread waits, memory stays flat
        self.count = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="sweep-writer", daemon=True)
        self.thread.start()

    def put(self, cell: Cell, img, out: dict) -> None:
        self.queue.put(("done", cell, img, out))

    def put_failure(self, cell: Cell, error: str) -> None:
        self.queue.put(("failed", cell, None, {"error": error}))

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"writing results failed: {self.error}") from self.error

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.raise_if_failed()

    def _loop(self) -> None:
        pending: list[tuple[str, dict]] = []
        last_flush = time.monotonic()
        last_beat = 0.0
        while True:
            item = self.queue.get()
            if item is not None:
                try:
                    pending.append(self._record(*item))
                except Exception as exc:  # noqa: BLE001 - reported to the compute thread
                    self.error = exc
            now_ = time.monotonic()
            if pending and (item is None or len(pending) >= 16 or now_ - last_flush > 0.5):
                try:
                    self.store.finish_cells(pending)
                    self.count += len(pending)
                except Exception as exc:  # noqa: BLE001
                    self.error = exc
                pending, last_flush = [], now_
            if now_ - last_beat > 2.0:
                self.store.heartbeat(self.sweep_id)
                last_beat = now_
            if item is None:
                return

    def _record(self, kind: str, cell: Cell, img, out: dict) -> tuple[str, dict]:
        if kind == "failed":
            fields = failure_fields(out["error"])
        else:
            fields = finalize_cell(self.store.root, cell, img, out)
        return cell.key, dict(fields, sweep_id=self.sweep_id, device=self.device)


def failure_fields(error: str) -> dict:
    """The store's fields for a failed cell."""
    return {"status": "failed", "error": error[:2000], "seconds": 0.0}


def finalize_cell(root: Path, cell: Cell, img, out: dict) -> dict:
    """Write a computed cell's files under ``root`` (atomically) and return its store fields.

    Vectorises when the cell asks for it, computes the metrics, and returns
    paths relative to ``root`` (the store's folder), timings and peak memory.
    Used by the local writer thread and by remote workers alike.
    """
    t = time.perf_counter()
    fields = {"status": "done", "error": None, "width": int(img.shape[1]), "height": int(img.shape[0])}
    from core.pipeline.seed import apply_gamma

    # Strokes and metrics see the sketch as the original saved and vectorised it: after gamma 3,
    # which turns the Sketch Net's grey lines into ink (0 and 255 stay as they are).
    saved = apply_gamma(out["sketch"], 3)
    strokes = None
    if cell.config.get("vectorize"):
        from core.sketch.strokes import vectorize

        strokes = vectorize(saved)
    fields.update(_write_files(Path(root), cell, out, strokes))
    fields.update(_metrics(cell, saved, strokes))
    fields.update({k: round(v, 6) for k, v in out["timings"].items()})
    fields["t_post"] = round(time.perf_counter() - t, 6)
    fields["peak_mem_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return fields


def _relative(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def _write_files(root: Path, cell: Cell, out: dict, strokes) -> dict:
    from core.files import write_atomic

    folder = root / "cells" / cell.key[:2] / cell.key
    paths = {}
    if out["mask"] is not None:
        # One file per (image, Mask Net), shared by every cell that uses that mask.
        mask_file = root / "masks" / f"{cell.image.sha256[:16]}-{cell.config['mask_sha256'][:16]}.png"
        if not mask_file.exists():
            write_atomic(mask_file, _png(np.clip(np.rint(out["mask"] * 255), 0, 255).astype(np.uint8)))
        paths["mask_path"] = _relative(root, mask_file)
    if out["cropped"] is not None:
        paths["cropped_path"] = _relative(root, write_atomic(folder / "cropped.png", _png(out["cropped"])))
    paths["sketch_path"] = _relative(root, write_atomic(folder / "sketch.png", _png(out["sketch"])))
    paths["thumb_path"] = _relative(root, write_atomic(folder / "thumb.webp", thumbnail(out["sketch"])))
    if strokes is not None:
        paths.update(_write_strokes(root, folder, strokes))
    return paths


def _write_strokes(root: Path, folder: Path, strokes) -> dict:
    from core.files import write_atomic
    from core.sketch import strokes as vec

    files = {"npz_path": "strokes.npz", "svg_path": "strokes.svg", "gif_path": "strokes.gif",
             "vector_path": "vector.png"}
    vec.save_npz(strokes, folder / files["npz_path"])
    write_atomic(folder / files["svg_path"], vec.to_svg(strokes).encode())
    vec.save_gif(strokes, folder / files["gif_path"])
    vec.save_vector_png(strokes, folder / files["vector_path"])
    return {k: _relative(root, folder / f) for k, f in files.items()}


def _metrics(cell: Cell, sketch, strokes) -> dict:
    """Metric columns for a finished cell (reference scores where the test set has drawings)."""
    from core.sketch.metrics import sketch_metrics
    from core.store.store import METRIC_COLUMNS

    values = sketch_metrics(sketch, strokes=strokes, reference=_reference_drawing(cell.image.path))
    out = {k: float(v) for k, v in values.items() if k in METRIC_COLUMNS and v is not None}
    out["metrics_json"] = json.dumps({k: float(v) for k, v in values.items()}, sort_keys=True)
    return out


def _reference_drawing(image_path: Path):
    """The ground-truth drawing of a test-set image (``../drawings/<same name>``), if there is one."""
    drawing = image_path.parent.parent / "drawings" / image_path.name
    if image_path.parent.name != "images" or not drawing.is_file():
        return None
    import cv2

    return cv2.imread(str(drawing), cv2.IMREAD_GRAYSCALE)


def _png(img: np.ndarray) -> bytes:
    """Fast PNG (low compression: these are working files, written on every cell)."""
    import cv2

    arr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def thumbnail(img: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    """A WebP thumbnail whose longer side is at most ``side`` px (area-averaged)."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    arr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR) if small.ndim == 3 else small
    ok, buf = cv2.imencode(".webp", arr, [cv2.IMWRITE_WEBP_QUALITY, 90])
    if not ok:
        raise RuntimeError("WebP encoding failed")
    return buf.tobytes()

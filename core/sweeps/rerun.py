"""Re-running stored cells: does a result still reproduce with today's code and environment?

:func:`rerun_cell` computes one stored cell again with the sweep engine
(:class:`core.sweeps.engine.CellEngine`), from the input image and
checkpoints the store recorded (their sha256 checked), and compares the new
sketch with the stored one. Nothing is written: the stored row and files stay
as they were. :func:`rerun_row` and :func:`rerun_sweep` do the same for an
image's cells or a whole sweep's, sharing work within each image as a sweep does.

The settings run are the cell's canonical config (``config_json``), with any
setting column edited in the store since applied on top; what differs from
the settings it was computed with is reported, so a copy of a store whose
values were changed shows what the change does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from core.errors import RerunError, WorkbenchError
from core.files import hash_bytes, read_gray
from core.sweeps.cell import Cell, ImageItem, cell_key

__all__ = ["TOLERANCE", "describe_rerun", "effective_config", "rerun_cell", "rerun_cells", "rerun_row", "rerun_sweep"]

log = logging.getLogger(__name__)

# Largest grey-level difference that still counts as the same output (fp rounding across libraries and CPUs).
TOLERANCE = 2
# Setting columns of a cell and how each becomes its config value.
SETTING_COLUMNS = {"resolution": int, "mask_mode": str, "softctr": float, "gamma": bool, "merge": bool,
                   "background": bool, "precision": str, "vectorize": bool, "baseline_params": json.loads}


class _Outputs:
    """Stands in for the engine's writer: keeps each recomputed cell's sketch (or error), writes nothing."""

    def __init__(self):
        self.sketches: dict[str, np.ndarray] = {}
        self.errors: dict[str, str] = {}

    def put(self, cell: Cell, img, out: dict) -> None:
        self.sketches[cell.key] = out["sketch"]

    def put_failure(self, cell: Cell, error: str) -> None:
        self.errors[cell.key] = error

    def raise_if_failed(self) -> None:
        """Nothing to fail: no file is written."""


class _Never:
    def is_set(self) -> bool:
        return False


def effective_config(row: dict) -> tuple[dict, dict]:
    """The config a re-run uses for a stored cell, and the settings that differ from what computed it.

    Returns ``(config, changes)``: ``config`` is the cell's ``config_json``
    with any setting column that no longer says what the cell was computed
    with applied on top; ``changes`` is ``{key: {"stored": value it was
    computed with, "current": value run now}}``. What it was computed with is
    the config in its recorded provenance, else ``config_json`` when the cell
    key still matches it (the key is its hash), else the setting columns.
    """
    try:
        config = json.loads(row["config_json"])
    except (TypeError, ValueError):
        raise RerunError(f"cell {row['id']} has no readable config_json; it cannot be re-run") from None
    columns = {k: convert(row[k]) for k, convert in SETTING_COLUMNS.items() if k in config and row.get(k) is not None}
    if row.get("provenance_json"):
        stored = json.loads(row["provenance_json"]).get("config") or config
    elif cell_key(row["image_sha256"], config) == row["cell_key"]:
        stored = config
    else:
        stored = {**config, **columns}
    current = {**config, **{k: v for k, v in columns.items() if v != stored.get(k)}}
    changes = {k: {"stored": stored.get(k), "current": current.get(k)}
               for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k)}
    return current, changes


def rerun_cell(store, cell_id: int, device: str = "cpu") -> dict:
    """Compute one stored cell again, without touching the store, and compare it with the stored sketch.

    Returns ``{"cell_id", "cell_key", "image", "match", "max_diff", "differing_pixels", "pixels",
    "tolerance", "error", "config_changes", "provenance_changes", "stored_provenance"}``:
    ``match`` is true when no grey level differs by more than :data:`TOLERANCE`.

    Raises:
        RerunError: no such cell, no stored sketch, its input image or a checkpoint is missing or changed.
    """
    row = store.cell(int(cell_id))
    if row is None:
        raise RerunError(f"no cell {cell_id} in {store.path}; `workbench results` lists the cells")
    return rerun_cells(store, [row], device)[0]


def rerun_row(store, image_sha: str, sweep_id: int | None = None, device: str = "cpu") -> list[dict]:
    """Re-run every computed cell of one input image (of sweep ``sweep_id``, or of the whole store)."""
    if sweep_id is not None and not store.has_sweep(sweep_id):
        raise RerunError(f"no sweep {sweep_id} in {store.path}")
    rows = [r for r in store.image_cells(sweep_id, [image_sha]) if r["status"] == "done"]
    if not rows:
        raise RerunError(f"no computed cell of image {image_sha[:12]} in {store.path}; pass its full sha256 "
                         "(`workbench results --json` gives each cell's image_sha256)")
    return rerun_cells(store, rows, device)


def rerun_sweep(store, sweep_id: int, device: str = "cpu") -> list[dict]:
    """Re-run every computed cell of a sweep (failed and pending cells have nothing to compare and are left out)."""
    if not store.has_sweep(sweep_id):
        raise RerunError(f"no sweep {sweep_id} in {store.path}; `workbench results` lists the sweeps' cells")
    rows = [r for r in store.results(sweep_id) if r["status"] == "done"]
    if not rows:
        raise RerunError(f"sweep {sweep_id} has no computed cell to re-run")
    return rerun_cells(store, rows, device)


def rerun_cells(store, rows: list[dict], device: str = "cpu") -> list[dict]:
    """Re-run stored cells (store rows), one image at a time with shared work; one report per row, in order.

    Everything a re-run needs is checked before any network runs: each cell
    has a stored sketch, its input image and checkpoints are where the store
    says, with the sha256 they were computed with.
    """
    from core.models.devices import resolve_device
    from core.sweeps.engine import CellEngine
    from core.sweeps.plan import Plan, group_cells
    from core.sweeps.spec import SweepSpec

    cells, changes = [], []
    for row in rows:
        _stored_sketch(store, row)  # fails early for a cell with nothing to compare
        config, changed = effective_config(row)
        # The key only names the outputs here; an edited config gets its own so two variants never mix.
        key = row["cell_key"] if not changed else f"{row['cell_key']}-edited"
        cells.append(Cell(key, _image_item(store, row), config))
        changes.append(changed)
    checkpoints = _checkpoints(store, {c.config[k] for c in cells for k in ("sketch_sha256", "mask_sha256")
                                       if c.config.get(k)})
    torch_device = resolve_device(device)
    spec = SweepSpec(images=["(re-run)"], max_pixels=_max_pixels(store, rows))
    outputs = _Outputs()
    engine = CellEngine(Plan(spec, [], [], checkpoints), torch_device, outputs, _Never())
    for group in group_cells(list(cells)):
        runnable = []
        for cell in group:
            try:
                _check_precision(cell, torch_device)
                runnable.append(cell)
            except WorkbenchError as exc:
                outputs.put_failure(cell, str(exc))
        if runnable:
            engine.run_image(runnable)
    return [_report(store, row, cell, changed, outputs, torch_device)
            for row, cell, changed in zip(rows, cells, changes, strict=True)]


def _check_precision(cell: Cell, device) -> None:
    from core.models.devices import check_precision

    if cell.config.get("precision"):
        check_precision(cell.config["precision"], device)


def _stored_sketch(store, row: dict) -> Path:
    if row["status"] != "done" or not row.get("sketch_path"):
        raise RerunError(f"cell {row['id']} is {row['status']}: it has no stored sketch to compare with")
    path = store.absolute(row["sketch_path"])
    if not path.is_file():
        raise RerunError(f"cell {row['id']}'s stored sketch {path} is missing; it cannot be compared")
    return path


def _image_item(store, row: dict) -> ImageItem:
    """The cell's input image, where the store recorded it, checked against the sha256 it was computed from."""
    stored = store.image_file(row["image_sha256"]) or row.get("image_path")
    candidates = [store.absolute(stored), Path(stored)] if stored else []
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise RerunError(f"cell {row['id']}'s input image {stored or row['image_name']} is missing; "
                         "put the test set back where the sweep read it")
    sha, size = hash_bytes(path)
    if sha != row["image_sha256"]:
        raise RerunError(f"cell {row['id']}'s input image {path} changed since it was computed "
                         f"(sha256 {sha[:12]}, computed from {row['image_sha256'][:12]})")
    return ImageItem(path, row["image_name"], row.get("test_set") or "", sha, size)


def _checkpoints(store, shas: set[str]) -> dict:
    """The checkpoints by sha256, loaded from the paths the store recorded and checked against their hash."""
    from core.models.checkpoints import load_checkpoint

    known = {c["sha256"]: c for c in store.checkpoints()}
    loaded = {}
    for sha in sorted(shas):
        if sha not in known:
            raise RerunError(f"checkpoint {sha[:12]} is not recorded in {store.path}; it cannot be re-run")
        path = store.absolute(known[sha]["path"])
        if not path.is_file():
            raise RerunError(f"checkpoint {known[sha]['file_name']} is missing at {path}; put it back to re-run")
        ckpt = load_checkpoint(path)
        if ckpt.sha256 != sha:
            raise RerunError(f"checkpoint {path} changed since the cell was computed (sha256 {ckpt.sha256[:12]}, "
                             f"computed with {sha[:12]}); put the original file back")
        loaded[sha] = ckpt
    return loaded


def _max_pixels(store, rows: list[dict]) -> int:
    """The largest image size the cells' sweeps allowed (the default for cells of unknown sweeps)."""
    from core.sweeps.spec import SweepSpec, spec_from_record

    limits = {SweepSpec.model_fields["max_pixels"].default}
    for cell_id in {r["id"] for r in rows}:
        text = store.cell_spec_json(cell_id)
        if text:
            try:
                limits.add(spec_from_record(text).max_pixels)
            except WorkbenchError as exc:  # a record from another version: keep the default
                log.debug("cell %s: stored spec unreadable: %s", cell_id, exc)
    return max(limits)


def _report(store, row: dict, cell: Cell, config_changes: dict, outputs: _Outputs, device) -> dict:
    from core.provenance import environment_provenance, provenance_changes

    stored_prov = json.loads(row["provenance_json"]) if row.get("provenance_json") else None
    current_env = environment_provenance(device, cell.config.get("precision"))
    report = {"cell_id": row["id"], "cell_key": row["cell_key"], "image": row["image_name"], "match": False,
              "max_diff": None, "differing_pixels": None, "pixels": None, "tolerance": TOLERANCE, "error": None,
              "config_changes": config_changes, "provenance_changes": provenance_changes(stored_prov, current_env),
              "stored_provenance": stored_prov is not None}
    if cell.key in outputs.errors:
        report["error"] = outputs.errors[cell.key]
        return report
    stored = read_gray(_stored_sketch(store, row))
    current = outputs.sketches[cell.key]
    report["pixels"] = int(stored.size)
    if current.shape != stored.shape:
        report["error"] = (f"the re-run sketch is {current.shape[1]}x{current.shape[0]} px, "
                           f"the stored one {stored.shape[1]}x{stored.shape[0]}")
        return report
    diff = np.abs(current.astype(np.int16) - stored.astype(np.int16))
    report.update(max_diff=int(diff.max()) if diff.size else 0, differing_pixels=int(np.count_nonzero(diff)))
    report["match"] = report["max_diff"] <= TOLERANCE
    return report


def describe_rerun(report: dict) -> str:
    """One line for a re-run cell: match or not, the largest difference, what changed in settings and environment."""
    head = f"cell {report['cell_id']} ({report['image']}): "
    if report["error"]:
        head += f"FAILED: {report['error']}"
    elif report["match"]:
        head += (f"match (max difference {report['max_diff']} grey levels, "
                 f"{report['differing_pixels']} of {report['pixels']} px differ)")
    else:
        head += (f"MISMATCH (max difference {report['max_diff']} > {report['tolerance']} grey levels, "
                 f"{report['differing_pixels']} of {report['pixels']} px differ)")
    notes = []
    if report["config_changes"]:
        notes.append("settings: " + ", ".join(f"{k} {v['stored']} -> {v['current']}"
                                              for k, v in report["config_changes"].items()))
    if not report["stored_provenance"]:
        notes.append("environment: unknown (computed before provenance was recorded)")
    elif report["provenance_changes"]:
        notes.append("environment: " + ", ".join(f"{k} {v['stored']} -> {v['current']}"
                                                 for k, v in report["provenance_changes"].items()))
    return head + "".join(f"; {n}" for n in notes)

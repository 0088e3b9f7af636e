"""Planning: a sweep spec expanded into its cells, with the checkpoints it needs loaded (cheap: no network runs).

:func:`plan_sweep` lists the test sets' images (hashing their bytes), loads
the checkpoints, builds every configuration of the spec's axes and gives each
(image, configuration) its :class:`core.sweeps.cell.Cell`. The same bytes
under two names are one cell. :func:`group_cells` orders the cells still to
compute by image, so that work is shared.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from core.errors import SweepError
from core.files import hash_bytes
from core.sweeps.cell import Cell, ImageItem, cell_key, display_name
from core.sweeps.spec import SweepSpec

__all__ = ["GroupFeed", "Plan", "checkpoint_row", "collect_images", "group_cells", "plan_sweep"]


@dataclass
class Plan:
    """A sweep expanded into cells, with the checkpoints it needs loaded."""

    spec: SweepSpec
    images: list[ImageItem]
    cells: list[Cell]
    checkpoints: dict  # sha256 -> core.models.checkpoints.Checkpoint


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
        built = (root_path / "manifest.json").is_file() and (root_path / "images").is_dir()
        folder = root_path / "images" if built else root_path
        for path in list_images(folder):
            sha, size = hash_bytes(path)  # an unreadable file hashes as empty and fails as a cell
            name = display_name(path.relative_to(folder) if folder.is_dir() else Path(path.name))
            items.append(ImageItem(path, name, test_set, sha, size))
    if not items:
        raise SweepError(f"no images found in {', '.join(roots)}")
    return items


def plan_sweep(spec: SweepSpec) -> Plan:
    """Check the spec can run, load its checkpoints and expand it into cells (cheap: no network runs)."""
    from core.models.checkpoints import load_checkpoint

    if not spec.images:
        raise SweepError("no test set given; pass --images DIR")
    if not spec.sketch_checkpoints and not spec.baselines:
        raise SweepError("nothing to run; pass --sketch-checkpoint PATH and/or --baseline NAME")
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

    configs = _checkpoint_configs(spec, sketch, masks) + _baseline_configs(spec)
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


def _checkpoint_configs(spec: SweepSpec, sketch: list, masks: list) -> list[dict]:
    """One canonical config per combination of the checkpoint axes (mask axes only where a Mask Net runs)."""
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
                configs.append(dict(base, background=False, mask_sha256=None, mask_label=None, mask_mode=None,
                                    softctr=None))
                continue
            for mode, softctr in itertools.product(spec.mask_modes, spec.softctrs):
                configs.append(dict(base, background=True, mask_sha256=m.sha256, mask_label=m.label, mask_mode=mode,
                                    softctr=float(softctr)))
    return configs


def _baseline_configs(spec: SweepSpec) -> list[dict]:
    """One canonical config per baseline, with its full parameter set (defaults filled in)."""
    if not spec.baselines:
        return []
    from core.pipeline.baselines import baseline_params

    return [{"profile": "baseline", "method": name,
             "baseline_params": baseline_params(name, spec.baseline_params.get(name)),
             "vectorize": bool(spec.vectorize)} for name in spec.baselines]


def group_cells(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped by input image, each group ordered so that work is shared within it.

    A group is the unit that reuses work (one decode, one Mask Net per
    checkpoint, shared Sketch Net forwards): the local executor runs groups
    one after another (one engine per GPU takes them from a :class:`GroupFeed`),
    the Ray executor hands whole groups to its workers.
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


class GroupFeed:
    """Image groups handed out in order to one or more engines (thread-safe), a few at a time.

    With one engine per GPU, each takes the next groups when it is ready for
    them, so a faster device simply takes more.
    """

    def __init__(self, groups: list[list[Cell]]):
        self.groups, self.next, self.lock = groups, 0, threading.Lock()

    def take(self, n: int = 1) -> list[list[Cell]]:
        """The next ``n`` groups (fewer at the end; none once every group is out)."""
        with self.lock:
            taken = self.groups[self.next:self.next + n]
            self.next += len(taken)
            return taken


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

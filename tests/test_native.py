"""A stored cell's Sketch Net output at the network's own side (core.pipeline.native)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import NativeViewError


def _cells_and_checkpoints(db: Path) -> tuple[list[dict], dict[str, str], Path]:
    from core.store.store import Store

    with Store(db, readonly=True) as store:
        return store.results(), {c["sha256"]: c["path"] for c in store.checkpoints()}, store.root


def test_the_native_output_resized_is_the_stored_sketch(swept):
    from core.files import read_gray
    from core.pipeline.native import cell_native_sketch, native_side

    cells, checkpoints, root = _cells_and_checkpoints(swept.db)
    chosen = [c for c in cells if c["status"] == "done" and native_side(c) and c["precision"] == "fp32"]
    assert len({c["resolution"] for c in chosen}) >= 2, "the small sweep has two resolutions"
    for cell in chosen[:4]:
        native = cell_native_sketch(cell, root / checkpoints[cell["sketch_sha256"]], root / cell["cropped_path"])
        side = int(cell["resolution"])
        assert native.shape == (side, side) and native.dtype == np.uint8
        stored = read_gray(root / cell["sketch_path"])
        assert np.array_equal(cv2.resize(native, (stored.shape[1], stored.shape[0])), stored)


def test_cells_without_one_network_output_or_with_another_checkpoint_are_refused(swept):
    from core.pipeline.native import cell_native_sketch, native_side

    cells, checkpoints, root = _cells_and_checkpoints(swept.db)
    baseline = next(c for c in cells if c["method"] != "checkpoint")
    assert native_side(baseline) is None and native_side(dict(baseline, method="checkpoint", merge=1)) is None
    with pytest.raises(NativeViewError, match="only a checkpoint cell"):
        cell_native_sketch(baseline, Path("x"), Path("y"))
    cell = next(c for c in cells if c["status"] == "done" and native_side(c) and c["mask_sha256"])
    with pytest.raises(NativeViewError, match="not the checkpoint this cell used"):
        cell_native_sketch(cell, root / checkpoints[cell["mask_sha256"]], root / cell["cropped_path"])
    with pytest.raises(NativeViewError, match="cannot recompute"):
        cell_native_sketch(cell, root / "missing.pth", root / cell["cropped_path"])

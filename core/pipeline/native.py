"""A stored cell's Sketch Net output at the network's own side (e.g. 424x424 or 848x848), recomputed on request.

The store keeps each sketch at the input's size, as the original did. To see
what the network drew pixel for pixel, :func:`cell_native_sketch` runs the
cell's Sketch Net once more on the cell's stored network input (the cropped
image after the gamma step) and returns its raw output, unresized. The
network is the same optimised copy the sweep used, so resizing the result to
the input's size gives the stored sketch back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import NativeViewError, WorkbenchError

__all__ = ["cell_native_sketch", "native_side"]


def native_side(cell: dict) -> int | None:
    """The side at which the cell's Sketch Net ran, or None when the cell has no single network output."""
    if cell.get("method") != "checkpoint" or cell.get("merge") or not cell.get("resolution"):
        return None
    return int(cell["resolution"])  # the sweep's resolution is the Sketch Net's input side, as the engine runs it


def cell_native_sketch(cell: dict, checkpoint_path: Path, cropped_path: Path, device: str = "cpu") -> np.ndarray:
    """The Sketch Net's output for ``cell`` at its own side, as uint8 ``side x side`` (0 = ink).

    Args:
        cell: the store's cell row (method, resolution, merge, sketch_sha256).
        checkpoint_path: the cell's Sketch Net file; its sha256 must be the cell's.
        cropped_path: the cell's stored network input (``cropped_path`` in the store).

    Raises:
        NativeViewError: a baseline or merged cell, a changed or missing checkpoint, a missing input.
    """
    side = native_side(cell)
    if side is None:
        raise NativeViewError("only a checkpoint cell without merge has one Sketch Net output to show")
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import optimize_for_inference
    from core.pipeline.images import read_image
    from core.pipeline.seed import native_sketch

    try:
        checkpoint = load_checkpoint(checkpoint_path)
        cropped = read_image(cropped_path)
    except WorkbenchError as exc:
        raise NativeViewError(f"cannot recompute the network's output: {exc}") from None
    if checkpoint.sha256 != cell.get("sketch_sha256"):
        raise NativeViewError(f"{checkpoint_path} is not the checkpoint this cell used (its content changed); "
                              "put the original file back to see the network's own output")
    net = optimize_for_inference(checkpoint.build(), device)
    return native_sketch(net, cropped, side, device)

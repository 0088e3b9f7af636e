"""The settings axes of a cell (the store's config columns) and their display values.

One place for how a setting reads to a person (``"on"``/``"off"``, a
checkpoint's ``file@sha8`` label, a baseline's method name, ``none
(background off)``) and the order values sort in, shared by the Compare
grid, the blind votes and the figures. ``None`` means the setting does not
apply to that cell (e.g. the mask mode of a baseline).
"""

from __future__ import annotations

import json

__all__ = ["AXES", "NA", "NO_MASK", "axis_options", "axis_value", "is_baseline", "is_checkpoint_label", "matches",
           "params_text", "value_order"]

# Config fields offered as axes, in the order the page lists them.
AXES: dict[str, str] = {
    "sketch_checkpoint": "Sketch checkpoint / method",
    "mask_checkpoint": "Mask checkpoint",
    "resolution": "Resolution",
    "mask_mode": "Mask mode",
    "softctr": "softctr",
    "gamma": "Gamma",
    "merge": "Merge",
    "background": "Background",
    "precision": "Precision",
    "vectorize": "Vectorize",
    "profile": "Profile",
    "baseline_params": "Baseline parameters",
}
NO_MASK = "none (background off)"
NA = "n/a"


def _on_off(v) -> str | None:
    """A stored switch as ``on``/``off`` (None stays None: not applicable)."""
    return None if v is None else ("on" if v else "off")


def is_baseline(cell: dict) -> bool:
    """Whether a cell is a classical baseline (no networks)."""
    return cell.get("method") not in (None, "checkpoint")


def axis_value(cell: dict, axis: str) -> str | None:
    """The display value of ``axis`` for a cell, or None where the axis does not apply to it."""
    baseline = is_baseline(cell)
    if axis == "sketch_checkpoint":
        return cell["method"] if baseline else cell.get("sketch_checkpoint")
    if axis == "baseline_params":
        # Prefixed with the method: parameters of one baseline say nothing about another's cells.
        return f"{cell['method']}: {params_text(cell.get('baseline_params')) or 'defaults'}" if baseline else None
    if axis == "vectorize":
        return _on_off(cell.get("vectorize"))
    if baseline:
        return None
    if axis == "mask_checkpoint":
        return cell.get("mask_checkpoint") or NO_MASK
    if axis in ("mask_mode", "softctr") and not cell.get("background"):
        return None
    value = cell.get(axis)
    if value is None:
        return None
    if axis in ("gamma", "merge", "background"):
        return _on_off(value)
    if axis == "softctr":
        return f"{float(value):g}"
    return str(value)


def params_text(text: str | None) -> str | None:
    """Baseline parameters JSON as ``k=v, k=v`` (the raw text if it is not JSON)."""
    if not text:
        return None
    try:
        return ", ".join(f"{k}={v}" for k, v in json.loads(text).items())
    except (ValueError, AttributeError):
        return str(text)


def value_order(value: str):
    """Numbers in numeric order, then text; the no-mask value last among masks."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, "~" if value == NO_MASK else str(value))


def axis_options(cells: list[dict], axis: str) -> list[str]:
    """The distinct values (that apply) of ``axis`` among ``cells``, in natural order (checkpoints before baselines)."""
    values = {v for c in cells if (v := axis_value(c, axis)) is not None}
    if axis == "sketch_checkpoint":
        return sorted(values, key=lambda v: (not is_checkpoint_label(v), value_order(v)))
    return sorted(values, key=value_order)


def is_checkpoint_label(value: str) -> bool:
    """Checkpoint labels are ``file@sha8``; baseline names never hold an ``@``."""
    return "@" in str(value)


def matches(cell: dict, fixed: dict[str, str]) -> bool:
    """Whether a cell fits the fixed settings (an axis that does not apply to it always fits)."""
    for axis, wanted in fixed.items():
        value = axis_value(cell, axis)
        if value is None or value == wanted:
            continue
        if axis == "baseline_params" and value.split(":", 1)[0] != str(wanted).split(":", 1)[0]:
            continue  # another baseline's parameters
        if axis == "sketch_checkpoint" and is_baseline(cell) and is_checkpoint_label(wanted):
            continue  # a baseline has no Sketch Net: it sits beside whichever one is fixed
        return False
    return True

"""One-click comparisons the data supports: "424 vs 848", "soft vs hard", "stage1 vs stage2".

Plain functions over the store's settings combinations and checkpoint
records, testable without Streamlit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from core.axes import axis_options

__all__ = ["Preset", "checkpoint_stage", "presets"]


@dataclass
class Preset:
    """A one-click comparison: a column axis and the columns to show."""

    name: str
    axis: str
    values: list[str]


_STAGE = re.compile(r"stage[\s_-]*([12])(?!\d)", re.IGNORECASE)


def checkpoint_stage(file_name: str, metadata: dict | None = None) -> int | None:
    """1 or 2 when a Mask Net's file name or metadata says stage1/stage2, else None."""
    texts = [file_name or ""]
    for key, value in (metadata or {}).items():
        if str(key).lower() == "stage" and str(value).strip() in ("1", "2"):
            return int(str(value).strip())
        texts.append(f"{key} {value}")
    for text in texts:
        m = _STAGE.search(text)
        if m:
            return int(m.group(1))
    return None


def presets(cells: list[dict], checkpoints: list[dict]) -> list[Preset]:
    """The presets the data supports: "424 vs 848", "soft vs hard", "stage1 vs stage2"."""
    found = []
    resolutions = axis_options(cells, "resolution")
    if "424" in resolutions and "848" in resolutions:
        found.append(Preset("424 vs 848", "resolution", ["424", "848"]))
    modes = axis_options(cells, "mask_mode")
    if "soft" in modes and "hard" in modes:
        found.append(Preset("soft vs hard", "mask_mode", ["soft", "hard"]))
    stages: dict[int, list[str]] = {}
    masks = set(axis_options(cells, "mask_checkpoint"))
    for ckpt in checkpoints:
        if ckpt.get("label") not in masks:
            continue
        try:
            metadata = json.loads(ckpt.get("metadata_json") or "{}")
        except ValueError:
            metadata = {}
        stage = checkpoint_stage(ckpt.get("file_name") or ckpt["label"], metadata)
        if stage:
            stages.setdefault(stage, []).append(ckpt["label"])
    if stages.get(1) and stages.get(2):
        found.append(Preset("stage1 vs stage2", "mask_checkpoint", sorted(stages[1]) + sorted(stages[2])))
    return found

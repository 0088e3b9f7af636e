"""The cell: one input image under one full configuration, the unit a sweep computes and the store caches.

A cell's key (:func:`cell_key`) is the hash of the image's bytes, the
canonical configuration (which holds the checkpoints' sha256) and the
pipeline version: the same work gives the same key whatever the file names,
folders, sweep or executor, so a store never computes a cell twice. The key's
form must never change, or stores made before would be recomputed
(``tests/test_sweeps.py`` pins known keys).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core.pipeline.seed import PIPELINE_VERSION

__all__ = ["Cell", "ImageItem", "cell_key", "display_name"]


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
    config: dict  # canonical config (see core.sweeps.plan.plan_sweep)

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
            "gamma": _flag(c.get("gamma")),
            "merge": _flag(c.get("merge")),
            "background": _flag(c.get("background")),
            "profile": c["profile"],
            "precision": c.get("precision"),
            "vectorize": int(c["vectorize"]),
            "baseline_params": json.dumps(c["baseline_params"], sort_keys=True) if c.get("baseline_params") else None,
            "config_json": json.dumps(c, sort_keys=True),
            "pipeline_version": PIPELINE_VERSION,
        }

    def describe(self) -> str:
        """A short human description for logs: image, method and the settings that vary."""
        c = self.config
        if c["method"] != "checkpoint":
            return f"{self.image.name} · {c['method']}"
        mask = f"{c['mask_label']} {c['mask_mode']} {c['softctr']:g}" if c.get("background") else "no mask"
        extras = [c["precision"]] + (["no gamma"] if not c["gamma"] else []) + (["merge"] if c["merge"] else [])
        return f"{self.image.name} · {c['sketch_label']} {c['resolution']} px · {mask} · {' '.join(extras)}"


def _flag(value) -> int | None:
    return None if value is None else int(bool(value))


def cell_key(image_sha256: str, config: dict) -> str:
    """The cache key: input bytes, checkpoint hashes (inside config), canonical config, pipeline version."""
    payload = json.dumps({"image": image_sha256, "config": config, "pipeline": PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def display_name(path: Path | str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")

"""The project's three test sets, built in one call and rebuilt only when out of date.

:func:`build_all` builds under one root:

* ``photos``          - real photographs shipped inside scikit-image (:mod:`core.data.photos`, no download);
* ``objects-train``   - synthetic centred objects (:mod:`core.data.scenes`);
* ``objects-heldout`` - the same recipe with disjoint shape families and backgrounds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.data import photos, scenes
from core.data.testset import verify
from core.errors import DatasetError

__all__ = ["DEFAULT_HELDOUT_COUNT", "DEFAULT_TRAIN_COUNT", "build_all", "is_up_to_date"]

log = logging.getLogger(__name__)

DEFAULT_TRAIN_COUNT = 24
DEFAULT_HELDOUT_COUNT = 24


def is_up_to_date(folder: Path, function: str, parameters: dict, seed: Any) -> bool:
    """Return True when the set's manifest records the same build request and every file matches its hash."""
    try:
        manifest = verify(folder)
    except DatasetError:
        return False
    made = manifest.get("created_with", {})
    return made.get("function") == function and made.get("parameters") == parameters and made.get("seed") == seed


def build_all(root: str | Path, train_count: int = DEFAULT_TRAIN_COUNT, heldout_count: int = DEFAULT_HELDOUT_COUNT,
              seed: int = scenes.DEFAULT_SEED, size: int = scenes.DEFAULT_SIZE,
              line_width: int = scenes.DEFAULT_LINE_WIDTH, force: bool = False) -> dict[str, Path]:
    """Build the photos, objects-train and objects-heldout sets under ``root``; return ``{name: folder}``.

    A set is skipped when its manifest records the same build parameters and all
    its files match their hashes, unless ``force``. The defaults (24 + 24 scenes
    at 256 px) take a few seconds on a 2-core CPU.
    """
    root = Path(root)
    out: dict[str, Path] = {}
    # looked up on the modules at call time, so a caller (or a test) can swap the catalogue or a builder
    photos_params = {"ids": [p.id for p in photos.PHOTO_CATALOGUE]}
    if force or not is_up_to_date(root / photos.PHOTOS, photos.BUILD_FUNCTION, photos_params, None):
        log.info("building %s", root / photos.PHOTOS)
        out[photos.PHOTOS] = photos.build_photos(root)
    else:
        log.info("%s is up to date", root / photos.PHOTOS)
        out[photos.PHOTOS] = root / photos.PHOTOS
    for split, count in ((scenes.OBJECTS_TRAIN, train_count), (scenes.OBJECTS_HELDOUT, heldout_count)):
        params = {"split": split, "count": count, "size": size, "line_width": line_width}
        if force or not is_up_to_date(root / split, scenes.BUILD_FUNCTION, params, seed):
            log.info("building %s (%d scenes)", root / split, count)
            out[split] = scenes.build_objects(root, split, count, seed=seed, size=size, line_width=line_width)
        else:
            log.info("%s is up to date", root / split)
            out[split] = root / split
    return out

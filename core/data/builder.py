"""The project's three test sets, built in one call and rebuilt only when out of date.

:func:`build_all` builds under one root:

* ``photos``          - real photographs shipped inside scikit-image (:mod:`core.data.photos`, no download);
* ``objects-train``   - synthetic centred objects (:mod:`core.data.scenes`);
* ``objects-heldout`` - the same recipe with disjoint shape families and backgrounds;
* ``objects-train-small`` - the first 6 scenes of ``objects-train`` (the demo's overfitting run trains on them);
* ``photos-train`` / ``photos-heldout`` - the photos split for the demo's training (:mod:`core.data.photos`);
* with ``training=True``: ``sketch-train`` and ``masks-train``, the demo's augmented training sets
  (:mod:`core.data.trainsets`, about a minute each).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.data import photos, scenes, trainsets
from core.data.testset import verify
from core.errors import DatasetError

__all__ = ["DEFAULT_HELDOUT_COUNT", "DEFAULT_TRAIN_COUNT", "TRAINING_COUNTS", "build_all", "is_up_to_date"]

log = logging.getLogger(__name__)

DEFAULT_TRAIN_COUNT = 24
DEFAULT_HELDOUT_COUNT = 24
# Items of the demo's training sets (built with training=True), at 256 px.
TRAINING_COUNTS = {trainsets.SKETCH_TRAIN: 800, trainsets.MASKS_TRAIN: 800}
TRAINING_SIDE = 256


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
              line_width: int = scenes.DEFAULT_LINE_WIDTH, force: bool = False,
              training: bool = False) -> dict[str, Path]:
    """Build the photos, objects and photo-split sets (and the training sets) under ``root``; return ``{name: folder}``.

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
    small = scenes.OBJECTS_TRAIN_SMALL
    params = {"split": scenes.OBJECTS_TRAIN, "count": min(scenes.SMALL_COUNT, train_count), "size": size,
              "line_width": line_width, "name": small}
    if force or not is_up_to_date(root / small, scenes.BUILD_FUNCTION, params, seed):
        log.info("building %s (the first %d scenes of %s)", root / small, params["count"], scenes.OBJECTS_TRAIN)
        out[small] = scenes.build_objects(root, scenes.OBJECTS_TRAIN, params["count"], seed=seed, size=size,
                                          line_width=line_width, name=small)
    else:
        out[small] = root / small
    catalogue = {p.id for p in photos.PHOTO_CATALOGUE}
    for split in [s for s in photos.PHOTO_SPLITS if catalogue & set(photos.PHOTO_SPLITS[s])]:
        params = {"split": split, "ids": list(photos.PHOTO_SPLITS[split])}
        if force or not is_up_to_date(root / split, photos.SPLIT_BUILD_FUNCTION, params, None):
            log.info("building %s", root / split)
            out[split] = photos.build_photo_split(root, split)
        else:
            out[split] = root / split
    for name in trainsets.TRAIN_SETS if training else ():
        count = TRAINING_COUNTS[name]
        params = {"name": name, "count": count, "side": TRAINING_SIDE}
        if force or not is_up_to_date(root / name, trainsets.TRAINSET_BUILD_FUNCTION, params, seed):
            log.info("building %s (%d items)", root / name, count)
            out[name] = trainsets.build_train_set(root, name, count, seed=seed, side=TRAINING_SIDE)
        else:
            log.info("%s is up to date", root / name)
            out[name] = root / name
    return out

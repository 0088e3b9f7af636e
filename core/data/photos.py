"""The photos test set: real photographs shipped inside scikit-image, loaded offline (nothing is downloaded).

:data:`PHOTO_CATALOGUE` lists each photo with its licence as scikit-image
documents it; :func:`build_photos` writes the ones installed locally as the
``photos`` set (format: :mod:`core.data.testset`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.data.testset import SetWriter, library_versions
from core.errors import DatasetError

__all__ = [
    "BUILD_FUNCTION",
    "PHOTOS",
    "PHOTO_CATALOGUE",
    "PHOTO_EXCLUDED",
    "Photo",
    "build_photos",
    "load_photo",
    "skimage_data_dir",
]

log = logging.getLogger(__name__)

PHOTOS = "photos"
# Recorded in each manifest under its historical name (the function lived in core.data.testsets):
# a new name would change the manifests' bytes and make every built set look out of date.
BUILD_FUNCTION = "core.data.testsets.build_photos"


@dataclass(frozen=True)
class Photo:
    """A real photograph shipped with scikit-image, how to load it offline, and its licence as documented there."""

    id: str
    loader: str  # function name in skimage.data
    files: tuple[str, ...]  # files the loader reads from the installed skimage/data folder
    shape: tuple[int, int]  # (height, width)
    licence: str
    source: str
    pick: Callable[[Any], np.ndarray] = lambda x: x


# Licence notes summarise the docstrings of the skimage.data loader functions: the
# installed data/README.txt only explains how to download the full data set.
PHOTO_CATALOGUE: tuple[Photo, ...] = (
    Photo("astronaut", "astronaut", ("astronaut.png",), (512, 512),
          "Public domain: 'No known copyright restrictions, released into the public domain' (NASA).",
          "Eileen Collins, NASA Great Images database"),
    Photo("chelsea", "chelsea", ("chelsea.png",), (300, 451),
          "CC0: 'No copyright restrictions. CC0 by the photographer (Stefan van der Walt)'.",
          "Chelsea the cat, Stefan van der Walt"),
    Photo("coffee", "coffee", ("coffee.png",), (400, 600),
          "CC0: 'No copyright restrictions. CC0 by the photographer (Rachel Michetti)'.",
          "Coffee cup, courtesy of Pikolo Espresso Bar"),
    Photo("rocket", "rocket", ("rocket.jpg",), (427, 640),
          "Public domain: captured by SpaceX and released into the public domain.",
          "Launch of DSCOVR on Falcon 9, SpaceX Photos (Flickr)"),
    Photo("motorcycle_left", "stereo_motorcycle", ("motorcycle_left.png", "motorcycle_right.png", "motorcycle_disp.npz"),
          (500, 741),
          "No licence stated by scikit-image; from the Middlebury 2014 stereo benchmark "
          "(Scharstein et al., GCPR 2014), cite it when publishing results.",
          "Middlebury 2014 stereo data set, left view, downsampled 4x", pick=lambda r: r[0]),
    Photo("camera", "camera", ("camera.png",), (512, 512),
          "CC0: 'No copyright restrictions. CC0 by the photographer (Lav Varshney)'. Grayscale, stored as gray RGB.",
          "Camera man photograph (replaced in skimage 0.18), Lav Varshney"),
    Photo("coins", "coins", ("coins.png",), (303, 384),
          "'No known copyright restrictions' (Brooklyn Museum collection). Grayscale, stored as gray RGB.",
          "Greek coins from Pompeii, Brooklyn Museum"),
    Photo("clock", "clock", ("clock_motion.png",), (300, 400),
          "Public domain: 'Released into the public domain by the photographer (Stefan van der Walt)'. "
          "Grayscale and motion-blurred, stored as gray RGB.",
          "Wall clock photographed while moving the camera"),
)

# Considered and left out, recorded in the manifest so the choice is visible.
PHOTO_EXCLUDED = {
    "eagle": "real photo but not shipped in the wheel (needs a download via pooch)",
    "moon": "real photo but scikit-image states no licence",
    "hubble_deep_field": "telescope survey field, no object to sketch",
    "retina": "medical fundus photograph (1411x1411)",
    "immunohistochemistry, cell, kidney, lily, skin, microaneurysms": "microscopy / medical images, not photographs of objects",
    "grass, gravel, brick": "texture close-ups; used as backgrounds of the objects sets instead",
    "text, page, horse, logo, colorwheel, checkerboard, binary_blobs": "drawings, scans or synthetic images, not photographs",
}


def skimage_data_dir() -> Path:
    """Return the folder of the installed scikit-image sample data."""
    import skimage.data

    return Path(skimage.data.__file__).parent


def load_photo(photo: Photo) -> np.ndarray | None:
    """Return a catalogue photo as uint8 RGB, or None when its files are not installed (nothing is downloaded)."""
    import skimage.data

    data_dir = skimage_data_dir()
    # skimage.data falls back to pooch (a download) for files missing locally; check first so we never reach it
    if not all((data_dir / f).is_file() for f in photo.files):
        return None
    try:
        image = np.asarray(photo.pick(getattr(skimage.data, photo.loader)()))
    except Exception:  # noqa: BLE001 - a loader that fails offline (hash mismatch, missing pooch) is skipped
        return None
    if image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def build_photos(root: str | Path) -> Path:
    """Build ``<root>/photos/``: the real photographs shipped inside scikit-image, as RGB PNGs; return the folder.

    Only photos whose files are installed locally are included (nothing is
    downloaded); skipped ones are listed in the manifest under ``skipped``.

    Raises:
        DatasetError: none of the photos is available (scikit-image install without its sample data).
    """
    folder = Path(root) / PHOTOS
    writer = SetWriter(folder)
    licences, skipped = {}, {}
    for photo in PHOTO_CATALOGUE:
        image = load_photo(photo)
        if image is None:
            skipped[photo.id] = "not installed locally (would need a download)"
            log.info("photo %s skipped: not installed in %s", photo.id, skimage_data_dir())
            continue
        writer.add(photo.id, image, licence=photo.licence, source=photo.source,
                   skimage_loader=f"skimage.data.{photo.loader}")
        licences[photo.id] = photo.licence
    if not writer.entries:
        raise DatasetError(
            f"none of the scikit-image sample photos is installed in {skimage_data_dir()}; "
            "reinstall scikit-image from a wheel (it ships them)"
        )
    return writer.finish({
        "name": PHOTOS,
        "split": PHOTOS,
        "source": "Real photographs shipped inside the scikit-image package (skimage.data), loaded offline.",
        "licence": "Per image, as stated in the skimage.data docstrings (see each file's 'licence'): "
                   "public domain or CC0 except where noted.",
        "licences": licences,
        "created_with": {"function": BUILD_FUNCTION,
                         "parameters": {"ids": [p.id for p in PHOTO_CATALOGUE]},
                         "seed": None, "versions": library_versions()},
        "excluded": PHOTO_EXCLUDED,
        "skipped": skipped,
    })



# --------------------------------------------------------------------------- train / held-out split

PHOTOS_TRAIN = "photos-train"
PHOTOS_HELDOUT = "photos-heldout"
SPLIT_BUILD_FUNCTION = "core.data.photos.build_photo_split"
# Which real photos training may see. The held-out ones are never read by any training
# set (the objects sets' backgrounds included), so scores on them measure generalisation;
# astronaut is a background of objects-heldout only, which no training reads either.
PHOTO_SPLITS: dict[str, tuple[str, ...]] = {
    PHOTOS_TRAIN: ("chelsea", "coffee", "rocket", "coins", "clock"),
    PHOTOS_HELDOUT: ("astronaut", "motorcycle_left", "camera"),
}
# Photos whose subject sits near the centre with background all round it (checked by eye):
# where a Mask Net's mask should cover the centre and leave the frame out. The cat's face
# fills its frame and the coins are a grid, so neither has one.
CENTRED_SUBJECTS = ("astronaut", "motorcycle_left", "camera", "coffee", "rocket", "clock")
# Read by no training set either: the other view of a held-out stereo pair.
PHOTOS_NEVER_TRAINED = ("motorcycle_right",)


def build_photo_split(root: str | Path, split: str) -> Path:
    """Build ``<root>/photos-train/`` or ``<root>/photos-heldout/``: the catalogue photos of that split.

    Raises:
        DatasetError: unknown split, or none of its photos is installed.
    """
    if split not in PHOTO_SPLITS:
        raise DatasetError(f"unknown photo split {split!r}; choose one of {', '.join(PHOTO_SPLITS)}")
    folder = Path(root) / split
    writer = SetWriter(folder)
    licences, skipped = {}, {}
    for photo in PHOTO_CATALOGUE:
        if photo.id not in PHOTO_SPLITS[split]:
            continue
        image = load_photo(photo)
        if image is None:
            skipped[photo.id] = "not installed locally (would need a download)"
            continue
        writer.add(photo.id, image, licence=photo.licence, source=photo.source,
                   skimage_loader=f"skimage.data.{photo.loader}", centred_subject=photo.id in CENTRED_SUBJECTS)
        licences[photo.id] = photo.licence
    if not writer.entries:
        raise DatasetError(f"none of the {split} photos is installed in {skimage_data_dir()}; reinstall scikit-image")
    other = next(s for s in PHOTO_SPLITS if s != split)
    return writer.finish({
        "name": split,
        "split": split,
        "source": "Real photographs shipped inside the scikit-image package (skimage.data), loaded offline; "
                  f"the {split.removeprefix('photos-')} split of the demo's training.",
        "licence": "Per image, as stated in the skimage.data docstrings (see each file's 'licence').",
        "licences": licences,
        "created_with": {"function": SPLIT_BUILD_FUNCTION, "parameters": {"split": split,
                         "ids": list(PHOTO_SPLITS[split])}, "seed": None, "versions": library_versions()},
        "design": {"disjoint_from": other, "never_trained": list(PHOTO_SPLITS[PHOTOS_HELDOUT]
                                                                  + PHOTOS_NEVER_TRAINED)},
        "skipped": skipped,
    })

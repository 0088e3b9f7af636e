"""The demo's training sets: many augmented views of the few training photos, composites and generated scenes.

* ``sketch-train`` - views of the training photos (random crop, scale, rotation,
  flip, colour jitter), training-photo cut-outs pasted on generated textures, and
  objects-train-style scenes; no drawings (the Sketch Net's target is made from
  each image at training time, :mod:`core.training.sketch`).
* ``masks-train``  - objects-train-style scenes with exact masks, composites of
  the training photos' reviewed GrabCut cut-outs on generated textures and
  training-photo backgrounds (exact masks of what was pasted), and centred views
  of those photos with their pseudo-label masks.

Only photos of the ``photos-train`` split and the objects-train backgrounds are
read, so nothing of ``photos-heldout`` or ``objects-heldout`` is ever trained on.
Item ``i`` depends only on ``(seed, set, i, side)``; every item's source and
drawn transform go into the manifest.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.data.augment import GENERATED_TEXTURES, composite, jitter_colour, make_texture, random_view
from core.data.photos import PHOTO_CATALOGUE, PHOTO_SPLITS, PHOTOS_TRAIN, load_photo, skimage_data_dir
from core.data.pseudolabels import GRABCUT_SETTINGS, PSEUDO_LABEL_REVIEW, subject_masks
from core.data.scenes import BACKGROUND_PHOTOS, OBJECTS_TRAIN, SPLIT_DESIGN, TEXTURES, render_scene
from core.data.shapes import SHAPE_FAMILIES
from core.data.testset import SetWriter, library_versions
from core.errors import DatasetError

__all__ = ["MASKS_TRAIN", "SKETCH_TRAIN", "TRAINSET_BUILD_FUNCTION", "TRAIN_SETS", "build_train_set"]

SKETCH_TRAIN = "sketch-train"
MASKS_TRAIN = "masks-train"
TRAIN_SETS = (SKETCH_TRAIN, MASKS_TRAIN)
TRAINSET_BUILD_FUNCTION = "core.data.trainsets.build_train_set"

# objects-train backgrounds that are pure texture, used behind composites.
BACKDROP_TEXTURES = ("skimage:grass",)

# Share of each kind of item, in the order items cycle through them (10 per round).
RECIPES = {
    SKETCH_TRAIN: ("photo",) * 6 + ("composite",) * 2 + ("scene",) * 2,
    # few photo views: the reviewed subjects nearly fill their photos, and the Mask Net must
    # learn to leave the frame out
    MASKS_TRAIN: ("scene",) * 4 + ("composite",) * 5 + ("photo",),
}


class _Sources:
    """The images the builders draw from, loaded once: training photos, kept cut-outs, scene backgrounds."""

    def __init__(self, need_subjects: bool):
        """Load the training photos (and their reviewed cut-outs when ``need_subjects``)."""
        train_ids = PHOTO_SPLITS[PHOTOS_TRAIN]
        self.photos = {p.id: img for p in PHOTO_CATALOGUE if p.id in train_ids
                       and (img := load_photo(p)) is not None}
        if not self.photos:
            raise DatasetError(f"none of the training photos is installed in {skimage_data_dir()}; reinstall scikit-image")
        self.subjects = subject_masks(train_ids) if need_subjects else {}
        if need_subjects and not self.subjects:
            raise DatasetError("no training photo with a kept pseudo-label mask is installed; reinstall scikit-image")
        import skimage.data

        design = SPLIT_DESIGN[OBJECTS_TRAIN]
        self.scene_photos = {s: np.asarray(getattr(skimage.data, BACKGROUND_PHOTOS[s][0])())
                             for s in design["background_sources"] if s in BACKGROUND_PHOTOS}
        # Backdrops hold no subject: a photo with one (the cat) would teach that subjects are background.
        self.backdrops = [k for k in self.scene_photos if k in BACKDROP_TEXTURES]


def _scene(rng: np.random.Generator, src: _Sources, side: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """An objects-train-style scene (train shape families and backgrounds only)."""
    design = SPLIT_DESIGN[OBJECTS_TRAIN]
    family = design["shape_families"][int(rng.integers(len(design["shape_families"])))]
    source = design["background_sources"][int(rng.integers(len(design["background_sources"])))]
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    image, mask, _drawing, info = render_scene(rng, family, source, texture, side, 2, src.scene_photos)
    return image, mask, {"kind": "scene", **info}


def _backdrop(rng: np.random.Generator, src: _Sources, side: int) -> tuple[np.ndarray, str]:
    """A background: a generated texture or a view of an objects-train background texture (no subject in it)."""
    if src.backdrops and rng.random() < 0.3:
        name = src.backdrops[int(rng.integers(len(src.backdrops)))]
        view, _, _ = random_view(rng, src.scene_photos[name], side, scale=(0.3, 1.0))
        if view.ndim == 2:  # a grey texture: tinted, as the scenes tint it
            view = np.rint(view[:, :, None] * rng.uniform(0.55, 1.0, 3)).astype(np.uint8)
        view, _ = jitter_colour(rng, view)
        return view, name
    kind = GENERATED_TEXTURES[int(rng.integers(len(GENERATED_TEXTURES)))]
    return make_texture(rng, kind, side), f"texture:{kind}"


def _composite(rng: np.random.Generator, src: _Sources, side: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """A cut-out pasted near the centre of a backdrop, colours jittered.

    Half are the training photos' reviewed subjects; half are objects-train
    shape outlines cut out of a view of a training photo, so objects come with
    real photographic texture, not only flat fills.
    """
    if rng.random() < 0.5:
        names = sorted(src.subjects)
        name = names[int(rng.integers(len(names)))]
        obj, mask = src.subjects[name]
        what = f"photo:{name}"
    else:
        families = SPLIT_DESIGN[OBJECTS_TRAIN]["shape_families"]
        family = families[int(rng.integers(len(families)))]
        names = sorted(src.photos)
        name = names[int(rng.integers(len(names)))]
        obj, _, _ = random_view(rng, src.photos[name], side, scale=(0.3, 0.9))
        pts = SHAPE_FAMILIES[family](rng, side * 0.3) + (side - 1) / 2
        mask = np.zeros((side, side), np.uint8)
        cv2.fillPoly(mask, [np.rint(pts).astype(np.int32)], 255)
        what = f"shape:{family} cut from photo:{name}"
    obj, colour = jitter_colour(rng, obj, 0.7)
    back, back_name = _backdrop(rng, src, side)
    image, pasted, params = composite(rng, obj, mask, back)
    return image, pasted, {"kind": "composite", "object": what, "background": back_name,
                           "colour": colour, **params}


def _photo_view(rng: np.random.Generator, src: _Sources, side: int, with_mask: bool):
    """A view of a training photo: anywhere for sketches, centred on the subject (with its mask) for masks."""
    if with_mask:
        names = sorted(src.subjects)
        name = names[int(rng.integers(len(names)))]
        photo, mask = src.subjects[name]
        view, mview, params = random_view(rng, photo, side, mask, scale=(0.95, 1.25), max_angle=10.0,
                                          centre_jitter=0.06)
    else:
        names = sorted(src.photos)
        name = names[int(rng.integers(len(names)))]
        view, mview, params = random_view(rng, src.photos[name], side, scale=(0.35, 1.0))
    view, colour = jitter_colour(rng, view)
    return view, mview, {"kind": "photo", "photo": name, "view": params, "colour": colour}


def build_train_set(root: str | Path, name: str, count: int, seed: int = 0, side: int = 256) -> Path:
    """Build ``<root>/<name>/`` (``sketch-train`` or ``masks-train``) with ``count`` items of ``side`` px.

    Raises:
        DatasetError: unknown set, non-positive count or side below 64, or photos missing from the install.
    """
    if name not in RECIPES:
        raise DatasetError(f"unknown training set {name!r}; choose one of {', '.join(RECIPES)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DatasetError(f"count must be a positive whole number, got {count!r}")
    if isinstance(side, bool) or not isinstance(side, int) or side < 64:
        raise DatasetError(f"side must be a whole number of at least 64 pixels, got {side!r}")
    masks = name == MASKS_TRAIN
    src = _Sources(need_subjects=True)
    writer = SetWriter(Path(root) / name)
    recipe = RECIPES[name]
    for i in range(count):
        rng = np.random.default_rng([seed, TRAIN_SETS.index(name), i])
        kind = recipe[i % len(recipe)]
        if kind == "scene":
            image, mask, info = _scene(rng, src, side)
        elif kind == "composite":
            image, mask, info = _composite(rng, src, side)
        else:
            image, mask, info = _photo_view(rng, src, side, with_mask=masks)
        writer.add(f"{name.split('-')[0]}-{i:05d}", image, mask if masks else None, None, **info)
    licences = {k: p.licence for p in PHOTO_CATALOGUE for k in src.photos if p.id == k}
    return writer.finish({
        "name": name,
        "split": name,
        "source": f"Generated by {TRAINSET_BUILD_FUNCTION} from the photos-train split of the scikit-image photos "
                  "and the objects-train scene recipe; recipe per round of 10 items: " + ", ".join(recipe) + ".",
        "licence": "Derived from scikit-image sample photos (per photo below) and generated textures. Scene "
                   "backgrounds: " + "; ".join(f"{k}: {BACKGROUND_PHOTOS[k][2]}" for k in src.scene_photos) + ".",
        "licences": licences,
        "created_with": {"function": TRAINSET_BUILD_FUNCTION,
                         "parameters": {"name": name, "count": count, "side": side},
                         "seed": seed, "versions": library_versions()},
        "design": {
            "photos": sorted(src.photos),
            "never_read": "photos-heldout and the objects-heldout shape families and backgrounds",
            "transforms": "photo: random crop (scale, position), rotation with mirrored borders, mirror, colour "
                          "jitter (brightness, contrast, saturation, balance); composite: reviewed cut-out "
                          "scaled, rotated, mirrored and pasted near the centre with a 1-px feather",
            "masks": ("scenes and composites: exact; photo views: GrabCut pseudo-labels, reviewed"
                      if masks else "none"),
            "pseudo_labels": {"method": "cv2.grabCut from a centre rectangle", "settings": GRABCUT_SETTINGS,
                              "review": {k: {"kept": v[0], "note": v[1]} for k, v in PSEUDO_LABEL_REVIEW.items()}},
        },
    })

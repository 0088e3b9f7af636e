"""Synthetic object scenes: one centred object on a background, with its exact mask and line drawing.

Two splits are built (:func:`build_objects`):

* ``objects-train``   - shape families and background sources "A"/"X";
* ``objects-heldout`` - same recipe with *disjoint* shape families and background sources "B"/"Y",
  so a checkpoint tuned on the first can be checked on shapes and backgrounds it never saw.

Every random draw comes from a generator keyed by ``(seed, split, index)``, so
the files are byte-identical run to run; their hashes are cell keys, and the
order of the draws below is part of the recipe.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from core.data.photos import skimage_data_dir
from core.data.shapes import SHAPE_FAMILIES
from core.data.testset import SetWriter, library_versions
from core.errors import DatasetError

__all__ = [
    "BACKGROUND_PHOTOS",
    "BUILD_FUNCTION",
    "DEFAULT_LINE_WIDTH",
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "OBJECTS_HELDOUT",
    "OBJECTS_TRAIN",
    "OBJECTS_TRAIN_SMALL",
    "SMALL_COUNT",
    "OBJECT_SPLITS",
    "OPTICS_BLUR_SIGMA",
    "SPLIT_DESIGN",
    "TEXTURES",
    "build_objects",
    "render_scene",
]

OBJECTS_TRAIN = "objects-train"
OBJECTS_HELDOUT = "objects-heldout"
OBJECT_SPLITS = (OBJECTS_TRAIN, OBJECTS_HELDOUT)
# The first scenes of objects-train, for a run that shows overfitting (the demo's MaskNet_v2_small).
OBJECTS_TRAIN_SMALL, SMALL_COUNT = "objects-train-small", 6
DEFAULT_SIZE = 256
DEFAULT_SEED = 0
DEFAULT_LINE_WIDTH = 2
# Recorded in each manifest under its historical name (the function lived in core.data.testsets):
# a new name would change the manifests' bytes and make every built set look out of date.
BUILD_FUNCTION = "core.data.testsets.build_objects"

TEXTURES = ("flat", "stripes", "noise", "gradient", "inset")
OPTICS_BLUR_SIGMA = 0.6  # Gaussian sigma applied to each rendered scene (see render_scene)

# skimage images used for background crops; gray textures are tinted at render time
BACKGROUND_PHOTOS = {
    "skimage:chelsea": ("chelsea", ("chelsea.png",), "CC0 (Stefan van der Walt)"),
    "skimage:coffee": ("coffee", ("coffee.png",), "CC0 (Rachel Michetti)"),
    "skimage:grass": ("grass", ("grass.png",), "CC0 (DeviantArt linolafett, CC0 licence)"),
    "skimage:rocket": ("rocket", ("rocket.jpg",), "public domain (SpaceX)"),
    "skimage:astronaut": ("astronaut", ("astronaut.png",), "public domain (NASA)"),
    "skimage:brick": ("brick", ("brick.png",), "CC0 (CC0Textures)"),
    "skimage:gravel": ("gravel", ("gravel.png",), "CC0 (CC0Textures)"),
}

# The two splits share no shape family and no background source, so held-out scores
# measure generalisation to unseen outlines and unseen clutter. Textures are shared on
# purpose: they carry the internal detail lines both splits need.
SPLIT_DESIGN: dict[str, dict[str, tuple[str, ...]]] = {
    OBJECTS_TRAIN: {
        "shape_families": ("ellipse", "rounded_rectangle", "star", "polygon"),
        "background_sources": ("plain", "gradient", "skimage:chelsea", "skimage:coffee", "skimage:grass"),
    },
    OBJECTS_HELDOUT: {
        "shape_families": ("heart", "fourier_blob", "cross", "crescent"),
        "background_sources": ("noise", "skimage:rocket", "skimage:astronaut", "skimage:brick", "skimage:gravel"),
    },
}


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """Return a random float32 RGB colour."""
    return rng.integers(0, 256, 3).astype(np.float32)


def _linear_ramp(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return an ``HxW`` float ramp 0..1 along a random direction."""
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = xx * math.cos(theta) + yy * math.sin(theta)
    return (u - u.min()) / max(float(u.max() - u.min()), 1e-6)


def _blend(ramp: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Return the ``HxWx3`` mix of two colours along a 0..1 ramp (0 = ``c1``)."""
    return ramp[:, :, None] * c2 + (1 - ramp[:, :, None]) * c1


def _background(rng: np.random.Generator, source: str, size: int, photos: dict[str, np.ndarray]) -> np.ndarray:
    """Return a float32 ``size x size x 3`` background for a source name."""
    if source == "plain":
        return np.broadcast_to(_random_colour(rng), (size, size, 3)).astype(np.float32)
    if source == "gradient":
        return _blend(_linear_ramp(rng, size), _random_colour(rng), _random_colour(rng))
    if source == "noise":
        # blurred noise reads as a mottled surface rather than sensor grain
        noise = rng.standard_normal((size, size)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), float(rng.uniform(1.5, 5.0)))
        noise /= max(float(noise.std()), 1e-6)
        return _random_colour(rng) + rng.uniform(15, 40) * noise[:, :, None]
    photo = photos[source]
    h, w = photo.shape[:2]
    if min(h, w) < size:
        scale = size / min(h, w)
        photo = cv2.resize(photo, (max(size, round(w * scale)), max(size, round(h * scale))), interpolation=cv2.INTER_LINEAR)
        h, w = photo.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    crop = photo[y:y + size, x:x + size].astype(np.float32)
    if crop.ndim == 2:  # gray texture: tint it so backgrounds are not all gray
        crop = crop[:, :, None] * (rng.uniform(0.55, 1.0, 3).astype(np.float32))
    return crop


def _place(points: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Rotate a polygon randomly, put its area centroid at the image centre, keep it inside the frame."""
    theta = rng.uniform(0, 2 * np.pi)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    pts = points @ rot.T
    x, y = pts[:, 0], pts[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2
    if abs(area) > 1e-9:
        # area centroid, not vertex mean: hearts and crescents have vertices bunched on one side
        pts = pts - np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (6 * area)
    reach = float(np.abs(pts).max())
    limit = 0.44 * size
    if reach > limit:
        pts *= limit / reach
    return pts + (size - 1) / 2.0


def _luma(rgb: np.ndarray) -> float:
    """Return the Rec. 601 luminance of an RGB colour (what cv2's RGB2GRAY gives)."""
    return float(rgb[0]) * 0.299 + float(rgb[1]) * 0.587 + float(rgb[2]) * 0.114


def _pick_colour(rng: np.random.Generator, rules: list[tuple[np.ndarray, float, float, int]]) -> np.ndarray:
    """Draw a colour that satisfies every rule ``(against, min_rgb_distance, min_luma_gap, side)``.

    ``side`` is 0 for "either way", +1 for "brighter than ``against``", -1 for
    "darker". Luminance matters as well as hue: gray-based sketch methods (and
    the baselines) cannot see an edge between two colours of equal luminance.
    Falls back to the best of 64 tries.
    """
    best, best_score = None, -np.inf
    for _ in range(64):
        c = _random_colour(rng)
        score = np.inf
        for against, min_rgb, min_luma, side in rules:
            gap = _luma(c) - _luma(against)
            gap = side * gap if side else abs(gap)
            score = min(score, float(np.linalg.norm(c - against)) / min_rgb, gap / min_luma)
        if score >= 1.0:
            return c
        if score > best_score:
            best, best_score = c, score
    return best


def render_scene(rng: np.random.Generator, family: str, source: str, texture: str, size: int,
                   line_width: int, photos: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Render one scene; return (RGB image, 0/255 mask, line drawing, parameters for the manifest)."""
    bg = _background(rng, source, size, photos)
    radius = size * rng.uniform(0.26, 0.36)
    pts = _place(SHAPE_FAMILIES[family](rng, radius), rng, size)
    poly = np.rint(pts).astype(np.int32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_8)
    inside = mask > 0

    # the object's colour must stand out from what surrounds its edge, or the outline would be invisible
    ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0
    ring &= ~inside
    bg_mean = bg[ring].mean(axis=0) if ring.any() else bg.reshape(-1, 3).mean(axis=0)
    c1 = _pick_colour(rng, [(bg_mean, 100.0, 50.0, 0)])
    if texture in ("stripes", "gradient"):
        # c2 also meets the background at the outline, so it must stand out on the same side as c1
        side = 1 if _luma(c1) >= _luma(bg_mean) else -1
        c2 = _pick_colour(rng, [(bg_mean, 60.0, 50.0, side), (c1, 60.0, 30.0, 0)])
    else:
        c2 = _pick_colour(rng, [(c1, 80.0, 35.0, 0)])

    drawing = np.full((size, size), 255, np.uint8)
    detail = np.full((size, size), 255, np.uint8)
    detail_width = max(1, line_width - 1)
    if texture == "flat":
        fill = np.broadcast_to(c1, (size, size, 3))
    elif texture == "stripes":
        theta = rng.uniform(0, np.pi)
        period = size * rng.uniform(0.04, 0.09)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        u = xx * math.cos(theta) + yy * math.sin(theta)
        band = (np.floor(u / period).astype(np.int64) % 2).astype(bool)
        fill = np.where(band[:, :, None], c2, c1)
        # one line per stripe boundary u = j * period, long enough to cross the frame
        normal, along = np.array([math.cos(theta), math.sin(theta)]), np.array([-math.sin(theta), math.cos(theta)])
        for j in range(int(np.floor(u.min() / period)), int(np.ceil(u.max() / period)) + 1):
            p0 = j * period * normal - 2 * size * along
            p1 = j * period * normal + 2 * size * along
            cv2.line(detail, tuple(int(v) for v in np.rint(p0)), tuple(int(v) for v in np.rint(p1)), 0,
                     detail_width, lineType=cv2.LINE_8)
    elif texture == "noise":
        noise = rng.standard_normal((size, size)).astype(np.float32) * rng.uniform(8, 20)
        fill = c1 + noise[:, :, None]
    elif texture == "gradient":
        fill = _blend(_linear_ramp(rng, size), c1, c2)
    elif texture == "inset":
        centre = (size - 1) / 2.0
        inner = np.rint(centre + (pts - centre) * rng.uniform(0.45, 0.65)).astype(np.int32)
        inset_mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(inset_mask, [inner], 255, lineType=cv2.LINE_8)
        fill = np.where(inset_mask[:, :, None] > 0, c2, c1)
        cv2.polylines(detail, [inner], True, 0, detail_width, lineType=cv2.LINE_8)
    else:  # pragma: no cover - TEXTURES is closed
        raise DatasetError(f"unknown texture {texture!r}; choose one of {TEXTURES}")

    image = np.where(inside[:, :, None], fill, bg).astype(np.float32)
    # a slight optical blur: real photos never have one-pixel aliased steps, and some
    # methods (cv2.pencilSketch) see nothing on them; the mask stays the exact shape
    image = cv2.GaussianBlur(image, (0, 0), OPTICS_BLUR_SIGMA)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    # detail lines only count inside the object, away from its outline
    interior = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
    drawing[interior & (detail == 0)] = 0
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(drawing, contours, -1, 0, line_width, lineType=cv2.LINE_8)

    info = {"shape": family, "background": source, "texture": texture, "radius": round(float(radius), 2),
            "object_rgb": [int(v) for v in np.clip(np.rint(c1), 0, 255)]}
    return image, mask, drawing, info


def build_objects(root: str | Path, split: str, count: int, seed: int = DEFAULT_SEED,
                  size: int = DEFAULT_SIZE, line_width: int = DEFAULT_LINE_WIDTH, name: str | None = None) -> Path:
    """Build ``<root>/<split>/``: ``count`` synthetic centred-object scenes with masks and line drawings.

    ``split`` is ``"objects-train"`` or ``"objects-heldout"``; they use disjoint
    shape families and background sources (``SPLIT_DESIGN``). Item ``i`` depends
    only on ``(seed, split, i, size, line_width)``, so the same arguments give
    byte-identical files, and a smaller ``count`` gives a prefix of a larger one.
    ``name`` builds such a prefix under another folder (e.g. ``objects-train-small``, the first scenes of
    ``objects-train``); it defaults to ``split``.

    Raises:
        DatasetError: unknown split, non-positive count, size below 64, line width outside 1..3,
            or a background photo missing from the scikit-image install.
    """
    if split not in SPLIT_DESIGN:
        raise DatasetError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_DESIGN)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DatasetError(f"count must be a positive whole number, got {count!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 64:
        raise DatasetError(f"size must be a whole number of at least 64 pixels, got {size!r}")
    if line_width not in (1, 2, 3):
        raise DatasetError(f"line_width must be 1, 2 or 3 pixels, got {line_width!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DatasetError(f"seed must be a non-negative whole number, got {seed!r}")

    design = SPLIT_DESIGN[split]
    photos = {}
    data_dir = skimage_data_dir()
    for source in design["background_sources"]:
        if source in BACKGROUND_PHOTOS:
            loader, files, _ = BACKGROUND_PHOTOS[source]
            if not all((data_dir / f).is_file() for f in files):
                raise DatasetError(
                    f"background photo {source} is not installed in {data_dir}; reinstall scikit-image from a wheel"
                )
            import skimage.data

            photos[source] = np.asarray(getattr(skimage.data, loader)())

    folder = Path(root) / (name or split)
    writer = SetWriter(folder)
    split_code = OBJECT_SPLITS.index(split)
    families = design["shape_families"]
    prefix = split.removeprefix("objects-")
    for i in range(count):
        # one generator per item, keyed by (seed, split, index): items do not depend on count
        rng = np.random.default_rng([seed, split_code, i])
        family = families[i % len(families)]  # cycling keeps small sets covering every family
        source = design["background_sources"][int(rng.integers(len(design["background_sources"])))]
        texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
        image, mask, drawing, info = render_scene(rng, family, source, texture, size, line_width, photos)
        writer.add(f"{prefix}-{i:04d}", image, mask, drawing, **info)

    other = next(s for s in OBJECT_SPLITS if s != split)
    bg_licences = {s: BACKGROUND_PHOTOS[s][2] for s in design["background_sources"] if s in BACKGROUND_PHOTOS}
    parameters = {"split": split, "count": count, "size": size, "line_width": line_width}
    if name and name != split:
        parameters["name"] = name
    return writer.finish({
        "name": name or split,
        "split": split,
        "source": f"Synthetic scenes drawn by {BUILD_FUNCTION}: one centred object on a background; "
                  "mask = the object's filled shape, drawing = its outline plus internal texture edges "
                  "(OpenCV, no antialiasing).",
        "licence": "Generated by this project. Background crops come from scikit-image sample photos: "
                   + "; ".join(f"{k}: {v}" for k, v in bg_licences.items()) + ".",
        "created_with": {
            "function": BUILD_FUNCTION,
            "parameters": parameters,
            "seed": seed,
            "versions": library_versions(),
        },
        "design": {
            "shape_families": list(design["shape_families"]),
            "background_sources": list(design["background_sources"]),
            "textures": list(TEXTURES),
            "optics_blur_sigma": OPTICS_BLUR_SIGMA,
            "disjoint_from": other,
            "note": f"No shape family or background source is shared with {other}; textures are shared.",
        },
    })


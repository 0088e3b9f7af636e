"""Test sets built by the project: real photos from scikit-image and synthetic object scenes with ground truth.

A test set is a folder ``<root>/<name>/`` holding::

    images/<id>.png     uint8 RGB
    masks/<id>.png      optional, uint8 gray, 255 = object, 0 = background, same size
    drawings/<id>.png   optional, uint8 gray ground-truth line drawing, 0 = ink, 255 = paper
    manifest.json       name, split, source, licence, created_with, design, files

``files`` lists ``{id, image, sha256, width, height}`` per item, plus
``mask``/``mask_sha256`` and ``drawing``/``drawing_sha256`` when present
(``sha256`` is the hash of the image file's bytes; paths are relative to the
set folder). Every file is written atomically and the manifest last, so a set
with a manifest is complete.

Three sets are built (``build_all``):

* ``photos``          - real photographs shipped inside scikit-image (no download).
* ``objects-train``   - synthetic centred objects; shape families and background sources "A"/"X".
* ``objects-heldout`` - same recipe with *disjoint* shape families and background sources "B"/"Y",
  so a checkpoint tuned on the first can be checked on shapes and backgrounds it never saw.

``make_pencil_drawing`` reproduces the original project's way of making Sketch
Net training targets from photos (a pencil sketch followed by a gamma step).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import DatasetError
from core.files import write_atomic

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
PHOTOS = "photos"
OBJECTS_TRAIN = "objects-train"
OBJECTS_HELDOUT = "objects-heldout"
OBJECT_SPLITS = (OBJECTS_TRAIN, OBJECTS_HELDOUT)
DEFAULT_TRAIN_COUNT = 24
DEFAULT_HELDOUT_COUNT = 24
DEFAULT_SIZE = 256
DEFAULT_SEED = 0
DEFAULT_LINE_WIDTH = 2
# PNG compression is lossless at every level; a fixed level keeps files byte-identical run to run
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


# --------------------------------------------------------------------------- loading and verifying


@dataclass(frozen=True)
class TestItem:
    """One entry of a test set: its id and the paths of its image and optional mask and drawing."""

    __test__ = False  # not a pytest test class despite the name

    id: str
    image: Path
    mask: Path | None = None
    drawing: Path | None = None


@dataclass
class TestSet:
    """A loaded test set: its name, folder, items in manifest order and the full manifest."""

    __test__ = False

    name: str
    folder: Path
    items: list[TestItem]
    manifest: dict = field(repr=False)

    @property
    def split(self) -> str:
        """Return the split named in the manifest (e.g. ``objects-heldout``)."""
        return str(self.manifest.get("split", self.name))

    def __len__(self) -> int:
        return len(self.items)


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: str | Path) -> dict:
    """Return the parsed ``manifest.json`` of a test set folder.

    Raises:
        DatasetError: the folder or manifest is missing, or the manifest is not valid JSON
            with a ``files`` list.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(
            f"{path} not found: {folder} is not a built test set (or its build was interrupted); "
            "build it with core.data.testsets.build_all(root)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path} is unreadable ({exc}); rebuild the set with build_all(root, force=True)") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DatasetError(f"{path} has no 'files' list; rebuild the set with build_all(root, force=True)")
    return manifest


def _entry_files(folder: Path, entry: Any) -> list[tuple[str, Path, str]]:
    """Return ``(relative path, absolute path, expected sha256)`` for every file of a manifest entry."""
    if not isinstance(entry, dict) or "id" not in entry or "image" not in entry:
        raise DatasetError(f"{folder / MANIFEST_NAME} has a malformed file entry {entry!r}; rebuild the set")
    out = []
    for key, hash_key in (("image", "sha256"), ("mask", "mask_sha256"), ("drawing", "drawing_sha256")):
        rel = entry.get(key)
        if rel is None:
            continue
        path = (folder / rel).resolve()
        # a manifest must not point outside its own folder (e.g. "../../etc/passwd")
        if not path.is_relative_to(folder.resolve()):
            raise DatasetError(f"{folder / MANIFEST_NAME} lists {rel!r}, which lies outside the set folder; rebuild the set")
        out.append((str(rel), path, str(entry.get(hash_key, ""))))
    return out


def verify(folder: str | Path) -> dict:
    """Check every file listed in a set's manifest exists and matches its SHA-256; return the manifest.

    Raises:
        DatasetError: naming the first missing or changed file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    for entry in manifest["files"]:
        for rel, path, expected in _entry_files(folder, entry):
            if not path.is_file():
                raise DatasetError(f"{folder / rel} is missing; rebuild the set with build_all(root, force=True)")
            actual = sha256_file(path)
            if actual != expected:
                raise DatasetError(
                    f"{folder / rel} does not match its manifest hash (expected {expected[:12]}..., "
                    f"got {actual[:12]}...): the file was changed or damaged; rebuild with build_all(root, force=True)"
                )
    return manifest


def load_test_set(folder: str | Path, check_hashes: bool = False) -> TestSet:
    """Load a test set folder into a ``TestSet``; files must exist, hashes are checked when ``check_hashes``.

    Raises:
        DatasetError: missing/invalid manifest, a listed file missing, or (with ``check_hashes``) a changed file.
    """
    folder = Path(folder)
    manifest = verify(folder) if check_hashes else read_manifest(folder)
    items = []
    for entry in manifest["files"]:
        for rel, path, _ in _entry_files(folder, entry):
            if not path.is_file():
                raise DatasetError(f"{folder / rel} is missing; rebuild the set with build_all(root, force=True)")
        items.append(
            TestItem(
                id=str(entry["id"]),
                image=(folder / entry["image"]),
                mask=(folder / entry["mask"]) if entry.get("mask") else None,
                drawing=(folder / entry["drawing"]) if entry.get("drawing") else None,
            )
        )
    return TestSet(name=str(manifest.get("name", folder.name)), folder=folder, items=items, manifest=manifest)


# --------------------------------------------------------------------------- writing


def _png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 gray ``HxW`` or RGB ``HxWx3`` array as PNG bytes."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(array), _PNG_PARAMS)
    if not ok:
        raise DatasetError("OpenCV could not encode a PNG; check the opencv-python-headless install")
    return buf.tobytes()


class _SetWriter:
    """Writes one test set folder: items atomically, stale files of the previous build removed, manifest last."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.entries: list[dict] = []
        self._old_files: set[Path] = set()
        manifest = folder / MANIFEST_NAME
        if manifest.is_file():
            try:
                old = read_manifest(folder)
                for entry in old["files"]:
                    self._old_files.update(p for _, p, _ in _entry_files(folder, entry))
            except DatasetError:
                pass  # a damaged old manifest only means its files cannot be tidied up
            # removed first: until the new manifest lands the set must not look complete
            manifest.unlink()

    def _write(self, sub: str, item_id: str, array: np.ndarray) -> tuple[str, str]:
        data = _png_bytes(array)
        rel = f"{sub}/{item_id}.png"
        write_atomic(self.folder / rel, data)
        return rel, hashlib.sha256(data).hexdigest()

    def add(self, item_id: str, image: np.ndarray, mask: np.ndarray | None = None,
            drawing: np.ndarray | None = None, **extra: Any) -> None:
        """Write one item's files and remember its manifest entry (``extra`` keys are copied into it)."""
        rel, digest = self._write("images", item_id, image)
        entry: dict[str, Any] = {"id": item_id, "image": rel, "sha256": digest,
                                 "width": int(image.shape[1]), "height": int(image.shape[0])}
        if mask is not None:
            entry["mask"], entry["mask_sha256"] = self._write("masks", item_id, mask)
        if drawing is not None:
            entry["drawing"], entry["drawing_sha256"] = self._write("drawings", item_id, drawing)
        entry.update(extra)
        self.entries.append(entry)

    def finish(self, header: dict) -> Path:
        """Remove files the previous build listed but this one did not, then write the manifest."""
        new_files = {(self.folder / e[k]).resolve() for e in self.entries for k in ("image", "mask", "drawing") if e.get(k)}
        for stale in self._old_files - new_files:
            stale.unlink(missing_ok=True)
        manifest = {"format_version": FORMAT_VERSION, **header, "files": self.entries}
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_atomic(self.folder / MANIFEST_NAME, text.encode("utf-8"))
        return self.folder


def _versions() -> dict:
    """Return the library versions that determine the exact bytes written (PNG encoder, RNG, resize)."""
    import skimage

    return {"numpy": np.__version__, "opencv": cv2.__version__, "scikit-image": skimage.__version__}


# --------------------------------------------------------------------------- real photos


@dataclass(frozen=True)
class _Photo:
    """A real photograph shipped with scikit-image, how to load it offline, and its licence as documented there."""

    id: str
    loader: str  # function name in skimage.data
    files: tuple[str, ...]  # files the loader reads from the installed skimage/data folder
    shape: tuple[int, int]  # (height, width)
    licence: str
    source: str
    pick: Callable[[Any], np.ndarray] = lambda x: x  # noqa: E731 - selects the image from the loader's result


# Licence notes summarise the docstrings of the skimage.data loader functions: the
# installed data/README.txt only explains how to download the full data set.
PHOTO_CATALOGUE: tuple[_Photo, ...] = (
    _Photo("astronaut", "astronaut", ("astronaut.png",), (512, 512),
           "Public domain: 'No known copyright restrictions, released into the public domain' (NASA).",
           "Eileen Collins, NASA Great Images database"),
    _Photo("chelsea", "chelsea", ("chelsea.png",), (300, 451),
           "CC0: 'No copyright restrictions. CC0 by the photographer (Stefan van der Walt)'.",
           "Chelsea the cat, Stefan van der Walt"),
    _Photo("coffee", "coffee", ("coffee.png",), (400, 600),
           "CC0: 'No copyright restrictions. CC0 by the photographer (Rachel Michetti)'.",
           "Coffee cup, courtesy of Pikolo Espresso Bar"),
    _Photo("rocket", "rocket", ("rocket.jpg",), (427, 640),
           "Public domain: captured by SpaceX and released into the public domain.",
           "Launch of DSCOVR on Falcon 9, SpaceX Photos (Flickr)"),
    _Photo("motorcycle_left", "stereo_motorcycle", ("motorcycle_left.png", "motorcycle_right.png", "motorcycle_disp.npz"),
           (500, 741),
           "No licence stated by scikit-image; from the Middlebury 2014 stereo benchmark "
           "(Scharstein et al., GCPR 2014), cite it when publishing results.",
           "Middlebury 2014 stereo data set, left view, downsampled 4x", pick=lambda r: r[0]),
    _Photo("camera", "camera", ("camera.png",), (512, 512),
           "CC0: 'No copyright restrictions. CC0 by the photographer (Lav Varshney)'. Grayscale, stored as gray RGB.",
           "Camera man photograph (replaced in skimage 0.18), Lav Varshney"),
    _Photo("coins", "coins", ("coins.png",), (303, 384),
           "'No known copyright restrictions' (Brooklyn Museum collection). Grayscale, stored as gray RGB.",
           "Greek coins from Pompeii, Brooklyn Museum"),
    _Photo("clock", "clock", ("clock_motion.png",), (300, 400),
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


def _skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def _load_photo(photo: _Photo) -> np.ndarray | None:
    """Return a catalogue photo as uint8 RGB, or None when its files are not installed (nothing is downloaded)."""
    import skimage.data

    data_dir = _skimage_data_dir()
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
    writer = _SetWriter(folder)
    licences, skipped = {}, {}
    for photo in PHOTO_CATALOGUE:
        image = _load_photo(photo)
        if image is None:
            skipped[photo.id] = "not installed locally (would need a download)"
            continue
        writer.add(photo.id, image, licence=photo.licence, source=photo.source,
                   skimage_loader=f"skimage.data.{photo.loader}")
        licences[photo.id] = photo.licence
    if not writer.entries:
        raise DatasetError(
            f"none of the scikit-image sample photos is installed in {_skimage_data_dir()}; "
            "reinstall scikit-image from a wheel (it ships them)"
        )
    return writer.finish({
        "name": PHOTOS,
        "split": PHOTOS,
        "source": "Real photographs shipped inside the scikit-image package (skimage.data), loaded offline.",
        "licence": "Per image, as stated in the skimage.data docstrings (see each file's 'licence'): "
                   "public domain or CC0 except where noted.",
        "licences": licences,
        "created_with": {"function": "core.data.testsets.build_photos",
                         "parameters": {"ids": [p.id for p in PHOTO_CATALOGUE]},
                         "seed": None, "versions": _versions()},
        "excluded": PHOTO_EXCLUDED,
        "skipped": skipped,
    })


# --------------------------------------------------------------------------- synthetic object scenes
#
# Each shape function returns a closed polygon (N x 2 float, x/y) around the origin
# with a typical radius R; the renderer rotates it, moves its centroid to the image
# centre and shrinks it if it would leave the frame.


def _shape_ellipse(rng: np.random.Generator, r: float) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    return np.stack([r * np.cos(t), r * rng.uniform(0.5, 0.95) * np.sin(t)], axis=1)


def _shape_rounded_rectangle(rng: np.random.Generator, r: float) -> np.ndarray:
    w, h = r * rng.uniform(0.75, 1.0), r * rng.uniform(0.45, 0.8)
    c = min(w, h) * rng.uniform(0.15, 0.5)
    pts = []
    for cx, cy, start in ((w - c, h - c, 0.0), (-(w - c), h - c, 0.5), (-(w - c), -(h - c), 1.0), (w - c, -(h - c), 1.5)):
        t = np.linspace(start * np.pi, (start + 0.5) * np.pi, 12)
        pts.append(np.stack([cx + c * np.cos(t), cy + c * np.sin(t)], axis=1))
    return np.concatenate(pts)


def _shape_star(rng: np.random.Generator, r: float) -> np.ndarray:
    n = int(rng.integers(5, 9))
    inner = rng.uniform(0.4, 0.6)
    t = np.arange(2 * n) * np.pi / n
    radius = np.where(np.arange(2 * n) % 2 == 0, r, r * inner)
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _shape_polygon(rng: np.random.Generator, r: float) -> np.ndarray:
    n = int(rng.integers(3, 9))
    # jittered angles and radii keep it convex-ish but not regular
    t = (np.arange(n) + rng.uniform(-0.2, 0.2, n)) * 2 * np.pi / n
    radius = r * rng.uniform(0.85, 1.0, n)
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _shape_heart(rng: np.random.Generator, r: float) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    s = r / 16.0
    return np.stack([x * s * rng.uniform(0.85, 1.1), y * s], axis=1)


def _shape_fourier_blob(rng: np.random.Generator, r: float) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    k = np.arange(2, 6)
    amp = rng.uniform(0.0, 1.0, k.size) / k
    amp *= rng.uniform(0.2, 0.4) / amp.sum()  # sum of amplitudes < 0.4 keeps the radius positive
    phase = rng.uniform(0, 2 * np.pi, k.size)
    radius = r * (1 + (amp[:, None] * np.cos(k[:, None] * t + phase[:, None])).sum(axis=0))
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _shape_cross(rng: np.random.Generator, r: float) -> np.ndarray:
    a = r * rng.uniform(0.2, 0.38)  # half arm width
    b = r * rng.uniform(0.8, 1.0)  # arm reach
    return np.array([[a, a], [b, a], [b, -a], [a, -a], [a, -b], [-a, -b],
                     [-a, -a], [-b, -a], [-b, a], [-a, a], [-a, b], [a, b]], dtype=float)


def _shape_crescent(rng: np.random.Generator, r: float) -> np.ndarray:
    r2, d = r * rng.uniform(0.72, 0.9), r * rng.uniform(0.4, 0.6)
    # the outer circle (centre 0) minus an inner one (centre d, 0); their crossing points bound both arcs
    x = (r * r - r2 * r2 + d * d) / (2 * d)
    y = math.sqrt(max(r * r - x * x, 0.0))
    alpha, beta = math.atan2(y, x), math.atan2(y, x - d)
    t_out = np.linspace(alpha, 2 * np.pi - alpha, 120)
    t_in = np.linspace(2 * np.pi - beta, beta, 90)
    outer = np.stack([r * np.cos(t_out), r * np.sin(t_out)], axis=1)
    inner = np.stack([d + r2 * np.cos(t_in), r2 * np.sin(t_in)], axis=1)
    return np.concatenate([outer, inner])


SHAPE_FAMILIES: dict[str, Callable[[np.random.Generator, float], np.ndarray]] = {
    "ellipse": _shape_ellipse,
    "rounded_rectangle": _shape_rounded_rectangle,
    "star": _shape_star,
    "polygon": _shape_polygon,
    "heart": _shape_heart,
    "fourier_blob": _shape_fourier_blob,
    "cross": _shape_cross,
    "crescent": _shape_crescent,
}

TEXTURES = ("flat", "stripes", "noise", "gradient", "inset")
OPTICS_BLUR_SIGMA = 0.6  # Gaussian sigma applied to each rendered scene (see _render_object)

# skimage images used for background crops; gray textures are tinted at render time
_BACKGROUND_PHOTOS = {
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
    return rng.integers(0, 256, 3).astype(np.float32)


def _linear_ramp(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return an ``HxW`` float ramp 0..1 along a random direction."""
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = xx * math.cos(theta) + yy * math.sin(theta)
    return (u - u.min()) / max(float(u.max() - u.min()), 1e-6)


def _blend(ramp: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
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


def _render_object(rng: np.random.Generator, family: str, source: str, texture: str, size: int,
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
                  size: int = DEFAULT_SIZE, line_width: int = DEFAULT_LINE_WIDTH) -> Path:
    """Build ``<root>/<split>/``: ``count`` synthetic centred-object scenes with masks and line drawings.

    ``split`` is ``"objects-train"`` or ``"objects-heldout"``; they use disjoint
    shape families and background sources (``SPLIT_DESIGN``). Item ``i`` depends
    only on ``(seed, split, i, size, line_width)``, so the same arguments give
    byte-identical files, and a smaller ``count`` gives a prefix of a larger one.

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
    data_dir = _skimage_data_dir()
    for source in design["background_sources"]:
        if source in _BACKGROUND_PHOTOS:
            loader, files, _ = _BACKGROUND_PHOTOS[source]
            if not all((data_dir / f).is_file() for f in files):
                raise DatasetError(
                    f"background photo {source} is not installed in {data_dir}; reinstall scikit-image from a wheel"
                )
            import skimage.data

            photos[source] = np.asarray(getattr(skimage.data, loader)())

    folder = Path(root) / split
    writer = _SetWriter(folder)
    split_code = OBJECT_SPLITS.index(split)
    families = design["shape_families"]
    prefix = split.removeprefix("objects-")
    for i in range(count):
        # one generator per item, keyed by (seed, split, index): items do not depend on count
        rng = np.random.default_rng([seed, split_code, i])
        family = families[i % len(families)]  # cycling keeps small sets covering every family
        source = design["background_sources"][int(rng.integers(len(design["background_sources"])))]
        texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
        image, mask, drawing, info = _render_object(rng, family, source, texture, size, line_width, photos)
        writer.add(f"{prefix}-{i:04d}", image, mask, drawing, **info)

    other = next(s for s in OBJECT_SPLITS if s != split)
    bg_licences = {s: _BACKGROUND_PHOTOS[s][2] for s in design["background_sources"] if s in _BACKGROUND_PHOTOS}
    return writer.finish({
        "name": split,
        "split": split,
        "source": "Synthetic scenes drawn by core.data.testsets.build_objects: one centred object on a background; "
                  "mask = the object's filled shape, drawing = its outline plus internal texture edges "
                  "(OpenCV, no antialiasing).",
        "licence": "Generated by this project. Background crops come from scikit-image sample photos: "
                   + "; ".join(f"{k}: {v}" for k, v in bg_licences.items()) + ".",
        "created_with": {
            "function": "core.data.testsets.build_objects",
            "parameters": {"split": split, "count": count, "size": size, "line_width": line_width},
            "seed": seed,
            "versions": _versions(),
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


# --------------------------------------------------------------------------- all sets


def _up_to_date(folder: Path, function: str, parameters: dict, seed: Any) -> bool:
    """Return True when the set's manifest records the same build request and every file matches its hash."""
    try:
        manifest = verify(folder)
    except DatasetError:
        return False
    made = manifest.get("created_with", {})
    return made.get("function") == function and made.get("parameters") == parameters and made.get("seed") == seed


def build_all(root: str | Path, train_count: int = DEFAULT_TRAIN_COUNT, heldout_count: int = DEFAULT_HELDOUT_COUNT,
              seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE, line_width: int = DEFAULT_LINE_WIDTH,
              force: bool = False) -> dict[str, Path]:
    """Build the photos, objects-train and objects-heldout sets under ``root``; return ``{name: folder}``.

    A set is skipped when its manifest records the same build parameters and all
    its files match their hashes, unless ``force``. The defaults (24 + 24 scenes
    at 256 px) take a few seconds on a 2-core CPU.
    """
    root = Path(root)
    out: dict[str, Path] = {}
    photos_params = {"ids": [p.id for p in PHOTO_CATALOGUE]}
    if force or not _up_to_date(root / PHOTOS, "core.data.testsets.build_photos", photos_params, None):
        out[PHOTOS] = build_photos(root)
    else:
        out[PHOTOS] = root / PHOTOS
    for split, count in ((OBJECTS_TRAIN, train_count), (OBJECTS_HELDOUT, heldout_count)):
        params = {"split": split, "count": count, "size": size, "line_width": line_width}
        if force or not _up_to_date(root / split, "core.data.testsets.build_objects", params, seed):
            out[split] = build_objects(root, split, count, seed=seed, size=size, line_width=line_width)
        else:
            out[split] = root / split
    return out


# --------------------------------------------------------------------------- training targets


def make_pencil_drawing(rgb: np.ndarray, blur_sigma: float = 5.0, gamma: float = 2.0) -> np.ndarray:
    """Turn a uint8 RGB photo into a uint8 gray pencil drawing (0 = ink), as the original made Sketch Net targets.

    The original project made its training targets "by image processing with a
    gamma step". This is the classic pencil sketch followed by that step:

    1. gray = luminance of the photo;
    2. blurred = Gaussian blur (``blur_sigma``) of the inverted gray;
    3. colour dodge: sketch = gray * 255 / (255 - blurred), clipped to 255 —
       flat areas go to white, only places where the pixel is darker than its
       surroundings (edges, lines) keep ink;
    4. gamma step: out = 255 * (sketch / 255) ** gamma; ``gamma > 1`` darkens the
       faint dodge lines into visible strokes while paper stays 255.

    Raises:
        DatasetError: the input is not uint8 ``HxWx3`` (or ``HxW``), or a parameter is not positive.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise DatasetError(f"make_pencil_drawing needs a uint8 HxWx3 RGB image, got {rgb.dtype} {rgb.shape}")
    if not (blur_sigma > 0) or not (gamma > 0):
        raise DatasetError(f"blur_sigma and gamma must be positive, got blur_sigma={blur_sigma!r}, gamma={gamma!r}")
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32)
    blurred = cv2.GaussianBlur(255.0 - gray, (0, 0), float(blur_sigma))
    # colour dodge; the floor on the divisor keeps white-on-white at 255 instead of dividing by zero
    dodge = np.minimum(gray * 255.0 / np.maximum(255.0 - blurred, 1.0), 255.0)
    out = 255.0 * (dodge / 255.0) ** float(gamma)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

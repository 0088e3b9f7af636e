"""Augmented views of a few photos: random crops, scales, rotations, flips, colour jitter and generated textures.

Every function takes its randomness from a ``numpy`` Generator passed in, so
a training set built from them is byte-identical for the same seed; each view
returns the parameters it drew, which the set's manifest records per item.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["GENERATED_TEXTURES", "composite", "jitter_colour", "make_texture", "random_view"]

# Backgrounds made from nothing but the generator. "noise" is not among them: blurred
# noise is a background source of objects-heldout, kept unseen by every training set.
GENERATED_TEXTURES = ("plain", "gradient", "stripes", "checker", "waves")


def random_view(rng: np.random.Generator, image: np.ndarray, side: int, mask: np.ndarray | None = None, *,
                scale: tuple[float, float] = (0.5, 1.2), max_angle: float = 20.0,
                centre_jitter: float | None = None) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Cut a ``side x side`` view of ``image`` (and its mask) at a random scale, angle, position and mirror.

    ``scale`` is the view's size relative to the image's shorter side (a view
    of 0.5 shows half of it, magnified). Borders a rotation brings in are
    mirrored, so no flat frame appears. With ``centre_jitter`` the view stays
    centred on the image centre up to that fraction of the view; otherwise its
    centre is anywhere the view fits.

    Returns:
        (uint8 RGB view, uint8 mask view or None, the parameters drawn).
    """
    h, w = image.shape[:2]
    extent = float(rng.uniform(*scale)) * min(h, w)  # view size in image pixels
    angle = float(rng.uniform(-max_angle, max_angle))
    flip = bool(rng.random() < 0.5)
    if centre_jitter is None:
        half = min(extent / 2, min(h, w) / 2)
        cx = float(rng.uniform(half, max(half, w - half)))
        cy = float(rng.uniform(half, max(half, h - half)))
    else:
        cx = (w - 1) / 2 + float(rng.uniform(-centre_jitter, centre_jitter)) * extent
        cy = (h - 1) / 2 + float(rng.uniform(-centre_jitter, centre_jitter)) * extent
    zoom = side / extent
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
    m[:, 2] += np.array([(side - 1) / 2 - cx, (side - 1) / 2 - cy])
    # INTER_AREA is not available for warps; blur first when shrinking so fine texture does not alias
    src = image if zoom >= 0.75 else cv2.GaussianBlur(image, (0, 0), 0.4 / zoom)
    view = cv2.warpAffine(src, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mview = None
    if mask is not None:
        mview = cv2.warpAffine(mask, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        mview = np.where(mview > 127, 255, 0).astype(np.uint8)
    if flip:
        view = view[:, ::-1]
        mview = None if mview is None else mview[:, ::-1]
    params = {"centre": [round(cx, 1), round(cy, 1)], "extent": round(extent, 1), "angle": round(angle, 2),
              "flip": flip}
    return np.ascontiguousarray(view), None if mview is None else np.ascontiguousarray(mview), params


def jitter_colour(rng: np.random.Generator, image: np.ndarray, strength: float = 1.0) -> tuple[np.ndarray, dict]:
    """Randomly change brightness, contrast, saturation and the colour balance; return the image and the draws."""
    img = image.astype(np.float32)
    brightness = float(rng.uniform(-30, 30)) * strength
    contrast = float(np.exp(rng.uniform(-0.35, 0.35) * strength))
    saturation = float(np.exp(rng.uniform(-0.6, 0.5) * strength))
    balance = np.exp(rng.uniform(-0.15, 0.15, 3) * strength).astype(np.float32)
    gray = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = gray[:, :, None] + (img - gray[:, :, None]) * saturation
    img = img * balance
    img = (img - 128.0) * contrast + 128.0 + brightness
    params = {"brightness": round(brightness, 2), "contrast": round(contrast, 3), "saturation": round(saturation, 3),
              "balance": [round(float(b), 3) for b in balance]}
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), params


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random float32 RGB colour."""
    return rng.integers(0, 256, 3).astype(np.float32)


def make_texture(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A generated ``side x side`` uint8 RGB background of one of :data:`GENERATED_TEXTURES`."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    theta = float(rng.uniform(0, math.pi))
    u = xx * math.cos(theta) + yy * math.sin(theta)
    c1, c2 = _colour(rng), _colour(rng)
    if kind == "plain":
        out = np.broadcast_to(c1, (side, side, 3))
    elif kind == "gradient":
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
        out = t[:, :, None] * c2 + (1 - t[:, :, None]) * c1
    elif kind == "stripes":
        band = (np.floor(u / (side * rng.uniform(0.03, 0.12))) % 2).astype(bool)
        out = np.where(band[:, :, None], c2, c1)
    elif kind == "checker":
        cell = side * float(rng.uniform(0.05, 0.2))
        v = -xx * math.sin(theta) + yy * math.cos(theta)
        band = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(bool)
        out = np.where(band[:, :, None], c2, c1)
    elif kind == "waves":
        t = 0.5 + 0.5 * np.sin(u / (side * rng.uniform(0.02, 0.08)) + np.sin(yy / side * rng.uniform(2, 8)))
        out = t[:, :, None] * c2 + (1 - t[:, :, None]) * c1
    else:
        raise ValueError(f"unknown texture {kind!r}; choose one of {GENERATED_TEXTURES}")
    # a slight optical blur, as a camera would give
    out = cv2.GaussianBlur(np.ascontiguousarray(out, np.float32), (0, 0), 0.7)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def composite(rng: np.random.Generator, obj: np.ndarray, mask: np.ndarray, background: np.ndarray, *,
              size: tuple[float, float] = (0.45, 0.8), centre_jitter: float = 0.08,
              max_angle: float = 15.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Paste the masked object of ``obj`` near the centre of ``background`` at a random size and angle.

    ``size`` bounds the longer side of the object's bounding box as a fraction
    of the background's side. The edge of the cut-out is feathered by one
    pixel so it looks photographed rather than stamped.

    Returns:
        (uint8 RGB composite, uint8 0/255 mask of the pasted object, the parameters drawn).
    """
    side = background.shape[0]
    ys, xs = np.nonzero(mask > 127)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    box = max(x1 - x0, y1 - y0)
    target = float(rng.uniform(*size)) * side
    zoom = target / box
    angle = float(rng.uniform(-max_angle, max_angle))
    flip = bool(rng.random() < 0.5)
    ox, oy = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2
    dx, dy = (float(v) * side for v in rng.uniform(-centre_jitter, centre_jitter, 2))
    m = cv2.getRotationMatrix2D((float(ox), float(oy)), angle, zoom)
    m[:, 2] += np.array([(side - 1) / 2 + dx - ox, (side - 1) / 2 + dy - oy])
    src = obj if zoom >= 0.75 else cv2.GaussianBlur(obj, (0, 0), 0.4 / zoom)
    moved = cv2.warpAffine(src, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    alpha = cv2.warpAffine(mask.astype(np.float32) / 255, m, (side, side), flags=cv2.INTER_LINEAR)
    if flip:
        moved, alpha = moved[:, ::-1], alpha[:, ::-1]
    hard = np.where(alpha > 0.5, 255, 0).astype(np.uint8)
    soft = cv2.GaussianBlur((hard > 0).astype(np.float32), (0, 0), 0.8)[:, :, None]
    out = soft * moved.astype(np.float32) + (1 - soft) * background.astype(np.float32)
    params = {"object_size": round(target / side, 3), "angle": round(angle, 2), "offset": [round(dx, 1), round(dy, 1)],
              "flip": flip}
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), np.ascontiguousarray(hard), params
